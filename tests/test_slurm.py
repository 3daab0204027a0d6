"""The workflow on a real (single-node, throwaway) SLURM cluster, through the shipped profile.

``snakemake --profile <repo>/slurm`` runs the tiny config end to end on a cluster that
tests/slurm_cluster.py starts on localhost (munged, slurmctld, slurmd; a node with two
GPUs backed by /dev/null and /dev/zero, so that GPU jobs are accepted and scheduled as on
a real cluster, and run on the CPU). The test is skipped, with the reason, where SLURM
is not installed or cannot start (``apt-get install slurm-wlm munge``).

Only what a user sets for their site is given on the command line, the rest is the
profile's: the partition, no account (the cluster has no accounting database), ``squeue``
for job status (``sacct`` fails without slurmdbd), a short wait before the first status
check, and how many jobs. The partition goes into ``--default-resources``, which on the
command line *replaces* the profile's ``default-resources`` as a whole (Snakemake does not
merge the two), so the profile's own entries are passed along with it, read from the
profile with Snakemake's own profile parser.

What SLURM was asked for is read back from its job records (``scontrol show job``; the
cluster keeps finished jobs for an hour), not from Snakemake's output: every job the run
submitted, its rule (the executor puts ``rule_<name>_wildcards_...`` in the job's
comment), partition, state, GPUs, CPUs, memory and time limit.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from slurm_cluster import (
    is_group,
    job_rule,
    profile_command,
    profile_groups,
    read_profile,
    run,
    running_cluster,
    slurm_jobs,
)
from workflow_helpers import (
    REPO,
    assert_figure,
    describe,
    nothing_to_be_done,
    output,
    planned_jobs,
    tiny_config,
    write_config,
)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

PROFILE = REPO / "slurm"
DATASET = "digits_distractor"
FIGURES = ["fig_noise_robustness", "fig_distractor"]
MODELS = [("standard", "0"), ("pgd", "1_4_8")]
# Rules that must run as SLURM jobs (the others may run on the submitting node).
REMOTE_RULES = {"base_dataset", "distractor_dataset", "train_model", "noise_robustness"}
# The tiny run takes about 3 minutes on 2 cores (most of it is Snakemake starting twice
# per job, and the executor's status checks, whose interval grows by 10 s while no job
# finishes); the limit leaves room for a slow machine.
RUN_TIMEOUT = 900
DRY_RUN_TIMEOUT = 180


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    yield from running_cluster(tmp_path_factory)


def profile() -> dict:
    return read_profile(PROFILE / "config.yaml")


def slurm_time(minutes: int) -> str:
    """A time limit as scontrol prints it: [days-]HH:MM:SS."""
    days, rest = divmod(minutes, 24 * 60)
    clock = f"{rest // 60:02d}:{rest % 60:02d}:00"
    return f"{days}-{clock}" if days else clock


def expected_resources(rule: str, attempt: int = 1) -> dict:
    """The profile's resources of ``rule`` for one attempt (expressions evaluated)."""
    p = profile()
    resources = {**(p.get("default-resources") or {}), **(p.get("set-resources") or {}).get(rule, {})}
    return {
        key: eval(value, {"attempt": attempt}) if isinstance(value, str) and "attempt" in value else value
        for key, value in resources.items()
    }


class SlurmRun:
    def __init__(self, directory: Path):
        self.directory = directory
        self.workdir = directory / "work"
        self.workdir.mkdir()
        self.configfile = write_config(directory / "config.yaml", tiny_config())
        self.results = self.workdir / "results"


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory) -> SlurmRun:
    run_ = SlurmRun(tmp_path_factory.mktemp("slurm_run"))
    start = time.monotonic()
    run_.proc = run(cluster, profile_command(cluster, run_.workdir, run_.configfile), run_.workdir, RUN_TIMEOUT)
    run_.wall_s = time.monotonic() - start
    run_.jobs = slurm_jobs(cluster)
    if run_.proc.returncode != 0:
        timed_out = " (timed out)" if run_.proc.returncode in (124, 137) else ""
        pytest.fail(
            f"the tiny workflow failed on SLURM{timed_out} after {run_.wall_s:.0f}s: {describe(run_.proc)}\n"
            f"SLURM jobs: {[(j.get('JobId'), j.get('Comment'), j.get('JobState')) for j in run_.jobs]}\n"
            f"{cluster.diagnostics()}"
        )
    return run_


def test_run_uses_the_shipped_profile_and_slurm(slurm_run):
    log = output(slurm_run.proc)
    # the shipped profile, and the workflow profile (rerun triggers) on top of it
    assert f"Using profiles {PROFILE} and workflow specific profile" in log, describe(slurm_run.proc)
    assert "has been submitted with SLURM jobid" in log, describe(slurm_run.proc)
    print(f"SLURM run: {slurm_run.wall_s:.0f}s wall, {len(slurm_run.jobs)} SLURM jobs")


@pytest.mark.parametrize("figure", FIGURES)
@pytest.mark.parametrize("ext", ["pdf", "png"])
def test_figures_exist(slurm_run, figure, ext):
    assert_figure(slurm_run.results / "figures" / f"{figure}.{ext}")


def test_table_and_models_exist(slurm_run):
    table = slurm_run.results / DATASET / "tables" / "noise_robustness.csv"
    assert table.is_file() and len(table.read_text().splitlines()) > 1, f"{table} missing or empty"
    for objective, strength in MODELS:
        model_dir = slurm_run.results / DATASET / "models" / objective / strength / "seed=0"
        assert (model_dir / "model.pt").is_file() and (model_dir / "model.pt").stat().st_size > 0, model_dir
        assert (model_dir / "train.json").is_file(), model_dir


def test_every_remote_job_ran_once_on_slurm(slurm_run, cluster):
    """One SLURM job per planned job of each submitted rule, or per group of up to
    `group-components` of them for the profile's grouped rules; all completed, in the
    partition given. (The tiny run has one data set, so one group id per grouped rule.)"""
    planned = planned_jobs(slurm_run.proc)
    groups, components = profile_groups(), profile().get("group-components") or {}
    submitted: dict[str, int] = {}
    for job in slurm_run.jobs:
        submitted[job_rule(job)] = submitted.get(job_rule(job), 0) + 1
        assert job["JobState"] == "COMPLETED", job
        assert job["Partition"] == cluster.partition, job
    assert REMOTE_RULES <= set(submitted), (submitted, planned)
    expected = {
        rule: -(-planned[rule] // components[groups[rule]]) if rule in groups else planned.get(rule)
        for rule in submitted
    }
    assert submitted == expected, (submitted, planned)


def test_jobs_asked_slurm_for_the_profiles_resources(slurm_run):
    """Grouped rules (training, per-model metrics): one GPU per group, as `gres`, with
    their members' threads and memory added up; other GPU rules: their GPUs and CPUs per
    GPU; every job its memory and time."""
    p = profile()
    planned = planned_jobs(slurm_run.proc)
    gpu_rules = {rule for rule, r in (p.get("set-resources") or {}).items() if r.get("gpu")}
    assert {"train_model", "noise_robustness"} <= set(profile_groups()), "the profile groups training and metrics"
    seen_groups = set()
    for job in slurm_run.jobs:
        rule = job_rule(job)
        want = expected_resources(rule)
        if is_group(job):
            seen_groups.add(rule)
            # the tiny run's few models of a rule fit in one group, whose members run at once
            members = planned[rule]
            assert job.get("TresPerNode") == f"gres:{want['gres']}", job
            assert "gpu" not in job.get("TresPerJob", ""), job
            assert int(job["NumCPUs"]) == members * p["set-threads"][rule], job
            assert job["MinMemoryNode"] == f"{members * want['mem_mb']}M", job
        elif rule in gpu_rules:
            # sbatch --gpus=N is a per-job TRES request; --cpus-per-gpu=M ties CPUs to it
            assert job.get("TresPerJob") == f"gres:gpu:{want['gpu']}", job
            assert job.get("CpusPerTres") == f"gres:gpu:{want['cpus_per_gpu']}", job
            assert int(job["NumCPUs"]) == want["gpu"] * want["cpus_per_gpu"], job
            assert job["MinMemoryNode"] == f"{want['mem_mb']}M", job
        else:
            assert "gpu" not in job.get("TresPerJob", "") + job.get("TresPerNode", ""), job
            assert job.get("CPUs/Task") == "1", job
            assert job["MinMemoryNode"] == f"{want['mem_mb']}M", job
        assert job["TimeLimit"] == slurm_time(want["runtime"]), job
    assert {"train_model", "noise_robustness"} <= seen_groups, "no group job was submitted"


def test_second_run_has_nothing_to_do(slurm_run, cluster):
    command = profile_command(cluster, slurm_run.workdir, slurm_run.configfile, "-n")
    proc = run(cluster, command, slurm_run.workdir, DRY_RUN_TIMEOUT)
    assert proc.returncode == 0, describe(proc)
    assert nothing_to_be_done(proc), describe(proc)
    assert planned_jobs(proc) == {}, describe(proc)
    assert len(slurm_jobs(cluster)) == len(slurm_run.jobs), "the dry run submitted jobs"
