"""pags.slurm_groups: a SLURM group job's command runs its members at once (known answers);
tests/test_slurm_groups.py shows it on a cluster."""

from __future__ import annotations

import pytest
from pags.slurm_groups import JOBSTEP_ARGS, UnexpectedGroupCommand, members_at_once, run_group_members_at_once

COMMAND = "python -m snakemake --snakefile S --target-jobs a b --local-groupid g --cores 16 --force{} --mode remote"


def test_group_command_loses_the_jobstep_executor_and_its_one_job_limit():
    assert members_at_once(COMMAND.format(JOBSTEP_ARGS)) == COMMAND.format("")


def test_a_command_without_them_is_an_error_naming_the_module():
    with pytest.raises(UnexpectedGroupCommand, match="pags.slurm_groups"):
        members_at_once(COMMAND.format(""))


def test_only_group_jobs_change_and_the_wrapper_is_installed_once(monkeypatch):
    slurm = pytest.importorskip("snakemake_executor_plugin_slurm")
    monkeypatch.setattr(slurm.Executor, "format_job_exec", lambda self, job: COMMAND.format(JOBSTEP_ARGS))
    assert run_group_members_at_once() and run_group_members_at_once()

    class Job:
        def __init__(self, group):
            self.group = group

        def is_group(self):
            return self.group

    executor = object.__new__(slurm.Executor)
    assert executor.format_job_exec(Job(True)) == COMMAND.format("")
    assert executor.format_job_exec(Job(False)) == COMMAND.format(JOBSTEP_ARGS)
