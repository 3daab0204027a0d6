"""The ImageNet leg end to end on stand-ins the test makes: ImageNet-64 npz batches, an
image-folder ILSVRC-2012 validation set, checkpoints in the robust-models-transfer layout
with random weights, a class-conditional denoiser with EDM's call convention and 1000
labels, and a random AlexNet for LPIPS, every weight file pinned by its sha256.

One tiny run makes every ImageNet target (data, the ImageNet-64 sweep, the pretrained
family with its top-1, scores at 64 px, alignment, regimes, fig_imagenet); the tests
read its outputs. Bad inputs are dry runs and a run without the data.
"""

from __future__ import annotations

import copy
import pickle
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pags.weights import sha256_file
from PIL import Image
from test_pretrained import random_resnet18, robustness_layout
from test_sweep_workflow import fake_alexnet
from workflow_helpers import (
    assert_figure,
    describe,
    output,
    planned_jobs,
    run_snakemake,
    tiny_config,
    whole_imagenet_val,
    write_config,
)

pytestmark = pytest.mark.slow

EPS = [0, 1, 3]  # members of salman2020-resnet18-l2
OWN_EPS = [5, 50]
WNIDS = ["n01440764", "n01443537", "n01484850"]
VAL_PER_CLASS = 3

EDM_MODULE = '''
"""A stand-in for an EDM release: the ideal denoiser of N(m_y, 0.25 I) data in EDM's
call convention, with its label_dim, img_resolution and img_channels."""
import torch


class StandIn(torch.nn.Module):
    def __init__(self, label_dim):
        super().__init__()
        self.label_dim, self.img_resolution, self.img_channels = label_dim, 64, 3

    def forward(self, x, sigma, class_labels=None):
        s2 = sigma.view(-1, 1, 1, 1) ** 2
        mean = torch.zeros_like(x)
        if class_labels is not None:  # one-hot [B, label_dim]: a class-dependent mean
            mean = mean + (class_labels.argmax(1).float() / self.label_dim).view(-1, 1, 1, 1)
        return mean + (x - mean) * 0.25 / (0.25 + s2)
'''


def write_imagenet64(root: Path) -> None:
    """The ten training batches and the validation batch in the published layout, and
    beside them the devkit's class map, here a random permutation of 1000 fake wnids;
    labels drawn from 1..1000 without the last sorted wnid's, so the models' 1000 outputs
    must come from the data set, not from the largest label seen."""
    rng = np.random.default_rng(0)
    folder = root / "imagenet64"
    folder.mkdir(parents=True)
    # the devkit's class numbering: a permutation of the sorted wnids
    wnids = [f"n{n:08d}" for n in rng.permutation(1000)]
    (folder / "map_clsloc.txt").write_text("".join(f"{w} {k} class_{k}\n" for k, w in enumerate(wnids, 1)))
    for name, n in [*((f"train_data_batch_{i}", 12) for i in range(1, 11)), ("val_data", 16)]:
        labels = rng.integers(1, 1001, n)
        labels[labels == wnids.index(max(wnids)) + 1] = 1  # no image of torchvision's class 999
        np.savez(folder / f"{name}.npz", data=rng.integers(0, 256, (n, 12288), dtype=np.uint8), labels=labels)


def write_imagenet_val(root: Path) -> None:
    """The whole validation set (``whole_imagenet_val``): WNIDS hold VAL_PER_CLASS random
    JPEGs each (repeated to 50), the other 997 wnids links to one of them."""
    rng = np.random.default_rng(1)
    sources = {}
    for wnid in WNIDS:
        folder = root / "jpegs" / wnid
        folder.mkdir(parents=True)
        sources[wnid] = []
        for i in range(VAL_PER_CLASS):
            height, width = rng.integers(230, 300, 2)
            pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.JPEG")
            sources[wnid].append(folder / f"{i}.JPEG")
    whole_imagenet_val(root / "imagenet" / "val", sources)


def write_weights(weights: Path, edm_source: Path) -> dict:
    """Pinned weight files: the family's checkpoints, the EDM stand-in, AlexNet."""
    weights.mkdir(parents=True, exist_ok=True)
    entries = {"alexnet": fake_alexnet(weights / "alexnet")}
    for i, eps in enumerate(EPS):
        name = f"resnet18_l2_eps{eps:g}"
        torch.save(robustness_layout(random_resnet18(seed=i)), weights / name)
        entries[name] = {"url": None, "sha256": sha256_file(weights / name)}
    edm_source.mkdir()
    (edm_source / "pags_standin_edm.py").write_text(textwrap.dedent(EDM_MODULE))
    import sys

    sys.path.insert(0, str(edm_source))
    try:
        from pags_standin_edm import StandIn

        with open(weights / "edm-imagenet-64x64-cond-adm", "wb") as f:
            pickle.dump({"ema": StandIn(1000)}, f)
    finally:
        sys.path.remove(str(edm_source))
        sys.modules.pop("pags_standin_edm", None)
    entries["edm-imagenet-64x64-cond-adm"] = {
        "url": None,
        "sha256": sha256_file(weights / "edm-imagenet-64x64-cond-adm"),
    }
    return entries


SCORE = {
    "backends": ["edm"],
    "sigma": 0.6,
    "conditional": True,
    "n_images": 6,
    "batch_size": 4,
    "edm_network": "edm-imagenet-64x64-cond-adm",
}


def imagenet_config(root: Path, weights: dict, edm_source: Path) -> dict:
    config = tiny_config()
    config["data"] = {"root": str(root), "download": False}
    config["weights"] = weights
    config["edm_source"] = str(edm_source)
    config["sweep"] = {
        "imagenet64": {
            "model": {"arch": "small_cnn", "options": {"width": 4}},
            "training": {
                "epochs": 1,
                "batch_size": 64,
                "lr": 0.05,
                "milestones": [],
                "augment": "crop_flip_pad8",
                "amp": False,
            },
            "seeds": [0],
            "objectives": {
                "standard": {"grid": [0]},
                "pgd": {
                    "grid": OWN_EPS,
                    "steps": 1,
                    "step_size": 0.6667,
                    "random_start": 0.5,
                    "eps_convention": "batch",
                },
            },
            "autoencoder": {"latent_dim": 4, "width": 4, "epochs": 1, "batch_size": 64},
            "manifold_robustness": {"n_images": 4, "step_sizes": [1.0], "plot_step": 1.0, "small_noise_draws": 2},
            "score": SCORE,
            "alignment": {"metrics": ["lpips", "cosine"]},
            "regimes": {"metric": "lpips"},
        }
    }
    config["pretrained"] = {
        "imagenet": {
            "family": "salman2020-resnet18-l2",
            "eps": EPS,
            "top1": {"n_images": len(WNIDS) * VAL_PER_CLASS, "batch_size": 4},
            "score": {**SCORE, "image_side": 64},
            "alignment": {"metrics": ["lpips", "cosine"]},
            "regimes": {"metric": "lpips"},
        }
    }
    config["figures"] = {"gallery": {"n_images": 2, "n_strengths": 2}}
    return config


FIGURES = ["fig_imagenet", "fig_gallery_imagenet64_pgd", "fig_gallery_imagenet_pgd"]


@pytest.fixture(scope="module")
def imagenet_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("imagenet")
    root, workdir = base / "data", base / "work"
    write_imagenet64(root)
    write_imagenet_val(root)
    weights = write_weights(workdir / "results" / "weights", base / "edm")
    config = imagenet_config(root, weights, base / "edm")
    configfile = write_config(base / "config.yaml", config)
    proc = run_snakemake(workdir, configfile, *FIGURES)
    assert proc.returncode == 0, describe(proc)
    return workdir, configfile, config, proc


def test_the_whole_imagenet_dag_ran(imagenet_run):
    *_, proc = imagenet_run
    jobs = planned_jobs(proc)
    models = len(EPS), 1 + len(OWN_EPS)
    assert jobs["pretrained_model"] == models[0] and jobs["train_model"] == models[1], describe(proc)
    assert jobs["alignment"] == sum(models) and jobs["regimes"] == 2 and jobs["score"] == 2, describe(proc)
    for rule in ("pretrained_images", "top1_table", "train_autoencoder", "manifold_robustness_table", "fig_imagenet"):
        assert jobs.get(rule, 0) >= 1, (rule, describe(proc))


@pytest.mark.parametrize("figure", FIGURES)
@pytest.mark.parametrize("ext", ["pdf", "png"])
def test_imagenet_figures_are_written(imagenet_run, figure, ext):
    """Fig. 4, and the galleries of both families (Figs. 10, 11)."""
    workdir, *_ = imagenet_run
    assert_figure(workdir / "results" / "figures" / f"{figure}.{ext}")


def test_top1_table_compares_measured_with_published(imagenet_run):
    workdir, *_ = imagenet_run
    table = pd.read_csv(workdir / "results" / "imagenet" / "tables" / "top1.csv")
    assert table["eps"].tolist() == [float(e) for e in EPS]
    np.testing.assert_allclose(table["published_top1"], [69.79, 62.32, 53.12])
    assert table["measured_top1"].between(0, 100).all()
    assert (table["top1_images"] == len(WNIDS) * VAL_PER_CLASS).all()
    # random weights are far from the published accuracy: every member is flagged
    assert table["flagged"].all()
    np.testing.assert_allclose(table["difference"], table["measured_top1"] - table["published_top1"])


def test_pretrained_models_are_scored_at_64_px_and_aligned_per_image(imagenet_run):
    workdir, *_ = imagenet_run
    results = workdir / "results" / "imagenet"
    score = torch.load(results / "score" / "edm" / "sigma=0.6" / "cond.pt", weights_only=True)["score"]
    assert tuple(score.shape) == (SCORE["n_images"], 3, 64, 64)
    test = torch.load(results / "data" / "test.pt", weights_only=True)
    assert tuple(test["x"].shape) == (SCORE["n_images"], 3, 224, 224)
    alignment = pd.read_csv(results / "tables" / "alignment.csv", dtype={"strength": str})
    assert set(zip(alignment["objective"], alignment["strength"])) == {("standard", "0"), ("pgd", "1"), ("pgd", "3")}
    assert (alignment["images"] == SCORE["n_images"]).all()
    assert alignment["similarity"].notna().all()
    regimes = pd.read_csv(results / "tables" / "regimes.csv", dtype={"strength": str})
    assert set(regimes["strength"]) == {"1", "3"}
    assert set(regimes["regime"]) <= {"weak", "Bayes-aligned", "excessive"}


def test_own_imagenet64_models_have_1000_classes(imagenet_run):
    workdir, *_ = imagenet_run
    model = torch.load(
        workdir / "results" / "imagenet64" / "models" / "pgd" / "5" / "seed=0" / "model.pt", weights_only=True
    )
    assert model["spec"]["num_classes"] == 1000 and model["spec"]["in_channels"] == 3


def test_nothing_to_do_after_the_run(imagenet_run):
    workdir, configfile, *_ = imagenet_run
    proc = run_snakemake(workdir, configfile, "-n", *FIGURES)
    assert proc.returncode == 0 and planned_jobs(proc) == {}, describe(proc)


def test_a_run_without_the_data_stops_before_any_job(imagenet_run, tmp_path):
    """Dry runs plan without the files; a real run stops with one error naming data.root."""
    _, _, config, _ = imagenet_run
    config = {**config, "data": {"root": str(tmp_path / "nothing"), "download": False}}
    workdir = tmp_path / "work"
    workdir.mkdir()
    configfile = write_config(tmp_path / "config.yaml", config)
    dry = run_snakemake(workdir, configfile, "-n", "fig_imagenet")
    assert dry.returncode == 0 and planned_jobs(dry)["pretrained_model"] == len(EPS), describe(dry)
    proc = run_snakemake(workdir, configfile, "fig_imagenet")
    assert proc.returncode != 0, describe(proc)
    assert "config key 'data.root'" in output(proc) and "cannot be downloaded" in output(proc), describe(proc)
    assert not (workdir / "results" / "imagenet64" / "data").exists(), "a job ran despite the missing data"


def test_a_conditional_network_on_unconditional_config_is_refused(imagenet_run, tmp_path):
    config = copy.deepcopy(imagenet_run[2])
    config["pretrained"]["imagenet"]["score"] = {**config["pretrained"]["imagenet"]["score"], "conditional": False}
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = run_snakemake(workdir, write_config(tmp_path / "config.yaml", config), "-n", "fig_imagenet")
    assert proc.returncode != 0 and "'pretrained.imagenet.score.conditional'" in output(proc), describe(proc)


def test_gradient_resizing_is_in_the_table_and_reruns_the_alignment_only(imagenet_run, tmp_path):
    """The pretrained 224 px gradients are shrunk to the score's 64 px antialiased (the
    table says so; the own 64 px models need no resizing), and the other option,
    alignment.gradient_resize: aliased, reruns the alignments and what reads them only."""
    workdir, _, config, _ = imagenet_run
    pretrained = pd.read_csv(workdir / "results" / "imagenet" / "tables" / "alignment.csv")
    assert set(pretrained["gradient_resize"]) == {"antialiased"}
    assert "gradient_resize" not in pd.read_csv(workdir / "results" / "imagenet64" / "tables" / "alignment.csv")
    config = copy.deepcopy(config)
    config["pretrained"]["imagenet"]["alignment"]["gradient_resize"] = "aliased"
    proc = run_snakemake(workdir, write_config(tmp_path / "config.yaml", config), "-n", *FIGURES)
    assert proc.returncode == 0, describe(proc)
    assert planned_jobs(proc) == {
        "alignment": len(EPS),
        "alignment_table": 1,
        "regimes": 1,
        "fig_imagenet": 1,
        "fig_gallery_imagenet_pgd": 1,
    }, describe(proc)
