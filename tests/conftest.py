"""Shared test setup: import ``pags`` from the source tree without installing it."""

import sys
from pathlib import Path

import pytest
import torch

WORKFLOW_DIR = Path(__file__).resolve().parents[1] / "workflow"
if str(WORKFLOW_DIR) not in sys.path:
    sys.path.insert(0, str(WORKFLOW_DIR))

# The tests' models are tiny: extra OpenMP threads only add overhead, and on a busy
# machine their spin-waiting slows each step by up to 100x.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The tiny config's whole DAG, run once for every test that reads or dry-runs it
    (a dry run changes no output and no metadata, so their order does not matter)."""
    from workflow_helpers import TinyRun, describe, run_snakemake

    run = TinyRun(tmp_path_factory.mktemp("tiny_run"))
    proc = run_snakemake(run.workdir, run.configfile)
    if proc.returncode != 0:
        pytest.fail(f"the tiny workflow failed: {describe(proc)}")
    run.proc = proc
    return run
