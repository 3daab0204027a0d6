"""Shared test setup: import ``pags`` from the source tree without installing it."""

import os
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


# The quick set (`pytest -m "not slow"`) is the edit-test loop: a test not marked slow must
# stay under this much CPU time, its fixtures' and its subprocesses' included. CPU rather
# than wall time, so that a busy machine does not fail a quick test; a first test paying
# for a lazy import stays far below it. Only a quick-set run fails on it: a full run (CI,
# on machines of unknown speed) lists the overruns in its summary instead.
QUICK_TEST_CPU_SECONDS = 10.0
_CPU_AT_SETUP = pytest.StashKey[float]()


def cpu_seconds() -> float:
    """CPU time of this process and of the subprocesses it waited for."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def quick_set_run(config) -> bool:
    return "not slow" in (config.option.markexpr or "")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.stash[_CPU_AT_SETUP] = cpu_seconds()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.passed and item.get_closest_marker("slow") is None:
        used = cpu_seconds() - item.stash[_CPU_AT_SETUP]
        if used > QUICK_TEST_CPU_SECONDS:
            message = (
                f"{item.nodeid} took {used:.1f} s of CPU time, more than a quick test's "
                f"{QUICK_TEST_CPU_SECONDS:g} s: make it faster or mark it @pytest.mark.slow"
            )
            if quick_set_run(item.config):
                report.outcome = "failed"
                report.longrepr = message
            else:  # a report's properties travel from pytest-xdist's workers
                report.user_properties.append(("cpu_overrun", message))
    return report


def pytest_terminal_summary(terminalreporter, config):
    reports = terminalreporter.stats.get("passed", [])
    overruns = [m for r in reports for key, m in r.user_properties if key == "cpu_overrun"]
    if overruns:
        terminalreporter.section("quick tests over their CPU budget")
        for message in overruns:
            terminalreporter.line(message)


# pytest-xdist (`-n`, pyproject.toml's addopts) runs the suite in parallel processes with
# `--dist loadgroup`: the tests of one group run in one process, in order. Those that read
# the session's tiny run share one process, so that it runs once; the SLURM tests share
# another, so that one throwaway cluster (its daemons and its workflow run) runs at a time.
GROUPS = {"tiny_run": lambda item: "tiny_run" in item.fixturenames, "slurm": lambda item: "slurm" in item.keywords}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for group, member in GROUPS.items():
            if member(item):
                item.add_marker(pytest.mark.xdist_group(group))
                break


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one process per core, at most 4 (the tests' own Snakemake runs use 2
    cores each, and every process holds torch, about 600 MB)."""
    return max(1, min(4, len(os.sched_getaffinity(0))))
