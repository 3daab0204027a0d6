"""A Python on a path with a space: Snakemake starts script jobs with the interpreter's path
unquoted (snakemake issue #2645), so the run stops before any job, naming the cause and the fix."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pags.errors import EnvironmentProblem
from pags.preflight import check_interpreter
from workflow_helpers import SNAKEFILE, describe, output, run_command, tiny_config, write_config


def test_an_interpreter_path_with_a_space_is_refused_naming_cause_and_fix():
    with pytest.raises(EnvironmentProblem, match=r"bash: /home/me/my: No such file.*#2645.*Fix: .*without spaces"):
        check_interpreter("/home/me/my venv/bin/python")
    check_interpreter("/home/me/venv/bin/python")
    check_interpreter(None)  # jobs run the Python of their conda environment


@pytest.mark.slow
def test_a_run_from_a_virtual_environment_on_a_path_with_a_space_stops_before_any_job(tmp_path):
    venv = tmp_path / "my venv"
    venv.symlink_to(Path(sys.prefix))  # the same environment, reached through a path with a space
    workdir = tmp_path / "work"
    workdir.mkdir()
    configfile = write_config(tmp_path / "config.yaml", tiny_config())
    command = [str(venv / "bin" / "python"), "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(workdir)]
    proc = run_command(
        [*command, "--configfile", str(configfile), "--replace-workflow-config", "--cores", "1"], workdir, 300
    )
    assert proc.returncode != 0 and "snakemake issue #2645" in " ".join(output(proc).split()), describe(proc)
    assert not (workdir / "results").exists() or not any((workdir / "results").rglob("*.pt")), "a job ran"
