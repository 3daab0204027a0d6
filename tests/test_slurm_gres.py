"""The SLURM profile's `--gres` route: what sbatch is asked for once the profile is switched.

Some sites accept GPUs only as a generic resource (``sbatch --gres=gpu:1``) and reject the
profile's default ``--gpus=1 --cpus-per-gpu=8``. slurm/config.yaml documents a one-line
switch to ``gres: "gpu:N"`` and ``cpus_per_task``; this test runs that exact command on a
copy of the profile, starts ``snakemake --profile <copy>`` for one autoencoder job, and
reads what the SLURM executor passed to ``sbatch``. (The grouped rules, training and the
per-model metrics, ask for their GPU as ``gres`` already: see tests/test_slurm.py.)

No cluster is needed: the SLURM commands the executor calls are stand-ins
(tests/fake_slurm.py); the test stops Snakemake as soon as sbatch was called. The job's
inputs are empty placeholder files, so it is the only job (nothing runs it). Seconds.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fake_slurm import FAKE_SITE, option, submissions
from workflow_helpers import DEMO_EXPERIMENTS, REPO, SNAKEFILE, accept_results, write_config

PROFILE = REPO / "slurm" / "config.yaml"
CLUSTER_GUIDE = REPO / "docs" / "cluster.md"
# The switch as slurm/config.yaml and docs/cluster.md give it, run from the repository root.
SWITCH = (
    """sed -i.orig -E -e 's/^( +)gpu: ([0-9]+)$/\\1gres: "gpu:\\2"/' """
    """-e 's/^( +)cpus_per_gpu:/\\1cpus_per_task:/' slurm/config.yaml"""
)
DATASET = "synthetic"
RULE = "train_autoencoder"
TARGET = f"results/{DATASET}/autoencoder/model.pt"
TIMEOUT = 120


def test_the_switch_is_documented_verbatim():
    assert SWITCH in PROFILE.read_text(), "slurm/config.yaml does not give the switch this test runs"
    assert SWITCH in CLUSTER_GUIDE.read_text(), "docs/cluster.md does not give the switch this test runs"


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


@pytest.mark.slow
def test_gres_profile_submits_gres_and_cpus_per_task(tmp_path):
    profile = switched_profile(tmp_path / "profile")
    workdir = tmp_path / "work"
    data = workdir / "results" / DATASET / "data"
    data.mkdir(parents=True)
    for split in ("train", "test"):
        (data / f"{split}.pt").touch()
    configfile = write_config(tmp_path / "config.yaml", yaml.safe_load(DEMO_EXPERIMENTS.read_text()))
    accept_results(workdir, configfile, *data.iterdir())
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--profile",
        str(profile),
        "-s",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        *FAKE_SITE,
        "--retries",
        "0",
        "--jobs",
        "1",
        TARGET,
    ]
    calls, log = submissions(command, workdir, tmp_path, wanted=1, timeout=TIMEOUT)
    assert calls, f"sbatch was not called; Snakemake's output:\n{log[-6000:]}"
    assert len(calls) == 1, calls
    argv = calls[0]
    print("sbatch", " ".join(a for a in argv if not a.startswith("--wrap=")), "--wrap=...")
    assert any(a.startswith("--comment") for a in argv) and f"rule_{RULE}_wildcards_" in " ".join(argv), argv
    assert "--gres=gpu:1" in argv, argv
    threads = yaml.safe_load(PROFILE.read_text())["set-threads"][RULE]
    assert f"--cpus-per-task={threads}" in argv, argv
    assert not [a for a in argv if a.startswith(("--gpus", "--cpus-per-gpu"))], argv
    assert option(argv, "--mem") == "32000", argv
    assert option(argv, "-t") == "240", argv
    # Warned 2 minutes before its time limit, the job saves its state and exits (docs/reproducibility.md, "What survives what")
    assert "--signal=TERM@120" in argv, argv
