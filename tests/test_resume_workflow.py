"""A training job killed at a random point resumes from its checkpoint and ends with the
same weights and metric table as an uninterrupted run (CPU, fixed seed): which also
shows that two runs of one config give identical models and tables."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from workflow_helpers import SNAKEFILE, describe, run_snakemake, subprocess_env, tiny_config, write_config

pytestmark = pytest.mark.slow

MODEL_DIR = "results/digits_distractor/models/pgd/1_4_8/seed=0"
METRIC = "results/digits_distractor/metrics/pgd/1_4_8/seed=0/noise_robustness.csv"
EPOCHS = 6


def one_model_config():
    config = tiny_config()
    distractor = config["distractor"]
    distractor["training"].update(epochs=EPOCHS, milestones=[3])
    distractor["objectives"] = {"pgd": distractor["objectives"]["pgd"]}
    return config


def start_snakemake(workdir, configfile, target):
    command = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir),
               "--configfile", str(configfile), "--replace-workflow-config", "--cores", "1", target]  # fmt: skip
    # Its own process group, so that the kill reaches the training script too.
    return subprocess.Popen(command, cwd=workdir, env=subprocess_env(), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def kill_after_first_checkpoint(proc, checkpoint, timeout=300):
    deadline = time.monotonic() + timeout
    while not checkpoint.exists():
        assert proc.poll() is None, "snakemake ended before the first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    time.sleep(random.uniform(0, 0.5))  # somewhere in a later epoch
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def state(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_killed_training_resumes_to_the_same_weights_and_table(tmp_path):
    configfile = write_config(tmp_path / "config.yaml", one_model_config())
    uninterrupted, killed = tmp_path / "uninterrupted", tmp_path / "killed"
    uninterrupted.mkdir()
    killed.mkdir()

    proc = run_snakemake(uninterrupted, configfile, METRIC)
    assert proc.returncode == 0, describe(proc)

    checkpoint = killed / MODEL_DIR / "checkpoint.pt"
    kill_after_first_checkpoint(start_snakemake(killed, configfile, METRIC), checkpoint)
    assert checkpoint.exists() and not (killed / MODEL_DIR / "model.pt").exists(), "killed too late"
    stopped_after = torch.load(checkpoint, weights_only=True)["epoch"]
    assert 1 <= stopped_after < EPOCHS

    # What a user does after Snakemake itself was killed: unlock, then run again.
    assert run_snakemake(killed, configfile, "--unlock").returncode == 0
    proc = run_snakemake(killed, configfile, METRIC, "--rerun-incomplete")
    assert proc.returncode == 0, describe(proc)
    log = (killed / "results/logs/digits_distractor/train/pgd/1_4_8/seed=0.log").read_text()
    assert "resumed from" in log, log
    assert not checkpoint.exists(), "the checkpoint outlived the finished model"

    a, b = state(uninterrupted / MODEL_DIR / "model.pt"), state(killed / MODEL_DIR / "model.pt")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    pd.testing.assert_frame_equal(pd.read_csv(uninterrupted / METRIC), pd.read_csv(killed / METRIC))
