"""What a target on the command line plans: only what it needs, under every profile, and a
name that is no target gets the list of the figure targets."""

from __future__ import annotations

import sys

import pytest
from workflow_helpers import DRY_RUN_TIMEOUT, REPO, describe, output, planned_jobs, run_command


def dry_run(*args: str):
    # --forceall: the plan does not depend on what an earlier demo run left in results/
    command = [sys.executable, "-m", "snakemake", "--profile", "demo", "-n", "--forceall", *args]
    return run_command(command, cwd=REPO, timeout=DRY_RUN_TIMEOUT)


@pytest.mark.slow
def test_one_figure_of_the_demo_plans_only_what_it_needs():
    """The demo schedules its longest jobs first without making them targets: its tangent
    noise figure needs the synthetic data, the autoencoder and its tangent spaces, no
    distractor training and no other figure."""
    proc = dry_run("fig_tangent_noise")
    assert proc.returncode == 0, describe(proc)
    assert planned_jobs(proc) == {
        "synthetic_dataset": 1,
        "train_autoencoder": 1,
        "tangent_spaces": 1,
        "fig_tangent_noise": 1,
    }, describe(proc)


@pytest.mark.slow
def test_an_unknown_target_lists_the_figure_targets():
    proc = dry_run("fig_noise_robustnes")
    text = output(proc)
    assert proc.returncode != 0, describe(proc)
    assert "'fig_noise_robustnes' is not a target of this workflow" in text, describe(proc)
    for figure in ("fig_noise_robustness", "fig_distractor", "fig_tangent_noise", "fig_ground_truth", "fig_gallery"):
        assert figure in text, describe(proc)
    assert planned_jobs(proc) == {}, describe(proc)
