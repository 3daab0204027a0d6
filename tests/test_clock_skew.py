"""Inputs written on a node whose clock runs ahead: a finished job's outputs are never
older than its inputs, so Snakemake never fails it for clock skew and deletes its work
(``pags.runtime.settle_clock_skew``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from pags.runtime import settle_clock_skew
from workflow_helpers import REPO, subprocess_env


@pytest.fixture
def future_input(tmp_path):
    """An input written 2 minutes ahead of this node's clock, and an older one."""
    old, new = tmp_path / "data.pt", tmp_path / "model.pt"
    old.write_bytes(b"data")
    new.write_bytes(b"model")
    os.utime(new, (time.time(), time.time() + 120))
    return old, new


def test_a_job_waits_until_its_clock_has_passed_an_input_from_a_node_ahead(future_input):
    waits = []
    before = future_input[1].stat().st_mtime
    settle_clock_skew(future_input, sleep=waits.append)
    assert len(waits) == 1 and 119 < waits[0] < 121
    assert future_input[1].stat().st_mtime == before, "an input within the tolerance is left as it is"


def test_an_input_further_ahead_gets_this_nodes_time_and_keeps_its_contents(future_input):
    waits = []
    settle_clock_skew(future_input, wait_s=60, sleep=waits.append)
    assert waits == [] and future_input[1].stat().st_mtime <= time.time()
    assert future_input[1].read_bytes() == b"model"


def test_inputs_in_the_past_change_nothing(tmp_path):
    path = tmp_path / "data.pt"
    path.write_bytes(b"x")
    settle_clock_skew([path, tmp_path / "absent.pt"], sleep=lambda s: pytest.fail("waited"))


JOB = """
import sys, types
from pathlib import Path
from pags.runtime import job_log

source, output, log = sys.argv[1:]
with job_log(types.SimpleNamespace(log=[log], params=types.SimpleNamespace(), input=[source])):
    Path(output).write_text("x")
Path(output).touch()  # what Snakemake does to a job's outputs once it ended
"""


def test_a_job_ends_after_its_inputs_time(tmp_path):
    """A job (``job_log``) whose input was written 1.5 s ahead of this node's clock: its
    output, stamped when it ended, is not older than the input."""
    source, output = tmp_path / "model.pt", tmp_path / "metric.csv"
    source.write_bytes(b"model")
    os.utime(source, (time.time(), time.time() + 1.5))
    env = {**subprocess_env(), "PYTHONPATH": str(REPO / "workflow")}
    command = [sys.executable, "-c", JOB, str(source), str(output), str(tmp_path / "job.log")]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert output.stat().st_mtime >= source.stat().st_mtime
    assert "clock skew" in (tmp_path / "job.log").read_text()
