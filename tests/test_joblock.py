"""One writer per model: a training job holds a lock beside its checkpoint, and a second
process that would train the same model (a requeued or resubmitted copy of the job while
the first still runs) stops at once, naming the holder, without touching the files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from pags.errors import JobLocked
from pags.joblock import exclusive
from workflow_helpers import describe, output, run_snakemake, tiny_config, write_config

HOLD = """
import sys, time
from pags.joblock import exclusive
with exclusive(sys.argv[1], "the model"):
    print("held", flush=True)
    time.sleep(600)
"""


def holding(lock):
    """A process that holds ``lock``, once it said so."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_holder_stops_naming_the_first(tmp_path):
    lock = tmp_path / "model" / "checkpoint.lock"
    proc = holding(lock)
    try:
        with pytest.raises(
            JobLocked, match=rf"the model is being written by another process \(host .*, pid {proc.pid};"
        ):
            with exclusive(lock, "the model"):
                pass
    finally:
        proc.terminate()
        proc.wait()
    with exclusive(lock, "the model"):  # a holder that ended released it
        assert lock.exists()
    assert not lock.exists()


def test_a_killed_holder_blocks_nothing(tmp_path):
    lock = tmp_path / "checkpoint.lock"
    proc = holding(lock)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert lock.exists()  # left behind, but no longer locked
    with exclusive(lock, "the model"):
        assert str(os.getpid()) in lock.read_text()


def test_nested_holders_in_one_process_are_two_writers(tmp_path):
    lock = tmp_path / "checkpoint.lock"
    with exclusive(lock, "the model"):
        with pytest.raises(JobLocked):
            with exclusive(lock, "the model"):
                pass


@pytest.mark.slow
def test_a_training_job_stops_while_another_holds_its_model(tmp_path):
    """The job fails at once with the message; the model is neither trained nor written."""
    config = tiny_config()
    workdir = tmp_path / "work"
    workdir.mkdir()
    configfile = write_config(tmp_path / "config.yaml", config)
    model = "results/digits_distractor/models/standard/0/seed=0/model.pt"
    proc = holding(workdir / "results/digits_distractor/models/standard/0/seed=0/checkpoint.lock")
    try:
        started = time.monotonic()
        run = run_snakemake(workdir, configfile, model)
    finally:
        proc.terminate()
        proc.wait()
    assert run.returncode != 0, describe(run)
    assert "is being written by another process" in output(run) and f"pid {proc.pid}" in output(run), describe(run)
    assert not (workdir / model).exists() and not (workdir / model).with_name("checkpoint.pt").exists()
    log = workdir / "results/logs/digits_distractor/train/standard/0/seed=0.log"
    assert "JobLocked" in log.read_text() and "epoch" not in log.read_text(), log.read_text()
    assert time.monotonic() - started < 600
