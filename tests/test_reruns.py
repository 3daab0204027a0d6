"""What a rerun means (docs/reruns.md): values and the code a job runs decide it,
nothing cosmetic does.

Unit tests of ``pags.provenance``, then dry runs against the finished tiny run
(``tiny_run``, conftest.py): a config rewritten without changing a value, and copies of
the workflow with its code edited, each asserting the exact set of jobs planned.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from pags import stale
from pags.provenance import canonical, code_modules, code_version, normalised_source, schema_values
from pags.schema import config_schema
from workflow_helpers import (
    DRY_RUN_TIMEOUT,
    REPO,
    copy_workflow,
    describe,
    nothing_to_be_done,
    planned_job_blocks,
    planned_jobs,
    provenance_triggered_rules,
    run_command,
    run_snakemake,
    updated_config,
    write_config,
)

# ---- normalised source and code versions ---------------------------------------

ORIGINAL = '''
"""Module docstring."""
import torch


def loss(x, y):
    """Docstring."""
    return torch.nn.functional.cross_entropy(x, y)
'''

COSMETIC = '''
"""Another module docstring, longer,
over two lines."""
import torch  # the one import


def loss(x,
         y):
    # a comment
    """Another docstring."""

    return torch.nn.functional.cross_entropy(
        x, y
    )
'''

SEMANTIC = ORIGINAL.replace("cross_entropy(x, y)", "cross_entropy(x, y, label_smoothing=0.1)")


def test_comments_docstrings_and_formatting_do_not_change_the_normalised_source():
    assert normalised_source(COSMETIC) == normalised_source(ORIGINAL)


def test_a_change_of_what_code_does_changes_the_normalised_source():
    assert normalised_source(SEMANTIC) != normalised_source(ORIGINAL)
    # a string that is not a docstring is code (a log message, a key)
    assert normalised_source(ORIGINAL.replace('"""Docstring."""', 'name = "Docstring."')) != normalised_source(ORIGINAL)


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root / "pags"


@pytest.fixture
def package(tmp_path) -> tuple[Path, Path]:
    """A fabricated ``pags`` with absolute, relative, nested and function-level imports."""
    package_dir = write_package(
        tmp_path,
        {
            "pags/__init__.py": '"""Package."""\n',
            "pags/runtime.py": "import logging\n",
            "pags/a.py": "from .b import f\nfrom . import c\n",
            "pags/b.py": "def f():\n    from .sub.d import g\n    return g()\n",
            "pags/c.py": "X = 1\n",
            "pags/sub/__init__.py": "",
            "pags/sub/d.py": "from ..c import X\ndef g():\n    return X\n",
            "pags/unused.py": "Y = 2\n",
            "scripts/job.py": "from pags.a import f\nfrom pags.runtime import logging\nimport torch\n",
        },
    )
    return package_dir, tmp_path / "scripts" / "job.py"


def test_code_modules_follow_imports_transitively(package):
    package_dir, script = package
    assert list(code_modules(script, package_dir)) == [
        "pags",
        "pags.a",
        "pags.b",
        "pags.c",
        "pags.runtime",
        "pags.sub",
        "pags.sub.d",
    ]


def test_modules_imported_by_name_count_when_given(package):
    package_dir, script = package
    assert "pags.unused" not in code_modules(script, package_dir)
    before = code_version(script, package_dir, extra=["pags.unused"])
    (package_dir / "unused.py").write_text("Y = 3\n")
    assert code_version(script, package_dir, extra=["pags.unused"]) != before


def test_code_version_changes_with_an_imported_module_only(package):
    package_dir, script = package
    before = code_version(script, package_dir)
    (package_dir / "unused.py").write_text("Y = 3\n")
    (package_dir / "runtime.py").write_text("import logging\nlogging.info('reporting only')\n")
    (package_dir / "sub" / "d.py").write_text("from ..c import X  # why\ndef g():\n    '''Doc.'''\n    return X\n")
    assert code_version(script, package_dir) == before
    (package_dir / "sub" / "d.py").write_text("from ..c import X\ndef g():\n    return X + 1\n")
    assert code_version(script, package_dir) != before


@pytest.mark.parametrize(
    "script",
    [
        "base_dataset.py",
        "distractor_dataset.py",
        "synthetic_dataset.py",
        "pretrained_images.py",
        "test_images.py",
        "train_autoencoder.py",
        "tangent_spaces.py",
        "train_denoiser.py",
        "score.py",
    ],
)
def test_the_jobs_before_any_model_run_no_objectives_code(script):
    """A script that imports the objectives' registry covers the modules of every objective
    the config uses (common.smk's ``script_code``): adding an objective would rerun it and
    everything after it. The data, images, tangent spaces and scores use no objective."""
    assert "pags.objectives" not in code_modules(REPO / "workflow" / "scripts" / script)


def test_every_rule_that_runs_a_script_has_its_code_param():
    """A rule without it would not rerun when its package code changes. Rules defined in
    a loop (``rule:`` with a ``name:``, e.g. one per gallery) are checked too."""
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"\n *rule\b", smk.read_text())[1:]:
            name = block.split(":", 1)[0].strip() or block.split("name:", 1)[1].split()[0]
            if "    script:" not in block:
                continue
            script = block.split("    script:")[1].split('"')[1].rsplit("/", 1)[1]
            assert re.search(rf'code=(lambda w: )?(script|wildcard)_code\("{script}"', block), (
                f"rule {name} in {smk.name} lacks its code param"
            )


# ---- canonical values -------------------------------------------------------------

SCHEMA = config_schema()


def test_canonical_sorts_keys_recursively_and_keeps_list_order():
    a = {"b": {"y": 1, "x": [3, {"q": 1, "p": 2}]}, "a": (1, 2)}
    b = {"a": [1, 2], "b": {"x": [3, {"p": 2, "q": 1}], "y": 1}}
    assert repr(canonical(a)) == repr(canonical(b))
    assert canonical([2, 1]) == [2, 1]


def test_schema_values_follows_the_schema():
    config = {
        "distractor": {
            "training": {"lr": 1, "epochs": 9, "weight_decay": 0, "milestones": [3, 6], "amp": True},
            "objectives": {
                "standard": {"grid": [0]},
                "pgd": {"grid": {"logspace": [-1, 1, 3]}, "steps": 10, "step_size": 1},
            },
            "seeds": [0, 1],
        },
    }
    out = schema_values(config, SCHEMA)
    training, objectives = out["distractor"]["training"], out["distractor"]["objectives"]
    assert type(training["lr"]) is float and training["lr"] == 1.0
    assert type(training["epochs"]) is int and training["milestones"] == [3, 6]
    assert all(type(m) is int for m in training["milestones"]) and training["amp"] is True
    assert type(objectives["standard"]["grid"][0]) is float  # a strength is a number
    assert objectives["pgd"]["grid"] == {"logspace": [-1, 1, 3]}  # num of logspace stays an integer
    assert type(objectives["pgd"]["grid"]["logspace"][2]) is int
    assert type(objectives["pgd"]["steps"]) is int and type(objectives["pgd"]["step_size"]) is float
    assert all(type(s) is int for s in out["distractor"]["seeds"])


def test_milestones_are_a_set_and_seeds_a_list():
    """Milestones [8, 6] are the schedule of [6, 8]: one value. Seeds keep their order
    (the first is the one the galleries show)."""
    config = {"distractor": {"training": {"epochs": 9, "milestones": [8, 6]}, "seeds": [1, 0]}}
    out = schema_values(config, SCHEMA)
    assert out["distractor"]["training"]["milestones"] == [6, 8]
    assert out["distractor"]["seeds"] == [1, 0]


@pytest.mark.slow
def test_amp_on_a_cpu_run_reruns_nothing(tiny_run):
    """``training.amp`` has no effect where jobs ask for no GPU (the tiny run's): switching
    it on retrains nothing."""
    config = yaml.safe_load(yaml.safe_dump(tiny_run.config))
    assert config["distractor"]["training"]["amp"] is False
    config["distractor"]["training"]["amp"] = True
    path = tiny_run.directory / "amp.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = run_snakemake(tiny_run.workdir, path, "-n")
    assert proc.returncode == 0, describe(proc)
    assert planned_jobs(proc) == {} and nothing_to_be_done(proc), describe(proc)


# ---- the workflow: cosmetic config edits rerun nothing ------------------------------


class _CosmeticDumper(yaml.SafeDumper):
    """Writes every list in flow style and every float in exponent notation."""


_CosmeticDumper.add_representer(float, lambda d, v: d.represent_scalar("tag:yaml.org,2002:float", f"{v:.6e}"))


def reversed_keys(value):
    if isinstance(value, dict):
        return {k: reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_keys(v) for v in value]
    return value


def integers_as_floats(value):
    """Integral floats written as integers where the schema says number: `lr: 1` style."""
    if isinstance(value, dict):
        return {k: integers_as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integers_as_floats(v) for v in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value


@pytest.mark.slow
def test_a_config_rewritten_without_changing_a_value_reruns_nothing(tiny_run):
    """Key order reversed everywhere, floats as 1.000000e-01, integral floats as
    integers, every list in flow style: the same values, so nothing to be done."""
    config = integers_as_floats(reversed_keys(tiny_run.config))
    text = yaml.dump(config, Dumper=_CosmeticDumper, sort_keys=False, default_flow_style=True)
    assert text != yaml.safe_dump(tiny_run.config, sort_keys=False)
    assert yaml.safe_load(text) == config
    path = tiny_run.directory / "cosmetic.yaml"
    path.write_text(text)
    proc = run_snakemake(tiny_run.workdir, path, "-n")
    assert proc.returncode == 0, describe(proc)
    assert planned_jobs(proc) == {} and nothing_to_be_done(proc), describe(proc)


# ---- the workflow: code edits rerun exactly the jobs that run the edited code --------


def edited_copy(destination: Path, edits: dict[str, tuple[str, str]]) -> Path:
    """A copy of the workflow with ``edits`` ({file: (old, new)}) applied; every file of
    the copy gets a new modification time, as after a checkout."""
    snakefile = copy_workflow(destination)
    for name, (old, new) in edits.items():
        path = destination / name
        text = path.read_text()
        assert old in text, f"{old!r} is not in {name}: update the test's edit"
        path.write_text(text.replace(old, new, 1))
    for path in destination.rglob("*"):
        os.utime(path)
    return snakefile


_DOWNSTREAM_OF_ONE_MODEL = {
    "noise_robustness": 1,
    "noise_robustness_table": 1,
    "fig_noise_robustness": 1,
    "fig_distractor": 1,
    "claims": 1,
    "all": 1,
}

CODE_EDITS = [
    pytest.param(
        {
            "workflow/pags/objectives/standard.py": (
                "return F.cross_entropy(model(x), y)\n",
                "return F.cross_entropy(model(x), y, label_smoothing=0.1)\n",
            )
        },
        (),
        {"train_model": 1, **_DOWNSTREAM_OF_ONE_MODEL},
        {"train_model"},
        id="objective-code-retrains-that-objectives-models-only",
    ),
    pytest.param(
        {"workflow/pags/figures/noise_robustness.py": ("alpha=0.2", "alpha=0.3")},
        (),
        {"fig_noise_robustness": 1, "all": 1},
        {"fig_noise_robustness"},
        id="figure-module-reruns-its-figure-only",
    ),
    pytest.param(
        {
            "workflow/scripts/noise_robustness.py": (
                "torch.set_num_threads(snakemake.threads)",
                "torch.set_num_threads(max(1, snakemake.threads))",
            )
        },
        (),
        {"noise_robustness": 2, "noise_robustness_table": 1, "fig_noise_robustness": 1, "claims": 1, "all": 1},
        {"noise_robustness"},
        id="script-reruns-its-rule",
    ),
    pytest.param(
        {
            "workflow/pags/objectives/standard.py": (
                '    """Plain cross-entropy: the unrobust baseline."""\n',
                '    """The unrobust baseline,\n    plain cross-entropy."""\n\n    # why: the reference every robust objective is compared with\n',
            ),
            "workflow/scripts/train_model.py": ("import torch\n", "import torch  # models are torch modules\n\n\n"),
            "workflow/pags/train.py": ("import torch\n", "import torch\n\n# a comment\n"),
            "workflow/pags/runtime.py": (
                'log = logging.getLogger("pags")',
                'log = logging.getLogger("pags")\nlog.debug("reporting only")',
            ),
        },
        (),
        {},
        set(),
        id="comments-docstrings-formatting-and-reporting-rerun-nothing",
    ),
    pytest.param(
        {
            "workflow/pags/objectives/standard.py": (
                "return F.cross_entropy(model(x), y)\n",
                "return F.cross_entropy(model(x), y, label_smoothing=0.1)\n",
            )
        },
        ("--rerun-triggers", "mtime", "input", "software-env"),
        {},
        set(),
        id="the-user-can-leave-code-out",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("edits, flags, expected_jobs, triggered", CODE_EDITS)
def test_a_code_edit_reruns_exactly_the_jobs_that_run_it(tiny_run, tmp_path, edits, flags, expected_jobs, triggered):
    snakefile = edited_copy(tmp_path / "workflow_copy", edits)
    proc = run_snakemake(tiny_run.workdir, tiny_run.configfile, "-n", *flags, snakefile=snakefile)
    assert proc.returncode == 0, describe(proc)
    assert planned_jobs(proc) == expected_jobs, describe(proc)
    assert provenance_triggered_rules(proc) == triggered, describe(proc)
    if not expected_jobs:
        assert nothing_to_be_done(proc), describe(proc)
    if "train_model" in triggered:
        assert all("code" in job["reason"] for job in planned_job_blocks(proc) if job["rule"] == "train_model")


# ---- the workflow: a convention option reruns only what it changes -------------------

CONVENTION_EDITS = [
    pytest.param(
        {"distractor.objectives.pgd.clamp_pixels": False},
        {"train_model": 1, **_DOWNSTREAM_OF_ONE_MODEL},
        {"train_model"},
        {"pgd"},
        id="the-attacks-pixel-box-retrains-the-pgd-model-only",
    ),
    pytest.param(
        {"distractor.noise_robustness.shared_noise": False},
        {"noise_robustness": 2, "noise_robustness_table": 1, "fig_noise_robustness": 1, "claims": 1, "all": 1},
        {"noise_robustness"},
        set(),
        id="fig5s-noise-draws-rerun-its-metric-not-training",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("edits, expected_jobs, triggered, retrained", CONVENTION_EDITS)
def test_a_convention_option_reruns_only_what_it_changes(tiny_run, request, edits, expected_jobs, triggered, retrained):
    """The options of docs/conventions.md are values like any other: switched, they rerun
    the jobs whose params they enter, what those feed, and nothing else."""
    proc = tiny_run.dry_run_with(request.node.callspec.id, edits)
    assert proc.returncode == 0, describe(proc)
    assert planned_jobs(proc) == expected_jobs, describe(proc)
    assert provenance_triggered_rules(proc) == triggered, describe(proc)
    jobs = planned_job_blocks(proc)
    assert {job["wildcards"]["objective"] for job in jobs if job["rule"] == "train_model"} == retrained


@pytest.mark.slow
def test_touch_accepts_a_code_change_without_rerunning(tiny_run, tmp_path):
    """``--touch`` after a code edit the user knows changes no result: afterwards the
    dry run has nothing to do. Runs on a copy of the finished directory."""
    workdir = tmp_path / "work"
    shutil.copytree(tiny_run.workdir, workdir, symlinks=True)
    edit = {"workflow/pags/figures/noise_robustness.py": ("alpha=0.2", "alpha=0.3")}
    snakefile = edited_copy(tmp_path / "workflow_copy", edit)
    touched = run_snakemake(workdir, tiny_run.configfile, "--touch", snakefile=snakefile)
    assert touched.returncode == 0, describe(touched)
    proc = run_snakemake(workdir, tiny_run.configfile, "-n", snakefile=snakefile)
    assert planned_jobs(proc) == {} and nothing_to_be_done(proc), describe(proc)


# ---- what is stale, and why: pags.stale ---------------------------------------------


@pytest.mark.slow
def test_stale_names_the_changed_values_and_code_files(tiny_run, tmp_path):
    """After an lr edit and an edit of the standard objective, ``python -m pags.stale`` names
    exactly those: the value with its old and new value, the module by name; the models'
    metrics and figures are counted as following from them."""
    config = updated_config(tiny_run.config, ["distractor", "training", "lr"], 0.05)
    configfile = write_config(tmp_path / "lr.yaml", config)
    edit = {
        "workflow/pags/objectives/standard.py": (
            "return F.cross_entropy(model(x), y)\n",
            "return F.cross_entropy(model(x), y, label_smoothing=0.1)\n",
        )
    }
    snakefile = edited_copy(tmp_path / "workflow_copy", edit)
    command = [
        sys.executable,
        "-m",
        "pags.stale",
        "-s",
        str(snakefile),
        "--directory",
        str(tiny_run.workdir),
        "--configfile",
        str(configfile),
        "--replace-workflow-config",
        "--cores",
        "1",
    ]
    proc = run_command(command, tiny_run.workdir, DRY_RUN_TIMEOUT)
    assert proc.returncode == 0, describe(proc)
    text = proc.stdout
    assert re.search(r"^train_model: \d+ job\(s\) stale", text, flags=re.M), describe(proc)
    changes = set(re.findall(r"^    (.+)$", text, flags=re.M))
    assert changes == {"training.lr: 0.1 -> 0.05", "code of pags.objectives.standard changed"}, describe(proc)
    assert "Also planned" in text and "fig_noise_robustness 1" in text, describe(proc)


@pytest.mark.slow
def test_stale_says_nothing_is_stale_after_a_finished_run(tiny_run):
    command = [
        sys.executable,
        "-m",
        "pags.stale",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(tiny_run.workdir),
        "--configfile",
        str(tiny_run.configfile),
        "--replace-workflow-config",
        "--cores",
        "1",
    ]
    proc = run_command(command, tiny_run.workdir, DRY_RUN_TIMEOUT)
    assert proc.returncode == 0 and proc.stdout.strip() == "Nothing is stale.", describe(proc)


def test_stale_pairs_recorded_and_current_params():
    """Params are recorded unnamed: a code string pairs with a code string, a mapping with
    the mapping sharing most keys, and the change is given key by key."""
    before = [
        "code 0123456789abcdef (train_model.py aaaaaaaa, pags.objectives bbbbbbbb, pags.train cccccccc)",
        {"training": {"lr": 0.1, "milestones": [6, 8]}, "seed": 0},
        10,
    ]
    now = [
        10,
        {"training": {"lr": 0.1, "milestones": [6, 9]}, "seed": 0},
        "code fedcba9876543210 (train_model.py aaaaaaaa, pags.objectives dddddddd, pags.train cccccccc)",
    ]
    assert stale.describe_change(before, now) == [
        "training.milestones: [6, 8] -> [6, 9]",
        "code of pags.objectives changed",
    ]


def test_stale_reads_the_members_of_group_jobs():
    """Under the SLURM profile a dry run indents a group's members under it."""
    text = textwrap.dedent("""\
        Group job train_digits (jobs in lexicogr. order):

            rule train_model:
                output: results/d/models/standard/0/seed=0/model.pt, results/d/models/standard/0/seed=0/train.json
                reason: Params have changed since last execution: Union of exclusive params before and now across all output: before: {'training': {'lr': 0.1}},'code 0123456789abcdef (train_model.py aaaaaaaa)' now: {'training': {'lr': 0.2}},'code 0123456789abcdef (train_model.py aaaaaaaa)'; Software environment definition has changed since last execution
                wildcards: dataset=d

        localrule all:
            input: results/figures/a.pdf
            reason: Input files updated by another job: results/figures/a.pdf
        """)
    assert stale.report(stale.planned_jobs(text)).splitlines() == [
        "train_model: 1 job(s) stale (results/d/models/standard/0/seed=0/model.pt)",
        "    training.lr: 0.1 -> 0.2",
    ]
