"""The SLURM profile on a first day: your own config, retries within the partitions' time
limits, downloads on the submitting node, and what can be known checked before any job.

No cluster is needed: the SLURM commands are stand-ins (tests/fake_slurm.py), which
record every ``sbatch`` call and report every job as FAILED, so that Snakemake retries it
and each attempt's call can be read, and so that a test sees whether anything was
submitted at all. Each Snakemake run takes tens of seconds (marked slow).
"""

from __future__ import annotations

import hashlib
import math
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from fake_slurm import FAKE_SITE, option, submissions
from slurm_cluster import read_profile
from workflow_helpers import (
    REPO,
    SNAKEFILE,
    accept_results,
    describe,
    planned_job_blocks,
    planned_jobs,
    run_command,
    tiny_config,
    write_config,
)

PROFILE = REPO / "slurm"
README = REPO / "README.md"
CLUSTER_GUIDE = REPO / "docs" / "cluster.md"
TIMEOUT = 180
DISTRACTOR_RULES = {
    "base_dataset",
    "distractor_dataset",
    "train_model",
    "noise_robustness",
    "noise_robustness_table",
    "fig_noise_robustness",
    "fig_distractor",
    "claims",
    "all",
}
# The line of slurm/config.yaml that sets the GPU partition's time limit, as docs/cluster.md gives it.
GPU_LIMIT = "GPU_PARTITION_MAX_MINUTES = 1440"


def snakemake(profile: Path, workdir: Path, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--profile",
        str(profile),
        "-s",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        *args,
    ]


@pytest.mark.slow
def test_your_own_config_replaces_config_yaml(tmp_path):
    """In a clone, config.yaml lies in the working directory: `--configfile my.yaml` under
    the SLURM profile plans my.yaml alone, not the paper's experiments merged with it."""
    workdir = tmp_path / "clone"
    workdir.mkdir()
    shutil.copy(REPO / "config.yaml", workdir / "config.yaml")
    mine = write_config(tmp_path / "my.yaml", tiny_config())  # the distractor experiment only
    proc = run_command(snakemake(PROFILE, workdir, "--configfile", str(mine), "-n"), cwd=workdir, timeout=TIMEOUT)
    assert proc.returncode == 0, describe(proc)
    planned = planned_jobs(proc)
    assert set(planned) == DISTRACTOR_RULES, describe(proc)
    assert planned["train_model"] == 2, planned  # standard and pgd, one seed
    assert "snakemake --profile slurm --configfile" in README.read_text(), "the README does not show how"


@pytest.mark.slow
def test_retries_stay_within_the_partitions_time_limit(tmp_path):
    """A training that fails twice is submitted three times, each with more time, never
    more than the GPU partition allows (720, 1440, then 1440 rather than 2160 minutes)."""
    workdir = tmp_path / "work"
    config = tiny_config()
    data = workdir / "results" / "digits_distractor" / "data"
    data.mkdir(parents=True)
    for split in ("train", "test"):
        (data / f"{split}.pt").touch()  # placeholders: the training is the only job
    configfile = write_config(tmp_path / "config.yaml", config)
    accept_results(workdir, configfile, *data.iterdir())
    target = "results/digits_distractor/models/standard/0/seed=0/model.pt"
    command = snakemake(
        PROFILE, workdir, "--configfile", str(configfile), *FAKE_SITE, "--retries", "2", "--jobs", "1", target
    )
    calls, log = submissions(command, workdir, tmp_path, wanted=3, timeout=TIMEOUT)
    assert len(calls) == 3, f"{len(calls)} sbatch calls; Snakemake's output:\n{log[-6000:]}"
    assert [option(argv, "-t") for argv in calls] == ["720", "1440", "1440"], calls
    assert [option(argv, "--mem") for argv in calls] == ["16000", "32000", "48000"], calls


def runtime(resources: dict, attempt: int) -> float:
    value = resources["runtime"]
    return eval(value, {"attempt": attempt}) if isinstance(value, str) else value


def test_each_partitions_time_limit_is_one_value_of_the_profile(tmp_path):
    """Lowering the GPU partition's limit in its one line caps every GPU rule's retries, and
    a group's runtime (its members' rounds one after the other) stays within it too."""
    assert GPU_LIMIT in (PROFILE / "config.yaml").read_text() and GPU_LIMIT in CLUSTER_GUIDE.read_text()
    edited = tmp_path / "config.yaml"
    edited.write_text((PROFILE / "config.yaml").read_text().replace(GPU_LIMIT, "GPU_PARTITION_MAX_MINUTES = 1000"))
    shipped, lowered = read_profile(), read_profile(edited)
    gpu_rules = {rule for rule, r in shipped["set-resources"].items() if "gpu" in r or "gres" in r}
    assert {"train_model", "train_denoiser", "alignment"} <= gpu_rules
    for rule in gpu_rules:
        for attempt in range(1, 6):
            full = runtime(shipped["set-resources"][rule], attempt)
            assert full <= 1440, (rule, attempt, full)
            assert runtime(lowered["set-resources"][rule], attempt) == min(full, 1000), (rule, attempt)
    groups, sizes, cores = shipped["groups"], shipped["group-components"], shipped["cores"]
    for rule, group in groups.items():
        at_once = cores // shipped["set-threads"][rule]
        rounds = math.ceil(sizes[group] / at_once)
        for attempt in range(1, shipped["retries"] + 2):
            assert rounds * runtime(shipped["set-resources"][rule], attempt) <= 1440, (rule, attempt)


def mnist_config(root: Path) -> Path:
    config = tiny_config()
    config["distractor"]["dataset"] = "mnist"
    config["data"] = {"root": str(root), "download": True}
    return write_config(root.parent / "mnist.yaml", config)


@pytest.mark.slow
def test_downloads_run_on_the_submitting_node(tmp_path):
    """MNIST's data jobs download: they are jobs of the local rule fetch_dataset (the next
    test shows that they run on the submitting node); `snakemake prefetch` plans them
    and nothing else."""
    workdir = tmp_path / "work"
    configfile = mnist_config(tmp_path / "data")
    proc = run_command(
        snakemake(PROFILE, workdir, "--configfile", str(configfile), "-n"), cwd=tmp_path, timeout=TIMEOUT
    )
    assert proc.returncode == 0, describe(proc)
    data_jobs = [j for j in planned_job_blocks(proc) if j.get("output", "").startswith("results/mnist/data/")]
    assert len(data_jobs) == 2 and {j["rule"] for j in data_jobs} == {"fetch_dataset"}, data_jobs
    proc = run_command(
        snakemake(PROFILE, workdir, "--configfile", str(configfile), "-n", "prefetch"), cwd=tmp_path, timeout=TIMEOUT
    )
    assert planned_jobs(proc) == {"fetch_dataset": 2, "prefetch": 1}, describe(proc)


@pytest.mark.slow
def test_an_offline_download_fails_on_the_submitting_node_and_says_why(tmp_path):
    """Without the internet (here: every proxy refuses), the download fails before anything
    is submitted, naming the address, the reason and the fix."""
    workdir = tmp_path / "work"
    configfile = mnist_config(tmp_path / "data")
    command = snakemake(PROFILE, workdir, "--configfile", str(configfile), *FAKE_SITE, "--jobs", "1", "--retries", "0")
    calls, log = submissions(command, tmp_path, tmp_path, wanted=1, timeout=TIMEOUT)
    assert calls == [], "a data job was submitted to the cluster"
    job_log = (workdir / "results/logs/mnist/data_train.log").read_text()
    assert re.search(r"cannot download https://\S+/train-images-idx3-ubyte.gz: .*[Cc]onnection refused", job_log), (
        job_log
    )
    assert "snakemake prefetch" in job_log, job_log


def cifar10_config(
    tmp_path: Path, workdir: Path, alexnet: bytes, alexnet_pin: str | None, edm_source: str | None
) -> Path:
    """A small CIFAR-10 sweep with EDM's score and LPIPS, its weight files in place."""
    paper = yaml.safe_load((REPO / "config.yaml").read_text())
    sweep = paper["sweep"]["cifar10"]
    sweep.update(
        seeds=[0],
        objectives={
            "standard": sweep["objectives"]["standard"],
            "gnorm": {**sweep["objectives"]["gnorm"], "grid": [0.1]},
        },
    )
    sweep["score"].update(backends=["edm"])
    weights = workdir / "results" / "weights"
    weights.mkdir(parents=True)
    (weights / "alexnet").write_bytes(alexnet)
    (weights / sweep["score"]["edm_network"]).write_bytes(b"an EDM network")
    config = {
        **tiny_config(),
        "data": {"root": str(tmp_path / "data"), "download": True},
        "sweep": {"cifar10": sweep},
        "figures": {"galleries": {}},
        "edm_source": edm_source,
        "weights": {
            "alexnet": {"url": None, "sha256": alexnet_pin},
            sweep["score"]["edm_network"]: {"url": None, "sha256": hashlib.sha256(b"an EDM network").hexdigest()},
        },
    }
    return write_config(tmp_path / "cifar10.yaml", config)


@pytest.mark.slow
@pytest.mark.parametrize("problem", ["weight digest", "edm_source"])
def test_problems_known_before_any_job_stop_the_run_before_any_job(tmp_path, problem):
    """A weight file in place whose digest is not the pinned one, or EDM's networks with no
    EDM source to unpickle them: one error at startup, nothing submitted, no job run."""
    workdir = tmp_path / "work"
    edm = tmp_path / "edm"
    edm.mkdir()
    alexnet = b"not AlexNet" if problem == "weight digest" else b"AlexNet"
    configfile = cifar10_config(
        tmp_path,
        workdir,
        alexnet,
        hashlib.sha256(b"AlexNet").hexdigest(),
        None if problem == "edm_source" else str(edm),
    )
    command = snakemake(PROFILE, workdir, "--configfile", str(configfile), *FAKE_SITE, "--jobs", "4")
    calls, log = submissions(command, tmp_path, tmp_path, wanted=1, timeout=TIMEOUT)
    assert calls == [], f"jobs were submitted; Snakemake's output:\n{log[-6000:]}"
    assert not (workdir / "results" / "logs").exists(), "a job ran"
    expected = {
        "weight digest": r"results/weights/alexnet' has sha256 \w+, not the pinned \w+ \(config key 'weights.alexnet.sha256'\)",
        "edm_source": r"config key 'edm_source' is null.*Fix: clone https://github.com/NVlabs/edm",
    }[problem]
    assert re.search(expected, log), log[-6000:]
