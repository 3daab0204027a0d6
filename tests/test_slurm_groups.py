"""A SLURM training job requeued mid-run resumes from its checkpoint, through the shipped profile.

The one-model config of test_resume_workflow.py, on the throwaway cluster of
tests/slurm_cluster.py with ``--profile slurm``: its model is trained and evaluated once
undisturbed, then again (``--forcerun train_model``) with the training job requeued
(``scontrol requeue``; the profile submits with ``--requeue``) at a random point after its
first checkpoint. SLURM kills the job and runs it again under the same job id; the
executor plugin treats the requeued job as still active and waits for it. The second run
must end successfully, its training log must say it resumed, and its weights and metric
table must equal the undisturbed run's exactly. The reference is a SLURM run, not a
local one, so that both trained under the same thread count and environment."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from slurm_cluster import profile_command, run, running_cluster, slurm_jobs, started
from test_resume_workflow import EPOCHS, METRIC, MODEL_DIR, one_model_config, state
from workflow_helpers import describe, run_snakemake, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

TRAIN_LOG = "results/logs/digits_distractor/train/pgd/1_4_8/seed=0.log"
RUN_TIMEOUT = 900
CHECKPOINT_TIMEOUT = 600
DATA = ["results/digits_distractor/data/train.pt", "results/digits_distractor/data/test.pt"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    yield from running_cluster(tmp_path_factory)


def command(cluster, workdir, configfile, *args):
    # One thread per job, in both runs: the profile's 8 would oversubscribe a small
    # machine's cores many times over (and equal thread counts are what bit-equality needs).
    threads = ["--set-threads", "train_model=1", "noise_robustness=1"]
    return profile_command(cluster, workdir, configfile, METRIC, *threads, *args)


def training_jobs(cluster) -> dict[str, dict[str, str]]:
    return {job["JobId"]: job for job in slurm_jobs(cluster) if job.get("Comment", "").startswith("rule_train_model")}


def release(cluster, job_id, timeout=60):
    """SLURM holds a requeued job for about two minutes (its BeginTime): once the killed
    job is pending again, set its start time to now."""
    deadline = time.monotonic() + timeout
    while (state := training_jobs(cluster)[job_id]["JobState"]) != "PENDING":
        assert time.monotonic() < deadline, f"job {job_id} still {state} after the requeue"
        time.sleep(0.2)
    update = cluster.client("scontrol", "update", f"JobId={job_id}", "StartTime=now")
    assert update.returncode == 0, update.stderr


def test_requeued_training_job_resumes_to_the_same_weights_and_table(cluster, tmp_path):
    configfile = write_config(tmp_path / "config.yaml", one_model_config())
    workdir, reference = tmp_path / "work", tmp_path / "undisturbed"
    workdir.mkdir()
    # The data sets are made locally: they are not what this test is about, and every
    # SLURM job costs the executor's status-check rounds.
    proc = run_snakemake(workdir, configfile, *DATA)
    assert proc.returncode == 0, describe(proc)
    proc = run(cluster, command(cluster, workdir, configfile), workdir, RUN_TIMEOUT)
    assert proc.returncode == 0, describe(proc)
    reference.mkdir()
    for path in (MODEL_DIR + "/model.pt", METRIC):
        shutil.copy(workdir / path, reference / Path(path).name)
    earlier = set(training_jobs(cluster))

    requeued = workdir
    checkpoint = requeued / MODEL_DIR / "checkpoint.pt"
    forced = command(cluster, requeued, configfile, "--forcerun", "train_model")
    with started(cluster, forced, requeued, RUN_TIMEOUT) as snakemake:
        deadline = time.monotonic() + CHECKPOINT_TIMEOUT
        while not checkpoint.exists():
            assert snakemake.poll() is None, f"snakemake ended before the first checkpoint:\n{snakemake.communicate()}"
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
        time.sleep(random.uniform(0, 0.5))  # somewhere in a later epoch
        (job_id,) = set(training_jobs(cluster)) - earlier
        requeue = cluster.client("scontrol", "requeue", job_id)
        assert requeue.returncode == 0, requeue.stderr
        release(cluster, job_id)
        assert not (requeued / MODEL_DIR / "model.pt").exists(), "requeued too late"
        stopped_after = torch.load(checkpoint, weights_only=True)["epoch"]
        assert 1 <= stopped_after < EPOCHS
        out, err = snakemake.communicate(timeout=RUN_TIMEOUT + 30)
    job = training_jobs(cluster)[job_id]
    assert snakemake.returncode == 0, f"{out[-3000:]}\n{err[-3000:]}\njob: {job}\n{cluster.diagnostics()}"
    assert job["JobState"] == "COMPLETED" and int(job["Restarts"]) == 1, job  # requeued, not resubmitted
    assert set(training_jobs(cluster)) - earlier == {job_id}
    log = (requeued / TRAIN_LOG).read_text()
    assert "resumed from" in log, log
    assert not checkpoint.exists(), "the checkpoint outlived the finished model"

    a, b = state(reference / "model.pt"), state(requeued / MODEL_DIR / "model.pt")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the undisturbed run"
    pd.testing.assert_frame_equal(pd.read_csv(reference / Path(METRIC).name), pd.read_csv(requeued / METRIC))
