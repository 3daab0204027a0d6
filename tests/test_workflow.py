"""The workflow end to end: outputs, their contents, and what an edit of the config reruns.

The expensive run (the tiny config's whole DAG, about a minute on 2 CPU cores) happens
once per session, in the ``tiny_run`` fixture (conftest.py); the tests only read its outputs
or dry-run against its directory (a dry run changes no output and no metadata, so the
tests do not depend on their order).
"""

from __future__ import annotations

import base64
import html
import json
import math
import platform
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from workflow_helpers import (
    DRY_RUN_TIMEOUT,
    REPO,
    assert_figure,
    describe,
    nothing_to_be_done,
    output,
    planned_job_blocks,
    planned_jobs,
    provenance_triggered_rules,
    run_command,
    run_snakemake,
)

DATASET = "digits_distractor"
FIGURES = ["fig_noise_robustness", "fig_distractor"]
TABLE_COLUMNS = [
    "objective",
    "strength",
    "strength_value",
    "seed",
    "label",
    "test_accuracy",
    "status",
    "noise_std",
    "signal_change",
    "signal_sem",
    "distractor_change",
    "distractor_sem",
    "ratio",
]
# (objective, canonical strength) of the tiny config's models
MODELS = {("standard", "0"), ("pgd", "1_4_8")}


# ---- (1) the end-to-end run -------------------------------------------------


@pytest.mark.slow
def test_run_executes_every_job_once(tiny_run):
    """The run did the whole DAG (the same plan the dry run of the valid config shows)."""
    assert planned_jobs(tiny_run.proc) == {
        "base_dataset": 2,
        "distractor_dataset": 2,
        "train_model": 2,
        "noise_robustness": 2,
        "noise_robustness_table": 1,
        "fig_noise_robustness": 1,
        "fig_distractor": 1,
        "claims": 1,
        "all": 1,
    }, describe(tiny_run.proc)
    assert "13 of 13 steps (100%) done" in output(tiny_run.proc)


@pytest.mark.slow
def test_the_run_ends_with_its_verdict(tiny_run):
    """The default target checks the claims, and the run's last words are their verdict:
    the counts of the table it wrote, then each failing row."""
    claims = pd.read_csv(tiny_run.results / "claims.csv")
    counts = claims["verdict"].value_counts()
    assert counts.get("holds", 0) + counts.get("fails", 0) >= 1, claims  # Fig. 5 is measured
    text = output(tiny_run.proc)
    headline = (
        "The paper's claims on this run (results/claims.csv): "
        f"{counts.get('holds', 0)} holds, {counts.get('fails', 0)} fails, {counts.get('not measured', 0)} not measured."
    )
    assert headline in text, describe(tiny_run.proc)
    after = text.split(headline, 1)[1]
    assert "Finished job" not in after, "the verdict is not the end of the run"
    for failing in claims[claims["verdict"] == "fails"].itertuples():
        assert f", {failing.claim}, {failing.dataset}" in after, (failing, after)


@pytest.mark.slow
@pytest.mark.parametrize("figure", FIGURES)
@pytest.mark.parametrize("ext", ["pdf", "png"])
def test_figures_exist(tiny_run, figure, ext):
    assert_figure(tiny_run.results / "figures" / f"{figure}.{ext}")


@pytest.fixture(scope="module")
def report_page(tiny_run, tmp_path_factory) -> str:
    """The text of ``snakemake --report report.html`` of the finished run (the README's command)."""
    report = tmp_path_factory.mktemp("report") / "report.html"
    proc = run_snakemake(tiny_run.workdir, tiny_run.configfile, "--report", str(report))
    assert proc.returncode == 0, describe(proc)
    return report.read_text()


def report_variable(page: str, name: str):
    """A JSON variable of the report's page (``var <name> = ...;``)."""
    match = re.search(rf"var {name} = (.*?);\s*\n", page, re.DOTALL)
    assert match, f"no {name} in the report"
    return json.loads(match.group(1))


@pytest.mark.slow
def test_report_holds_every_figure(tiny_run, report_page):
    """``snakemake --report report.html`` of the finished run: one self-contained page
    with every figure of the run, its file embedded byte for byte, and its caption; and
    the claims table, its own section."""
    page = report_page
    # the report's items: {path: {"name", "caption" (html), "data_uri", ...}}
    match = re.search(r'<script id="results">\s*var results = (\{.*?\});\s*</script>', page, re.DOTALL)
    assert match, "no results in the report"
    items = json.loads(match.group(1))
    figures = sorted((tiny_run.results / "figures").glob("*.pdf"))
    assert sorted(path.stem for path in figures) == sorted(FIGURES)
    assert sorted(items) == ["results/claims.html", *(f"results/figures/{path.name}" for path in figures)]
    assert "Claims" in report_variable(page, "categories")
    claims = base64.b64decode(items["results/claims.html"]["data_uri"].partition(";base64,")[2])
    assert claims == (tiny_run.results / "claims.html").read_bytes()
    for path in figures:
        item = items[f"results/figures/{path.name}"]
        header, _, data = item["data_uri"].partition(";base64,")
        assert header.startswith("data:application/pdf") and f"filename={path.name}" in header, header
        assert base64.b64decode(data) == path.read_bytes(), f"{path.name} in the report differs from the file"
        caption = (REPO / "workflow" / "report" / f"{path.stem}.rst").read_text().split("\n")[0]
        assert " ".join(caption.split()[:4]) in html.unescape(item["caption"]), (caption, item["caption"])


@pytest.mark.slow
def test_the_reports_first_page_says_the_verdict(tiny_run, report_page):
    """The report opens on the claims' counts and each failing row (its workflow
    description, shown beside the rule graph on the first page)."""
    claims = pd.read_csv(tiny_run.results / "claims.csv")
    counts = claims["verdict"].value_counts()
    front = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", report_variable(report_page, "workflow_desc"))).split())
    assert "The paper's claims on this run" in front, front
    verdict = (
        f"{counts.get('holds', 0)} holds, {counts.get('fails', 0)} fails, {counts.get('not measured', 0)} not measured"
    )
    assert verdict in front, front
    for failing in claims[claims["verdict"] == "fails"].itertuples():
        assert f", {failing.claim}, {failing.dataset}" in front, (failing, front)


# The logs of the jobs that collect tables from tables
TORCH_FREE_LOGS = (
    *(f"tables/{t}.log" for t in ("noise_robustness", "manifold_robustness", "alignment", "regimes")),
    "logs/claims.log",
)


@pytest.mark.slow
def test_job_logs_record_the_versions(tiny_run):
    """Each job's log starts with the versions it ran with (the tests run the same env).
    The jobs that only collect tables run without torch (2 s less each), and say so."""
    logs = sorted((tiny_run.results / "logs").rglob("*.log"))
    assert len(logs) >= 10, logs
    expected = [f"python {platform.python_version()}"]
    expected += [f"{name} {metadata.version(name)}" for name in ("torchvision", "numpy", "lpips", "diffusers")]
    expected += [f"{name} {metadata.version(name)}" for name in ("snakemake", "scikit-image", "pandas")]
    for log in logs:
        first = log.read_text().split("\n", 1)[0]
        assert " INFO versions: " in first, (log, first)
        torch_free = log.as_posix().endswith(TORCH_FREE_LOGS)
        torch_version = (
            f"torch {metadata.version('torch')} (not loaded)" if torch_free else f"torch {torch.__version__}"
        )
        for version in [*expected, torch_version]:
            assert version in first, (log, version, first)


@pytest.fixture(scope="module")
def table(tiny_run) -> pd.DataFrame:
    path = tiny_run.results / DATASET / "tables" / "noise_robustness.csv"
    assert path.is_file(), f"{path} missing"
    return pd.read_csv(path, dtype={"strength": str})


@pytest.fixture(scope="module")
def records(tiny_run) -> dict[tuple[str, str], dict]:
    out = {}
    for objective, strength in MODELS:
        path = tiny_run.model_dir(objective, strength) / "train.json"
        assert path.is_file(), f"{path} missing"
        out[objective, strength] = json.loads(path.read_text())
    return out


def expected_stds(config) -> list[float]:
    settings = config["distractor"]["noise_robustness"]
    start, stop, num = settings["stds"]["logspace"]
    return [0.0] * settings["include_zero"] + list(np.logspace(start, stop, num))


@pytest.mark.slow
def test_table_columns(table):
    assert list(table.columns) == TABLE_COLUMNS


@pytest.mark.slow
def test_table_one_row_per_model_and_std(tiny_run, table):
    stds = expected_stds(tiny_run.config)
    assert set(zip(table["objective"], table["strength"])) == MODELS, "both objectives, one strength each"
    assert set(table["seed"]) == set(tiny_run.config["distractor"]["seeds"])
    keys = ["objective", "strength", "seed", "noise_std"]
    assert not table.duplicated(keys).any(), table[table.duplicated(keys, keep=False)]
    assert len(table) == len(MODELS) * len(stds)
    for (objective, strength), rows in table.groupby(["objective", "strength"]):
        np.testing.assert_allclose(sorted(rows["noise_std"]), stds, rtol=1e-12, err_msg=f"{objective} {strength}")
        assert rows["label"].nunique() == 1 and rows["test_accuracy"].nunique() == 1


@pytest.mark.slow
def test_table_values(table):
    zero = table[table["noise_std"] == 0]
    assert len(zero) == len(MODELS)
    # Noise of std 0 changes no input, so no output: the change is exactly 0 and the
    # ratio is undefined (NaN, an empty cell in the csv).
    assert (zero["signal_change"] == 0).all() and (zero["distractor_change"] == 0).all(), zero
    assert zero["ratio"].isna().all(), zero

    for region in ("signal", "distractor"):
        change = table[f"{region}_change"]
        # softmax L1 distances lie in [0, 2]; with noise, every model's output moves
        assert change.between(0, 2).all(), table
        assert (change[table["noise_std"] > 0] > 0).all(), table
        assert (table[f"{region}_sem"] >= 0).all(), table

    defined = table[table["distractor_change"] > 0]
    np.testing.assert_allclose(defined["ratio"], defined["signal_change"] / defined["distractor_change"], rtol=1e-9)


@pytest.mark.slow
def test_train_records(tiny_run, table, records):
    d = tiny_run.config["distractor"]
    for (objective, strength), record in records.items():
        assert 0 <= record["test_accuracy"] <= 1, record["test_accuracy"]
        hp = record["hparams"]
        # the job trained what the config says: its hparams are the config's, verbatim
        assert hp["objective"] == objective
        # (the config may leave keys to the schema's defaults; the record has them all)
        assert {k: hp["training"].get(k) for k in d["training"]} == d["training"]
        assert hp["arch"] == d["model"]["arch"] and hp["arch_options"] == d["model"]["options"]
        options = {k: v for k, v in d["objectives"][objective].items() if k != "grid"}
        assert {k: hp["objective_options"].get(k) for k in options} == options
        assert record["epochs"] == d["training"]["epochs"]
        # the table carries the record's accuracy
        rows = table[(table["objective"] == objective) & (table["strength"] == strength)]
        assert math.isclose(rows["test_accuracy"].iloc[0], record["test_accuracy"], rel_tol=1e-12)
        assert (tiny_run.model_dir(objective, strength) / "model.pt").stat().st_size > 0
        # no resume checkpoint is left behind after a finished run
        assert not (tiny_run.model_dir(objective, strength) / "checkpoint.pt").exists()


# ---- (2) and (3): what a dry run plans after the run ---------------------------


@pytest.mark.slow
def test_dry_run_after_run_has_nothing_to_do(tiny_run):
    proc = run_snakemake(tiny_run.workdir, tiny_run.configfile, "-n")
    assert proc.returncode == 0, describe(proc)
    assert nothing_to_be_done(proc), describe(proc)
    assert planned_jobs(proc) == {}, describe(proc)


_REPORTING = {"noise_robustness_table": 1, "fig_noise_robustness": 1, "claims": 1, "all": 1}

# (config edits, expected jobs per rule, rules whose jobs are triggered by changed params,
#  objectives of the models retrained)
EDITS = [
    pytest.param(
        {"distractor.figures.noise_std": 0.25},
        {"fig_distractor": 1, "all": 1},
        {"fig_distractor"},
        set(),
        id="figure-option-reruns-only-its-figure",
    ),
    pytest.param(
        {"distractor.noise_robustness.draws": 2},
        {"noise_robustness": 2, **_REPORTING},
        {"noise_robustness"},
        set(),
        id="noise-option-reruns-metrics-not-training",
    ),
    pytest.param(
        {"distractor.objectives.pgd.steps": 3},
        {"train_model": 1, "noise_robustness": 1, "fig_distractor": 1, **_REPORTING},
        {"train_model"},
        {"pgd"},
        id="pgd-option-retrains-only-pgd",
    ),
    pytest.param(
        {"distractor.training.lr": 0.05},
        {"train_model": 2, "noise_robustness": 2, "fig_distractor": 1, **_REPORTING},
        {"train_model"},
        {"standard", "pgd"},
        id="training-option-retrains-both",
    ),
    pytest.param(
        {"distractor.letter": "B"},
        {"distractor_dataset": 2, "train_model": 2, "noise_robustness": 2, "fig_distractor": 1, **_REPORTING},
        {"distractor_dataset"},
        {"standard", "pgd"},
        id="letter-remakes-distractor-data-not-base-data",
    ),
    pytest.param(
        # where data is read from does not change it (base_dataset reads it from the config)
        {"data.root": "elsewhere"},
        {},
        set(),
        set(),
        id="data-root-reruns-nothing",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("edits, expected_jobs, triggered, retrained", EDITS)
def test_edit_reruns_exactly_what_depends_on_it(tiny_run, request, edits, expected_jobs, triggered, retrained):
    proc = tiny_run.dry_run_with(request.node.callspec.id, edits)
    assert proc.returncode == 0, describe(proc)
    assert planned_jobs(proc) == expected_jobs, describe(proc)
    assert provenance_triggered_rules(proc) == triggered, describe(proc)
    if not expected_jobs:
        assert nothing_to_be_done(proc), describe(proc)
    # which models: e.g. editing pgd.steps retrains the pgd model, not the standard one
    jobs = planned_job_blocks(proc)
    trained = sorted(job["wildcards"]["objective"] for job in jobs if job["rule"] == "train_model")
    assert trained == sorted(retrained), describe(proc)
    if "noise_robustness" not in triggered:
        measured = sorted(job["wildcards"]["objective"] for job in jobs if job["rule"] == "noise_robustness")
        assert measured == trained, "only retrained models are measured again"


# ---- (4) the paper's experiment on SLURM plans without error -------------------


SLURM_PROFILE = REPO / "slurm" / "config.yaml"
DATA_ROOT = REPO / "data"


@pytest.fixture(scope="module")
def paper_plans():
    """``snakemake --profile slurm -n --forceall [target]`` from the repo root, on the real
    config.yaml: target -> Future of the CompletedProcess, for the whole DAG ("all") and the
    ImageNet leg ("fig_imagenet"). Each parses the whole workflow, so both start at once
    (on 2 cores, in the time of one). ``--forceall``: the plan does not depend on what a run
    in this checkout left in results/."""
    data_existed = DATA_ROOT.exists()

    def plan(target):
        command = [sys.executable, "-m", "snakemake", "--profile", "slurm", "-n", "--forceall", target]
        return run_command(command, cwd=REPO, timeout=DRY_RUN_TIMEOUT)

    with ThreadPoolExecutor(max_workers=2) as pool:
        yield data_existed, {target: pool.submit(plan, target) for target in ("all", "fig_imagenet")}


@pytest.mark.slow
@pytest.mark.skipif(not SLURM_PROFILE.is_file(), reason="no SLURM profile at slurm/config.yaml yet")
def test_slurm_profile_plans_the_paper_experiment(paper_plans):
    """The whole DAG of config.yaml under the SLURM profile.

    config.yaml trains on MNIST with ``data.download: true``. A dry run runs no job, so
    it downloads nothing (the subprocess has an unreachable proxy, and the test checks
    that no data directory appeared); validation only checks for MNIST's files when
    downloads are off. Nor does a dry run submit anything to SLURM: the executor plugin
    is configured but not called.
    """
    data_existed, plans = paper_plans
    proc = plans["all"].result()
    assert proc.returncode == 0, describe(proc)
    assert "Using profiles slurm and workflow specific profile" in output(proc), describe(proc)
    assert "Traceback" not in output(proc) and "WorkflowError" not in output(proc), describe(proc)
    assert data_existed or not DATA_ROOT.exists(), "the dry run created data/ (did it download MNIST?)"

    trained = {
        (job["wildcards"]["dataset"], job["wildcards"]["objective"], job["wildcards"]["strength"])
        for job in planned_job_blocks(proc)
        if job["rule"] == "train_model"
    }
    # the CIFAR-10 sweep: the paper's 4 objectives x 30 strengths x 3 seeds, the standard
    # model, and TRADES x 9 strengths x 3 seeds
    cifar_jobs = [
        job["wildcards"]
        for job in planned_job_blocks(proc)
        if job["rule"] == "train_model"
        if job["wildcards"]["dataset"] == "cifar10"
    ]
    per_objective = {}
    for w in cifar_jobs:
        per_objective.setdefault(w["objective"], set()).add((w["strength"], w["seed"]))
    assert {o: len(s) for o, s in per_objective.items()} == {
        "standard": 3,
        "gnorm": 90,
        "smooth": 90,
        "randsmooth": 90,
        "pgd": 90,
        "trades": 27,
    }, describe(proc)
    assert planned_jobs(proc)["manifold_robustness"] >= len(cifar_jobs)
    # the distractor experiment's two models (config.yaml may plan other experiments too)
    distractor_models = {("mnist_distractor", "standard", "0"), ("mnist_distractor", "pgd", "1_4_8")}
    assert {m for m in trained if m[0] == "mnist_distractor"} == distractor_models, describe(proc)
    jobs = planned_jobs(proc)
    for rule in ("base_dataset", "distractor_dataset", "noise_robustness", "fig_noise_robustness", "fig_distractor"):
        assert jobs.get(rule, 0) >= 1, describe(proc)
    # the profile's resources reach the jobs: training asks SLURM for a GPU, as gres (grouped)
    train_resources = [job.get("resources", "") for job in planned_job_blocks(proc) if job["rule"] == "train_model"]
    assert train_resources and all("gres=gpu:1" in r for r in train_resources), train_resources
    # ... four trainings of a data set to an allocation: 363 CIFAR-10 models in 91 groups
    assert output(proc).count("Group job train_cifar10 ") == -(-len(cifar_jobs) // 4), describe(proc)

    # the paper's alignment experiment: the EDM score at sigma 0.5 (EDM units; 0.25 in
    # pixels), unconditional, from a pinned download, and LPIPS with AlexNet per model
    blocks = planned_job_blocks(proc)
    scores = [j["wildcards"] for j in blocks if j["rule"] == "score" and j["wildcards"]["dataset"] == "cifar10"]
    assert sorted(scores, key=lambda w: w["backend"]) == [
        {"dataset": "cifar10", "backend": "edm", "sigma": "0.25", "conditioning": "uncond"},
        # grad log p(y | x) from EDM's conditional and unconditional networks, beside it
        {"dataset": "cifar10", "backend": "posterior_edm", "sigma": "0.25", "conditioning": "cond"},
    ], scores
    assert jobs["fetch_weights"] >= 3  # the two EDM networks and LPIPS's AlexNet
    cifar_alignment = [j for j in blocks if j["rule"] == "alignment" and j["wildcards"]["dataset"] == "cifar10"]
    assert len(cifar_alignment) == len(cifar_jobs), describe(proc)
    assert all("results/weights/alexnet" in j["input"] for j in cifar_alignment)
    assert all("gres=gpu:1" in j.get("resources", "") for j in cifar_alignment)
    # one gallery per data set and objective, and the paper's Fig. 1 (figures.galleries)
    for rule in (
        "regimes",
        "fig_score_alignment",
        "fig_gallery_cifar10_gnorm",
        "fig_gallery_cifar10_pgd",
        "fig_gallery_paper_fig1",
    ):
        assert jobs.get(rule, 0) >= 1, describe(proc)


@pytest.mark.slow
def test_slurm_profile_plans_the_imagenet_leg(paper_plans):
    """``snakemake --profile slurm -n fig_imagenet`` from the repo root plans the paper's
    ImageNet experiments from config.yaml, without the ImageNet files (a dry run reads none)."""
    proc = paper_plans[1]["fig_imagenet"].result()
    assert proc.returncode == 0, describe(proc)
    own, pretrained = 1 + 11, 10  # a standard model and 11 eps; Salman et al.'s 10 members
    assert planned_jobs(proc) == {
        "base_dataset": 2,  # ImageNet-64 train and val
        "train_model": own,
        "train_autoencoder": 1,
        "tangent_spaces": 1,
        "manifold_robustness": own,
        "manifold_robustness_table": 1,
        "pretrained_images": 1,
        "pretrained_model": pretrained,
        "top1_table": 1,
        "fetch_weights": pretrained + 2,  # the checkpoints, EDM's ImageNet network, AlexNet
        "score": 2,  # at EDM sigma 1.2, conditional, for each family
        "alignment": own + pretrained,
        "alignment_table": 2,
        "regimes": 2,
        "fig_imagenet": 1,
    }, describe(proc)
    blocks = planned_job_blocks(proc)
    scores = sorted(tuple(j["wildcards"].values()) for j in blocks if j["rule"] == "score")
    assert scores == [("imagenet", "edm", "0.6", "cond"), ("imagenet64", "edm", "0.6", "cond")], scores
    gpu_rules = {"pretrained_model", "score"}
    grouped_gpu_rules = {"train_model", "alignment", "manifold_robustness"}  # as gres: see slurm/config.yaml
    for job in blocks:
        if job["rule"] in gpu_rules:
            assert "gpu=1" in job.get("resources", ""), job
        if job["rule"] in grouped_gpu_rules:
            assert "gres=gpu:1" in job.get("resources", ""), job


# ---- (5) and (6): lint and format -------------------------------------------


@pytest.mark.slow
def test_snakemake_lint_is_clean():
    proc = run_command([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, timeout=DRY_RUN_TIMEOUT)
    assert proc.returncode == 0, describe(proc)
    assert "Lints for" not in output(proc), describe(proc)
    assert "Congratulations, your workflow is in a good condition!" in output(proc), describe(proc)


def test_snakefmt_check_passes():
    snakefmt = Path(sys.executable).with_name("snakefmt")
    if not snakefmt.exists():
        pytest.skip("snakefmt is not installed (pip install -e '.[test]')")
    proc = run_command([str(snakefmt), "--check", "Snakefile", "workflow/rules"], cwd=REPO, timeout=DRY_RUN_TIMEOUT)
    assert proc.returncode == 0, f"run `snakefmt Snakefile workflow/rules`; {describe(proc)}"


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_passes(command):
    """The Python code as pyproject.toml's ruff configuration wants it (fix: ``ruff
    check --fix . && ruff format .``)."""
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    proc = run_command([str(ruff), *command, "."], cwd=REPO, timeout=DRY_RUN_TIMEOUT)
    assert proc.returncode == 0, describe(proc)
