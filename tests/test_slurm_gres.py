"""The SLURM profile's `--gres` route: what sbatch is asked for once the profile is switched.

Some sites accept GPUs only as a generic resource (``sbatch --gres=gpu:1``) and reject the
profile's default ``--gpus=1 --cpus-per-gpu=8``. slurm/config.yaml documents a one-line
switch to ``gres: "gpu:N"`` and ``cpus_per_task``; this test runs that exact command on a
copy of the profile, starts ``snakemake --profile <copy>`` for one autoencoder job, and
reads what the SLURM executor passed to ``sbatch``. (The grouped rules, training and the
per-model metrics, ask for their GPU as ``gres`` already: see tests/test_slurm.py.)

No cluster is needed: the SLURM commands the executor calls are stand-ins, first on
PATH. ``sbatch`` records its arguments and answers with a job id; ``squeue`` reports
every job as FAILED, should Snakemake get to its first status check; the test stops it as
soon as sbatch was called. The job's inputs are empty placeholder files, so it is the only
job (nothing runs it). Seconds.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import yaml

from workflow_helpers import DEMO_EXPERIMENTS, REPO, SNAKEFILE, subprocess_env, write_config

PROFILE = REPO / "slurm" / "config.yaml"
README = REPO / "README.md"
# The switch as slurm/config.yaml and the README give it, run from the repository root.
SWITCH = (
    """sed -i.orig -E -e 's/^( +)gpu: ([0-9]+)$/\\1gres: "gpu:\\2"/' """
    """-e 's/^( +)cpus_per_gpu:/\\1cpus_per_task:/' slurm/config.yaml"""
)
DATASET = "synthetic"
RULE = "train_autoencoder"
TARGET = f"results/{DATASET}/autoencoder/model.pt"
TIMEOUT = 120

FAKE_SLURM = """#!{python}
# Stand-in for the SLURM command this file is named after (see tests/test_slurm_gres.py).
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


def fake_slurm(bin_dir: Path, record: Path) -> None:
    bin_dir.mkdir()
    script = FAKE_SLURM.format(python=sys.executable, record=str(record))
    for command in COMMANDS:
        path = bin_dir / command
        path.write_text(script)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)


def submitted(record: Path) -> bool:
    """sbatch was called and wrote its whole line."""
    return record.is_file() and record.read_text().endswith("\n")


def test_the_switch_is_documented_verbatim():
    assert SWITCH in PROFILE.read_text(), "slurm/config.yaml does not give the switch this test runs"
    assert SWITCH in README.read_text(), "the README does not give the switch this test runs"


def switched_profile(root: Path) -> Path:
    """A copy of the shipped profile after the documented switch; returns its directory."""
    (root / "slurm").mkdir(parents=True)
    (root / "slurm" / "config.yaml").write_text(PROFILE.read_text())
    proc = subprocess.run(["bash", "-c", SWITCH], cwd=root, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return root / "slurm"


def test_switch_turns_every_gpu_request_into_gres(tmp_path):
    original = yaml.safe_load(PROFILE.read_text())
    switched = yaml.safe_load((switched_profile(tmp_path) / "config.yaml").read_text())
    gpu_rules = {rule for rule, r in original["set-resources"].items() if "gpu" in r}
    assert {"train_autoencoder", "train_denoiser", "score"} <= gpu_rules
    grouped = set(original["groups"])
    assert all(original["set-resources"][rule]["gres"] == "gpu:1" for rule in grouped), "grouped rules use gres"
    for rule, resources in switched["set-resources"].items():
        before = original["set-resources"][rule]
        if rule not in gpu_rules:
            assert resources == before, rule
            continue
        assert resources["gres"] == f"gpu:{before['gpu']}", rule
        assert resources["cpus_per_task"] == before["cpus_per_gpu"] == switched["set-threads"][rule], rule
        assert "gpu" not in resources and "cpus_per_gpu" not in resources, rule
        rest = {k: v for k, v in resources.items() if k not in ("gres", "cpus_per_task")}
        assert rest == {k: v for k, v in before.items() if k not in ("gpu", "cpus_per_gpu")}, rule
    assert {k: v for k, v in switched.items() if k != "set-resources"} == {
        k: v for k, v in original.items() if k != "set-resources"
    }


def test_gres_profile_submits_gres_and_cpus_per_task(tmp_path):
    profile = switched_profile(tmp_path / "profile")
    record = tmp_path / "sbatch_calls.jsonl"
    fake_slurm(tmp_path / "bin", record)
    workdir = tmp_path / "work"
    data = workdir / "results" / DATASET / "data"
    data.mkdir(parents=True)
    for split in ("train", "test"):
        (data / f"{split}.pt").touch()
    configfile = write_config(tmp_path / "config.yaml", yaml.safe_load(DEMO_EXPERIMENTS.read_text()))
    command = [
        sys.executable, "-m", "snakemake", "--profile", str(profile), "-s", str(SNAKEFILE),
        "--directory", str(workdir), "--configfile", str(configfile), "--replace-workflow-config",
        "--slurm-no-account", "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
        "--retries", "0", "--jobs", "1", TARGET,
    ]  # fmt: skip
    env = {**subprocess_env(), "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen(
        command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # Snakemake ends by itself once the stand-in squeue says FAILED, but takes ~10 s
        # more to shut its executor down; what is tested is there once sbatch was called.
        deadline = time.monotonic() + TIMEOUT
        while proc.poll() is None and time.monotonic() < deadline and not submitted(record):
            time.sleep(0.2)
    finally:
        proc.kill()
        log = proc.communicate()[0]
    assert submitted(record), f"sbatch was not called; Snakemake's output:\n{log[-6000:]}"
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(calls) == 1, calls
    argv = calls[0]
    print("sbatch", " ".join(a for a in argv if not a.startswith("--wrap=")), "--wrap=...")
    assert any(a.startswith("--comment") for a in argv) and f"rule_{RULE}_wildcards_" in " ".join(argv), argv
    assert "--gres=gpu:1" in argv, argv
    threads = yaml.safe_load(PROFILE.read_text())["set-threads"][RULE]
    assert f"--cpus-per-task={threads}" in argv, argv
    assert not [a for a in argv if a.startswith(("--gpus", "--cpus-per-gpu"))], argv
    assert "--mem" in argv and argv[argv.index("--mem") + 1] == "32000", argv
    assert "-t" in argv and argv[argv.index("-t") + 1] == "240", argv
    # Warned 2 minutes before its time limit, the job saves its state and exits (README, "What survives what")
    assert "--signal=TERM@120" in argv, argv
