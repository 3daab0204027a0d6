"""SLURM group jobs whose members run at once, sharing the group's one allocation.

The SLURM profile groups training jobs (several models per GPU) and per-model metric jobs
(`groups`, `group-components` in slurm/config.yaml). Snakemake's SLURM executor
(snakemake-executor-plugin-slurm, up to 2.8 at least) runs a group job's command inside
the allocation as ``snakemake ... --executor slurm-jobstep --jobs 1``, and that executor
waits for each member's ``srun`` step to end before it starts the next: the members of a
group run one after the other (upstream issue snakemake-executor-plugin-slurm#469), so
four trainings of one GPU allocation would take four times as long, one by one.

:func:`run_group_members_at_once` drops those two options from a group job's command
only, so that the Snakemake inside the allocation runs the members with its local
executor: as many at once as ``--cores`` (the profile's ``cores``) and their ``threads``
allow, as processes of the job's batch step, which sees the job's GPU. Jobs that are not
groups keep the executor's own command.
"""

from __future__ import annotations

# What the executor appends to every job's command (its `additional_general_args`).
JOBSTEP_ARGS = " --executor slurm-jobstep --jobs 1"


class UnexpectedGroupCommand(RuntimeError):
    """The SLURM executor's group command no longer has the options this module removes."""


def members_at_once(command: str) -> str:
    """A group job's command without the jobstep executor and its one-job limit.

    Raises UnexpectedGroupCommand when the command lacks them (a newer executor): then
    the members would run one by one, or this module would be no longer needed."""
    if JOBSTEP_ARGS not in command:
        raise UnexpectedGroupCommand(
            f"the SLURM executor's command for a group job lacks {JOBSTEP_ARGS.strip()!r}, which "
            "pags.slurm_groups removes so that a group's members run at once; check whether "
            "this executor version still runs them one by one (snakemake-executor-plugin-slurm "
            "issue 469) and update or drop pags.slurm_groups"
        )
    return command.replace(JOBSTEP_ARGS, "", 1)


def run_group_members_at_once() -> bool:
    """Have the SLURM executor plugin submit group jobs whose members run at once.

    Wraps the plugin's ``Executor.format_job_exec``, once per process; a no-op (False)
    where the plugin is not installed."""
    try:
        from snakemake_executor_plugin_slurm import Executor
    except ImportError:
        return False
    original = Executor.format_job_exec
    if getattr(original, "members_at_once", False):
        return True

    def format_job_exec(self, job):
        command = original(self, job)
        return members_at_once(command) if job.is_group() else command

    format_job_exec.members_at_once = True
    Executor.format_job_exec = format_job_exec
    return True
