"""Run the Snakemake workflow as a subprocess, on a tiny config, for workflow-level tests.

How the config is resolved. The Snakefile reads ``config.yaml`` (resolved against the
working directory after ``--directory`` took effect) only when no ``--configfile`` is
given, so the command-line file alone is the config: each test sees exactly the config
it wrote, whatever lies in the directory. (Were config.yaml read too, Snakemake would
*merge* the two, and keys only config.yaml has would leak in: tests/test_slurm_profile.py
checks that they do not.) ``--replace-workflow-config`` is passed as well, which says the
same to Snakemake.

The command-line ``--configfile`` is made absolute, as it is read relative to the
directory Snakemake was started in, not to ``--directory``.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
DEMO_EXPERIMENTS = REPO / "demo" / "experiments.yaml"
# The real data sets (MNIST, CIFAR-10) some tests read, in a shared/ folder beside the
# checkout; where it is absent those tests are skipped with a reason naming it.
SHARED_DATA = REPO.parent / "shared" / "data"

# Dry runs parse the workflow and the DAG: seconds. Real runs of the tiny config: a
# minute or so on 2 CPU cores; the limits leave a wide margin for a slow machine.
DRY_RUN_TIMEOUT = 120
RUN_TIMEOUT = 900


def tiny_config() -> dict[str, Any]:
    """demo/experiments.yaml cut down to seconds per job: the same keys, smaller values."""
    with open(DEMO_EXPERIMENTS) as f:
        demo = yaml.safe_load(f)
    # Only the distractor experiment: the tests below are about its DAG, and other
    # experiments the demo may run would multiply the jobs.
    config = {"data": demo["data"], "distractor": demo["distractor"]}
    d = config["distractor"]
    assert d["dataset"] == "digits" and config["data"]["download"] is False, "the demo must stay offline"
    d["model"] = {"arch": "small_cnn", "options": {"width": 4}}
    d["objectives"]["standard"].pop("seeds")  # one model per objective (test_objective_seeds adds them)
    d["training"].update(epochs=2, milestones=[1])
    d["objectives"]["pgd"]["steps"] = 2
    d["noise_robustness"].update(stds={"logspace": [-2, 1, 6]}, include_zero=True, n_images=40, draws=1)
    d["figures"]["n_examples"] = 2
    return config


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    return path


def subprocess_env() -> dict[str, str]:
    """The test's environment, with network access made to fail fast rather than hang."""
    env = dict(os.environ)
    # Nothing here should download; if something tried, an unroutable proxy makes it fail
    # at once instead of waiting for a timeout (or, worse, succeeding on a dev machine).
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        env[var] = "http://127.0.0.1:9"
    env.pop("no_proxy", None)
    env.pop("NO_PROXY", None)
    # One BLAS thread per job: --cores 2 runs two jobs at a time on 2 cores.
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    # Keep matplotlib off any display and its cache inside the test's reach.
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_snakemake(
    workdir: Path,
    configfile: Path,
    *args: str,
    cores: int = 2,
    timeout: float | None = None,
    snakefile: Path = SNAKEFILE,
) -> subprocess.CompletedProcess:
    """``snakemake -s <snakefile> --directory <workdir> --configfile <configfile>``.

    Returns the CompletedProcess (text output captured) whatever the exit status; the
    caller asserts on it. ``subprocess.run`` kills the child when ``timeout`` passes.
    ``snakefile`` is the repo's unless a test runs an edited copy (``copy_workflow``).
    """
    dry = any(a in ("-n", "--dry-run", "--dryrun") for a in args)
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(snakefile),
        "--directory",
        str(Path(workdir).resolve()),
        "--configfile",
        str(Path(configfile).resolve()),
        "--replace-workflow-config",
        "--cores",
        str(cores),
        *args,
    ]
    return run_command(command, cwd=workdir, timeout=timeout or (DRY_RUN_TIMEOUT if dry else RUN_TIMEOUT))


# What a copy of the workflow needs to run: its code, its environment and its profiles.
WORKFLOW_PARTS = ("Snakefile", "workflow", "envs", "profiles")


def copy_workflow(destination: Path) -> Path:
    """A copy of the workflow's code at ``destination``, to edit without touching the repo;
    returns the copy's Snakefile."""
    destination.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, destination / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, destination / part)
    return destination / "Snakefile"


class TinyRun:
    """A finished run of the tiny config (``tiny_config``) in ``directory/work``."""

    dataset = "digits_distractor"

    def __init__(self, directory: Path):
        self.directory = directory
        self.workdir = directory / "work"
        self.workdir.mkdir()
        self.config = tiny_config()
        self.configfile = write_config(directory / "config.yaml", self.config)
        self.results = self.workdir / "results"

    def model_dir(self, objective: str, strength: str, seed: int = 0) -> Path:
        return self.results / self.dataset / "models" / objective / strength / f"seed={seed}"

    def dry_run_with(self, name: str, edits: dict[str, object]):
        """Dry-run the finished directory with ``edits`` applied to the tiny config."""
        config = self.config
        for dotted, value in edits.items():
            config = updated_config(config, dotted.split("."), value)
        assert config != self.config, "the edit must change the config"
        return run_snakemake(self.workdir, write_config(self.directory / f"{name}.yaml", config), "-n")


def accept_results(workdir: Path, configfile: Path, *files: Path) -> None:
    """Record ``files``, put in place by a test, as made by this config and code (``--touch``,
    as a user accepts results that carry no record: pags.sidecar)."""
    targets = [str(Path(f).relative_to(workdir)) for f in files]
    proc = run_snakemake(workdir, configfile, "--touch", *targets)
    assert proc.returncode == 0, describe(proc)


def run_command(command: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        command,
        cwd=str(cwd),
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def output(proc: subprocess.CompletedProcess) -> str:
    """stdout and stderr together (Snakemake logs to stderr, `--quiet rules` to stdout)."""
    return f"{proc.stdout}\n{proc.stderr}"


def describe(proc: subprocess.CompletedProcess, tail: int = 6000) -> str:
    """For assertion messages: the command's exit status and the end of its output."""
    return f"exit status {proc.returncode}; output:\n{output(proc)[-tail:]}"


# A row of Snakemake's job stats table: "<rule name>   <count>"; the table ends at "total".
_JOB_ROW = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s+(\d+)\s*$")


def planned_jobs(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Jobs per rule from the "Job stats" table a (dry) run prints; {} when nothing to do.

    Parses the table between its "job  count" header and its "total" row, so that other
    lines of the log cannot be mistaken for rows.
    """
    jobs: dict[str, int] = {}
    inside = False
    for line in output(proc).splitlines():
        words = line.split()
        if words[:2] == ["job", "count"]:
            inside, jobs = True, {}
            continue
        if not inside:
            continue
        match = _JOB_ROW.match(line)
        if match and match.group(1) == "total":
            inside = False
            assert sum(jobs.values()) == int(match.group(2)), f"job stats table does not add up:\n{output(proc)}"
        elif match:
            jobs[match.group(1)] = int(match.group(2))
    return jobs


def planned_rules(proc: subprocess.CompletedProcess) -> set[str]:
    return set(planned_jobs(proc))


def nothing_to_be_done(proc: subprocess.CompletedProcess) -> bool:
    return "Nothing to be done" in output(proc)


def updated_config(config: dict[str, Any], path: Iterable[str], value: Any) -> dict[str, Any]:
    """A deep copy of ``config`` with the key at ``path`` set to ``value``."""
    new = copy.deepcopy(config)
    *parents, last = path
    node = new
    for key in parents:
        node = node[key]
    node[last] = value
    return new


_JOB_HEADER = re.compile(r"^( *)(?:local)?rule ([A-Za-z_][A-Za-z0-9_]*):\s*$")
_JOB_FIELD = re.compile(r"^( *)([a-z_]+): (.*)$")


def planned_job_blocks(proc: subprocess.CompletedProcess) -> list[dict[str, Any]]:
    """The jobs a (dry) run prints, each as {"rule", "wildcards": {...}, "reason", ...}.

    A job block is a ``rule NAME:`` (or ``localrule NAME:``) line followed by
    ``key: value`` lines indented 4 spaces more; the members of a group job are indented
    4 spaces under its "Group job" line. Wildcards are parsed into a dict.
    """
    jobs: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    indent = 0
    for line in output(proc).splitlines():
        header = _JOB_HEADER.match(line)
        if header:
            current = {"rule": header.group(2), "wildcards": {}}
            indent = len(header.group(1)) + 4
            jobs.append(current)
            continue
        field_ = _JOB_FIELD.match(line) if current is not None else None
        if field_ is None or len(field_.group(1)) != indent:
            current = None
            continue
        _, key, value = field_.groups()
        if key == "wildcards":
            value = dict(item.split("=", 1) for item in value.split(", "))
        current[key] = value
    return jobs


def provenance_triggered_rules(proc: subprocess.CompletedProcess) -> set[str]:
    """Rules with a job planned because its params changed since the last run."""
    return {job["rule"] for job in planned_job_blocks(proc) if "Params have changed" in job.get("reason", "")}


FILE_SIGNATURES = {"pdf": b"%PDF-", "png": b"\x89PNG\r\n\x1a\n"}


def assert_figure(path: Path) -> None:
    """``path`` is a real PDF or PNG (by its signature), not an empty or truncated file."""
    assert path.is_file(), f"{path} missing"
    content = path.read_bytes()
    assert len(content) > 1000, f"{path} is only {len(content)} bytes"
    assert content.startswith(FILE_SIGNATURES[path.suffix[1:]]), f"{path} is not a {path.suffix} file"


def whole_imagenet_val(folder: Path, images: dict[str, list[Path]]) -> list[str]:
    """A whole ILSVRC-2012 validation folder at ``folder`` (``<wnid>/*.JPEG``, 1000 wnid
    folders of 50 images each, what ``pags.datasets.imagenet`` accepts), made of symbolic
    links (cheap, and any number to one file): each wnid of ``images`` holds its files, repeated to 50, and 1000 - len(images)
    other wnids hold 50 links to the first file given. Returns the 1000 wnids, sorted."""
    from pags.datasets.imagenet import IMAGES_PER_CLASS, NUM_CLASSES

    fillers = (f"n{99_000_000 + k:08d}" for k in range(NUM_CLASSES))
    wnids = sorted([*images, *(next(fillers) for _ in range(NUM_CLASSES - len(images)))])
    first = next(iter(images.values()))[0]
    for wnid in wnids:
        (folder / wnid).mkdir(parents=True, exist_ok=True)
        sources = images.get(wnid, [first])
        for i in range(IMAGES_PER_CLASS):
            target = folder / wnid / f"ILSVRC2012_val_{wnid}_{i:02d}{sources[i % len(sources)].suffix}"
            if not target.exists():
                target.symlink_to(sources[i % len(sources)])
    return wnids


def present(dataset: str, root, splits: tuple[str, ...] = ("train", "test")) -> bool:
    """Whether the loader of ``dataset`` finds every split in ``splits`` under ``root``
    without downloading: its presence check (``DatasetSpec.check``) passes for each."""
    from pags.datasets import DATASETS
    from pags.errors import DataError

    try:
        for split in splits:
            DATASETS[dataset].check(str(root), split, False)
    except DataError:
        return False
    return True
