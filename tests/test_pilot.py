"""The pilot profile (pilot/): its config plans every figure, and a tiny version of it runs
end to end on the real MNIST and CIFAR-10 in ``../shared/data`` (skipped where that is
absent), with class-balanced subsets of both."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import yaml
from workflow_helpers import (
    DRY_RUN_TIMEOUT,
    REPO,
    SHARED_DATA,
    assert_figure,
    describe,
    planned_jobs,
    run_command,
    run_snakemake,
    write_config,
)

pytestmark = pytest.mark.slow

PILOT = REPO / "pilot" / "experiments.yaml"
MNIST_RAW = SHARED_DATA / "MNIST" / "raw"
CIFAR10 = SHARED_DATA / "CIFAR10"
PILOT_FIGURES = [
    "fig_noise_robustness",
    "fig_distractor",
    "fig_manifold_robustness",
    "fig_tangent_noise",
    "fig_score_alignment",
    "fig_gallery_cifar10_gnorm",
]


def test_pilot_profile_plans_the_paper_figures_on_real_data():
    """``snakemake --profile pilot -n --forceall`` from the repo root: both experiments, the
    four objectives at their 4-5 strengths (17 models) beside three standard models, every figure
    of config.yaml's real-data experiments. A dry run reads no data (data.root need not exist)."""
    proc = run_command(
        [sys.executable, "-m", "snakemake", "--profile", "pilot", "-n", "--forceall"], cwd=REPO, timeout=DRY_RUN_TIMEOUT
    )
    assert proc.returncode == 0, describe(proc)
    jobs = planned_jobs(proc)
    assert jobs["train_model"] == (3 + 1) + (3 + 17), describe(proc)
    galleries = [f"fig_gallery_cifar10_{o}" for o in ("smooth", "randsmooth", "pgd")] + ["fig_gallery_paper_fig1"]
    for figure in PILOT_FIGURES + galleries:
        assert jobs.get(figure, 0) == 1, figure


def tiny_pilot_config(root: Path) -> dict:
    """pilot/experiments.yaml with the same keys cut to seconds per job: 20 training and 10
    test images per class, the standard model and one gradient-norm strength, one epoch
    (the other objectives' code runs in the synthetic sweep's test)."""
    config = yaml.safe_load(PILOT.read_text())
    config["data"] = {"root": str(root), "download": False}
    d = config["distractor"]
    d["subset"] = {"train": 200, "test": 50, "seed": 1}
    d["training"].update(epochs=1, milestones=[])
    d["objectives"]["pgd"]["steps"] = 2
    d["noise_robustness"].update(stds={"logspace": [-2, 1, 4]}, n_images=20)
    d["figures"]["n_examples"] = 2
    c = config["sweep"]["cifar10"]
    c["subset"] = {"train": 200, "test": 100, "seed": 1}
    c["training"].update(epochs=1, milestones=[])
    c["seeds"] = [0]
    c["objectives"] = {
        "standard": {"grid": [0]},
        "gnorm": {**c["objectives"]["gnorm"], "grid": [0.07279]},
    }
    c["autoencoder"].update(latent_dim=4, width=4, epochs=1)
    c["manifold_robustness"].update(n_images=4, small_noise_draws=2)
    c["score"].update(n_images=4, batch_size=4)
    c["score"]["denoiser"].update(block_channels=[8, 16], epochs=1)
    config["figures"] = {"tangent_noise_examples": 2, "gallery": {"n_images": 2, "n_strengths": 1}}
    return config


@pytest.mark.skipif(
    not (MNIST_RAW / "t10k-images-idx3-ubyte").is_file() or not (CIFAR10 / "cifar10_test.npz").is_file(),
    reason=f"needs the real MNIST and CIFAR-10 under {SHARED_DATA} (../shared/data)",
)
def test_tiny_pilot_runs_on_real_data(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "MNIST").symlink_to(MNIST_RAW.parent.resolve())
    (root / "cifar10_test.npz").symlink_to((CIFAR10 / "cifar10_test.npz").resolve())
    (root / "cifar10_train.npz").symlink_to((CIFAR10 / "cifar10_train_first20k.npz").resolve())
    workdir = tmp_path / "work"
    workdir.mkdir()
    configfile = write_config(tmp_path / "config.yaml", tiny_pilot_config(root))
    proc = run_snakemake(workdir, configfile)
    assert proc.returncode == 0, describe(proc)
    results = workdir / "results"
    for name in PILOT_FIGURES:
        assert_figure(results / "figures" / f"{name}.png")
    # class-balanced subsets of the real splits, in the models' hyperparameters
    for path, per_class in [
        ("cifar10/data/train.pt", 20),
        ("cifar10/data/test.pt", 10),
        ("mnist_distractor/data/test.pt", 5),
    ]:
        y = torch.load(results / path, weights_only=True)["y"]
        assert torch.bincount(y, minlength=10).tolist() == [per_class] * 10, path
    record = json.loads((results / "cifar10/models/standard/0/seed=0/train.json").read_text())
    assert record["hparams"]["subset"] == {"train": 200, "test": 100, "seed": 1}
    # the distractor's standard model trains with its own three seeds, and the PGD model's
    # Fig. 5 verdict is given their measured spread
    assert [p.name for p in sorted((results / "mnist_distractor/models/standard/0").glob("seed=*"))] == [
        "seed=0",
        "seed=1",
        "seed=2",
    ]
    claims = (results / "claims.csv").read_text()
    assert "measured over the standard model's 3 seeds" in claims
