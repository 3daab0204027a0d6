"""Stand-ins for the SLURM commands, to see what Snakemake's SLURM executor submits.

No cluster is needed: the commands the executor calls are small scripts first on PATH.
``sbatch`` records its arguments (one JSON line per call) and answers with a job id;
``squeue`` and ``sacct`` report every submitted job as FAILED, so that Snakemake retries
it (the profile's ``retries``) and every attempt's ``sbatch`` call is recorded. A test
stops Snakemake once it has seen the calls it wants (``submissions``).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

from workflow_helpers import subprocess_env

FAKE_SLURM = """#!{python}
# Stand-in for the SLURM command this file is named after (see tests/fake_slurm.py).
import json, os, sys
record = {record!r}
command = os.path.basename(sys.argv[0])
if command == "sbatch":
    with open(record, "a") as f:
        f.write(json.dumps(sys.argv[1:]) + "\\n")
    with open(record) as f:
        print(1000 + sum(1 for _ in f))
elif command in ("squeue", "sacct") and os.path.exists(record):
    with open(record) as f:
        for number, _ in enumerate(f, 1001):
            print(f"{{number}}|FAILED")
elif command == "scontrol" and sys.argv[1:3] == ["show", "config"]:
    print("MaxArraySize = 1001")
    print("MinJobAge = 300")
"""
COMMANDS = ("sbatch", "squeue", "sacct", "scancel", "scontrol", "sinfo", "sacctmgr", "sshare")
# Options that say what the stand-ins are: no account, squeue for job status, the first
# status check after a second.
FAKE_SITE = (
    "--slurm-no-account",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "1",
)


def fake_slurm(bin_dir: Path, record: Path) -> None:
    bin_dir.mkdir()
    script = FAKE_SLURM.format(python=sys.executable, record=str(record))
    for command in COMMANDS:
        path = bin_dir / command
        path.write_text(script)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)


def calls(record: Path) -> list[list[str]]:
    """The arguments of each finished ``sbatch`` call, in order."""
    if not record.is_file():
        return []
    return [json.loads(line) for line in record.read_text().splitlines(keepends=True) if line.endswith("\n")]


def submissions(
    command: list[str], cwd: Path, tmp_path: Path, wanted: int, timeout: float
) -> tuple[list[list[str]], str]:
    """Run ``command`` (a Snakemake run with the SLURM executor) with the stand-ins first on
    PATH until ``sbatch`` was called ``wanted`` times, Snakemake ended, or ``timeout``
    seconds passed; returns the ``sbatch`` calls and Snakemake's output."""
    record = tmp_path / "sbatch_calls.jsonl"
    fake_slurm(tmp_path / "bin", record)
    env = {**subprocess_env(), "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        # Snakemake ends by itself once it gave up on the FAILED jobs, but takes ~10 s
        # more to shut its executor down; what is tested is there once sbatch was called.
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline and len(calls(record)) < wanted:
            time.sleep(0.2)
    finally:
        proc.kill()
        log = proc.communicate()[0]
    return calls(record), log


def option(argv: list[str], name: str) -> str | None:
    """The value of ``sbatch`` option ``name`` (``-t``, ``--mem``) in ``argv``, if given."""
    return argv[argv.index(name) + 1] if name in argv else None
