"""A training job killed (SIGKILL) or stopped (SIGTERM, as SLURM does at a time limit, on
``scancel`` and on preemption) at a random point resumes from its checkpoint and ends with
the same weights and metric table as an uninterrupted run (CPU, fixed seed): which also
shows that two runs of one config give identical models and tables. A checkpoint of other
code is not continued; code edited while a run goes on is never recorded as the code the
run was planned with."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
from workflow_helpers import (
    SNAKEFILE,
    copy_workflow,
    describe,
    nothing_to_be_done,
    planned_job_blocks,
    planned_jobs,
    run_snakemake,
    subprocess_env,
    tiny_config,
    write_config,
)

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


def start_snakemake(workdir, configfile, targets, snakefile=SNAKEFILE):
    targets = [targets] if isinstance(targets, str) else targets
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(snakefile),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        "--replace-workflow-config",
        "--cores",
        "1",
        *targets,
    ]
    # Its own process group, so that the signal reaches the training script too (SLURM
    # signals every process of a job).
    return subprocess.Popen(
        command,
        cwd=workdir,
        env=subprocess_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(proc, path, timeout=300):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"snakemake ended before {path} appeared"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)


def stop_after_first_checkpoint(proc, checkpoint, signum=signal.SIGKILL):
    wait_for(proc, checkpoint)
    time.sleep(random.uniform(0, 0.5))  # somewhere in a later epoch
    os.killpg(proc.pid, signum)
    proc.wait(timeout=60)


def state(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    directory = tmp_path_factory.mktemp("uninterrupted")
    configfile = write_config(directory / "config.yaml", one_model_config())
    proc = run_snakemake(directory, configfile, METRIC)
    assert proc.returncode == 0, describe(proc)
    return directory, configfile


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_stopped_training_resumes_to_the_same_weights_and_table(tmp_path, uninterrupted, signum):
    reference, configfile = uninterrupted
    killed = tmp_path / "killed"
    killed.mkdir()
    checkpoint = killed / MODEL_DIR / "checkpoint.pt"
    stop_after_first_checkpoint(start_snakemake(killed, configfile, METRIC), checkpoint, signum)
    assert checkpoint.exists() and not (killed / MODEL_DIR / "model.pt").exists(), "stopped too late"
    saved = torch.load(checkpoint, weights_only=True)["state"]
    assert 1 <= saved["epoch"] < EPOCHS
    log = killed / "results/logs/digits_distractor/train/pgd/1_4_8/seed=0.log"
    if signum == signal.SIGTERM:  # the job saved its state as it stopped and left no partial file
        assert "stopped by SIGTERM" in log.read_text(), log.read_text()
        assert not list((killed / "results").rglob("*.tmp"))

    # What a user does after Snakemake itself was killed: unlock, then run again.
    assert run_snakemake(killed, configfile, "--unlock").returncode == 0
    proc = run_snakemake(killed, configfile, METRIC, "--rerun-incomplete")
    assert proc.returncode == 0, describe(proc)
    assert "resumed from" in log.read_text(), log.read_text()
    assert not checkpoint.exists(), "the checkpoint outlived the finished model"

    a, b = state(reference / MODEL_DIR / "model.pt"), state(killed / MODEL_DIR / "model.pt")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    pd.testing.assert_frame_equal(pd.read_csv(reference / METRIC), pd.read_csv(killed / METRIC))


# A real change to what training computes: label smoothing in the PGD objective's loss.
EDIT = ("objectives/pgd.py", "cross_entropy(model(x_adv), y)", "cross_entropy(model(x_adv), y, label_smoothing=0.1)")
# ... and one in what every objective's module imports (how a strength is drawn).
SHARED_EDIT = ("objectives/spec.py", "if len(values) == 1:", "if len(values) <= 1:")


def edit_objectives(snakefile, edit=EDIT):
    name, old, new = edit
    path = snakefile.parent / "workflow" / "pags" / name
    source = path.read_text()
    assert source.count(old) >= 1, f"{name} no longer has {old!r}"
    path.write_text(source.replace(old, new))


def test_a_checkpoint_of_other_code_starts_afresh_and_the_log_says_why(tmp_path):
    snakefile = copy_workflow(tmp_path / "repo")
    configfile = write_config(tmp_path / "config.yaml", one_model_config())
    work = tmp_path / "work"
    work.mkdir()
    checkpoint = work / MODEL_DIR / "checkpoint.pt"
    stop_after_first_checkpoint(start_snakemake(work, configfile, METRIC, snakefile), checkpoint)

    edit_objectives(snakefile)
    assert run_snakemake(work, configfile, "--unlock", snakefile=snakefile).returncode == 0
    proc = run_snakemake(work, configfile, MODEL_DIR + "/model.pt", "--rerun-incomplete", snakefile=snakefile)
    assert proc.returncode == 0, describe(proc)
    log = (work / "results/logs/digits_distractor/train/pgd/1_4_8/seed=0.log").read_text()
    assert "resumed from" not in log, log
    assert f"starting afresh: checkpoint {MODEL_DIR}/checkpoint.pt was written by a job with other code" in log, log
    assert json.loads((work / MODEL_DIR / "train.json").read_text())["resumed_after_epoch"] == 0


def test_code_edited_during_a_run_is_never_recorded_as_the_planned_code(tmp_path):
    """Two trainings, one after the other; the objectives' shared module is edited while
    the first trains and reverted after the run: the second job never records the planned
    digest for the edited code, so the dry run plans it again rather than keep a model of
    other code as current."""
    config = one_model_config()
    config["distractor"]["objectives"]["standard"] = {"grid": [0]}
    configfile = write_config(tmp_path / "config.yaml", config)
    snakefile = copy_workflow(tmp_path / "repo")
    work = tmp_path / "work"
    work.mkdir()
    models = {name: work / f"results/digits_distractor/models/{name}/seed=0" for name in ("pgd/1_4_8", "standard/0")}
    proc = start_snakemake(work, configfile, [f"{d.relative_to(work)}/model.pt" for d in models.values()], snakefile)
    deadline = time.monotonic() + 300
    while not any((d / "checkpoint.pt").exists() for d in models.values()):  # the first is training
        assert proc.poll() is None and time.monotonic() < deadline, "no training started"
        time.sleep(0.02)
    first = next(name for name, d in models.items() if (d / "checkpoint.pt").exists())
    second = next(name for name in models if name != first)
    edit_objectives(snakefile, SHARED_EDIT)
    refused = proc.wait(timeout=600) != 0
    name, old, new = SHARED_EDIT
    edit_objectives(snakefile, (name, new, old))  # reverted

    # A job on one model takes its code version when Snakemake schedules it (its params
    # are a function of the model): the second training either records the edited code
    # it ran, or, had the edit come between its scheduling and its start, refuses to run.
    second_log = (work / "results/logs/digits_distractor/train" / f"{second}" / "seed=0.log").read_text()
    assert not refused or "the code changed since the run was planned" in second_log, second_log
    assert (models[first] / "model.pt").exists()
    dry = run_snakemake(
        work, configfile, *(f"{d.relative_to(work)}/model.pt" for d in models.values()), "-n", snakefile=snakefile
    )
    assert not nothing_to_be_done(dry), describe(dry)
    assert planned_jobs(dry) == {"train_model": 1}, describe(dry)
    (job,) = [job for job in planned_job_blocks(dry) if job["rule"] == "train_model"]
    assert f"{job['wildcards']['objective']}/{job['wildcards']['strength']}" == second, describe(dry)
