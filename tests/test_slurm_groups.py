"""Several trainings in one SLURM allocation, at once, and resumed when the allocation is killed.

Two models (PGD, seeds 0 and 1: the same cost) on the throwaway cluster of
tests/slurm_cluster.py, through the shipped profile (``--profile slurm``), whose groups
put a data set's trainings in allocations of up to four and its per-model metrics in
allocations of up to sixteen:

1. Undisturbed: both trainings are one SLURM job that asked for one GPU and for the two
   members' CPUs and memory together, and ran them at the same time (each training
   started before the other ended); both metric jobs are one SLURM job too.
2. Requeued (preemption): ``--forcerun train_model``, and once both trainings have a
   checkpoint the group's job is requeued (``scontrol requeue``; the profile submits with
   ``--requeue``). SLURM runs it again under the same job id, once every process of its
   first run has ended (the test checks that none holds a model's lock, ``pags.joblock``,
   before it lets the job start).
3. Cancelled (a timeout or a lost node look the same to Snakemake): the same, with
   ``scancel``; the job fails and Snakemake submits the group again (the profile's
   ``retries``).

After 2 and 3 every member's log says it resumed from its checkpoint, and the weights and
metric tables equal the undisturbed run's exactly. The reference is a SLURM run, not a
local one, so that all trained under the same threads and environment.
"""

from __future__ import annotations

import random
import re
import shutil
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import torch
from pags.joblock import exclusive
from slurm_cluster import profile_command, run, running_cluster, slurm_jobs, started
from test_resume_workflow import EPOCHS, one_model_config, state
from workflow_helpers import describe, run_snakemake, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SEEDS = (0, 1)
MODEL_DIRS = [f"results/digits_distractor/models/pgd/1_4_8/seed={seed}" for seed in SEEDS]
METRICS = [f"results/digits_distractor/metrics/pgd/1_4_8/seed={seed}/noise_robustness.csv" for seed in SEEDS]
TRAIN_LOGS = [f"results/logs/digits_distractor/train/pgd/1_4_8/seed={seed}.log" for seed in SEEDS]
DATA = ["results/digits_distractor/data/train.pt", "results/digits_distractor/data/test.pt"]
THREADS = 1
RUN_TIMEOUT = 900
CHECKPOINT_TIMEOUT = 600


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    yield from running_cluster(tmp_path_factory)


def two_model_config():
    config = one_model_config()
    config["distractor"]["seeds"] = list(SEEDS)
    return config


def command(cluster, workdir, configfile, *args):
    # One thread per training, in every run (equal thread counts are what bit-equality
    # needs, and the profile's four would oversubscribe a small machine's cores).
    threads = ["--set-threads", f"train_model={THREADS}", f"noise_robustness={THREADS}"]
    return profile_command(cluster, workdir, configfile, *METRICS, *threads, *args)


def jobs_of(cluster, rule) -> dict[str, dict[str, str]]:
    """SLURM jobs of a rule's groups: the executor names a group job's rules in its comment."""
    return {job["JobId"]: job for job in slurm_jobs(cluster) if job.get("Comment", "").endswith(f"_{rule}")}


def log_span(path: Path) -> tuple[datetime, datetime]:
    """The first and last time stamp (HH:MM:SS) of a job log."""
    stamps = re.findall(r"^(\d\d:\d\d:\d\d) ", path.read_text(), flags=re.M)
    assert stamps, path.read_text()
    first, last = (datetime.strptime(s, "%H:%M:%S") for s in (stamps[0], stamps[-1]))
    return first, last


@pytest.fixture(scope="module")
def undisturbed(cluster, tmp_path_factory):
    """The grouped run, its SLURM jobs, and a copy of its weights and tables."""
    root = tmp_path_factory.mktemp("groups")
    configfile = write_config(root / "config.yaml", two_model_config())
    workdir, reference = root / "work", root / "reference"
    workdir.mkdir()
    reference.mkdir()
    # The data sets are made locally: they are not what this test is about, and every
    # SLURM job costs the executor's status-check rounds.
    proc = run_snakemake(workdir, configfile, *DATA)
    assert proc.returncode == 0, describe(proc)
    proc = run(cluster, command(cluster, workdir, configfile), workdir, RUN_TIMEOUT)
    assert proc.returncode == 0, f"{describe(proc)}\n{cluster.diagnostics()}"
    for i, path in enumerate([f"{d}/model.pt" for d in MODEL_DIRS] + METRICS):
        shutil.copy(workdir / path, reference / f"{i}_{Path(path).name}")
    spans = [log_span(workdir / log) for log in TRAIN_LOGS]
    return {
        "workdir": workdir,
        "configfile": configfile,
        "reference": reference,
        "spans": spans,
        "training": jobs_of(cluster, "train_model"),
        "metrics": jobs_of(cluster, "noise_robustness"),
    }


def test_trainings_of_a_group_share_one_allocation(undisturbed):
    (job,) = undisturbed["training"].values()
    assert job["JobState"] == "COMPLETED", job
    # one GPU for the group: gres is a string, which Snakemake does not add up
    assert job.get("TresPerNode") == "gres:gpu:1", job
    assert "gpu" not in job.get("TresPerJob", ""), job
    # the members' CPUs and memory add up (16000 MB each in the profile)
    assert int(job["NumCPUs"]) == len(SEEDS) * THREADS, job
    assert job["MinMemoryNode"] == f"{len(SEEDS) * 16000}M", job


def test_trainings_of_a_group_run_at_once(undisturbed):
    (start_a, end_a), (start_b, end_b) = undisturbed["spans"]
    assert start_a <= end_b and start_b <= end_a, f"one after the other: {undisturbed['spans']}"


def test_metrics_of_a_data_set_share_one_allocation(undisturbed):
    (job,) = undisturbed["metrics"].values()
    assert job["JobState"] == "COMPLETED" and job.get("TresPerNode") == "gres:gpu:1", job


def release(cluster, job_id, locks, timeout=60):
    """SLURM holds a requeued job for about two minutes (its BeginTime): once the killed
    job is pending again, and so none of its first run's processes is left (no training
    holds its model's lock), set its start time to now."""
    deadline = time.monotonic() + timeout
    while (state_ := jobs_of(cluster, "train_model")[job_id]["JobState"]) != "PENDING":
        assert time.monotonic() < deadline, f"job {job_id} still {state_} after the requeue"
        time.sleep(0.2)
    for lock in locks:
        with exclusive(lock, "the model"):  # JobLocked: a training of the killed run still writes
            pass
    update = cluster.client("scontrol", "update", f"JobId={job_id}", "StartTime=now")
    assert update.returncode == 0, update.stderr


@pytest.mark.parametrize("kill", ["requeue", "scancel"])
def test_killed_group_resumes_every_member_from_its_checkpoint(cluster, undisturbed, kill):
    workdir = undisturbed["workdir"]
    checkpoints = [workdir / d / "checkpoint.pt" for d in MODEL_DIRS]
    earlier = set(jobs_of(cluster, "train_model"))
    forced = command(cluster, workdir, undisturbed["configfile"], "--forcerun", "train_model")
    with started(cluster, forced, workdir, RUN_TIMEOUT) as snakemake:
        deadline = time.monotonic() + CHECKPOINT_TIMEOUT
        while not all(c.exists() for c in checkpoints):
            assert snakemake.poll() is None, f"snakemake ended before the checkpoints:\n{snakemake.communicate()}"
            assert time.monotonic() < deadline, "no checkpoints appeared"
            time.sleep(0.02)
        time.sleep(random.uniform(0, 0.5))  # somewhere in a later epoch
        (job_id,) = set(jobs_of(cluster, "train_model")) - earlier
        if kill == "requeue":
            assert cluster.client("scontrol", "requeue", job_id).returncode == 0
            release(cluster, job_id, [c.with_name("checkpoint.lock") for c in checkpoints])
        else:
            assert cluster.client("scancel", job_id).returncode == 0
        assert not any((workdir / d / "model.pt").exists() for d in MODEL_DIRS), "killed too late"
        for c in checkpoints:
            assert 1 <= torch.load(c, weights_only=True)["state"]["epoch"] < EPOCHS
        out, err = snakemake.communicate(timeout=RUN_TIMEOUT + 30)
    jobs = {i: j for i, j in jobs_of(cluster, "train_model").items() if i not in earlier}
    assert snakemake.returncode == 0, f"{out[-3000:]}\n{err[-3000:]}\njobs: {jobs}\n{cluster.diagnostics()}"
    if kill == "requeue":  # the same job ran again
        assert list(jobs) == [job_id] and int(jobs[job_id]["Restarts"]) == 1, jobs
    else:  # Snakemake submitted the group again
        assert len(jobs) == 2 and jobs[job_id]["JobState"] == "CANCELLED", jobs
    assert all(j["JobState"] == "COMPLETED" for i, j in jobs.items() if i != job_id or kill == "requeue"), jobs
    for log in TRAIN_LOGS:
        assert "resumed from" in (workdir / log).read_text(), log
    assert not any(c.exists() for c in checkpoints), "a checkpoint outlived its finished model"

    reference = undisturbed["reference"]
    for i, model_dir in enumerate(MODEL_DIRS):
        a, b = state(reference / f"{i}_model.pt"), state(workdir / model_dir / "model.pt")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"{model_dir}: weights differ"
    for i, metric in enumerate(METRICS, start=len(MODEL_DIRS)):
        pd.testing.assert_frame_equal(
            pd.read_csv(reference / f"{i}_{Path(metric).name}"), pd.read_csv(workdir / metric)
        )
