"""Bad configs are rejected when the workflow is parsed, with a message naming the key.

Each case edits the tiny config (derived from demo/experiments.yaml) and is checked
in-process: the config is written to a file, read back by Snakemake's own config loader
and passed to the function the Snakefile calls on it (``pags.config.validated_config``),
in a fresh working directory (relative paths resolve there, as under ``--directory``);
the error must name the offending key path and the problem.

A few cases, one per kind of check (the schema, a check beyond it, a probe of the data,
a YAML reading), also run ``snakemake -n``: Snakemake must exit non-zero with that same
message, no traceback, and nothing planned or run. A dry run costs seconds, most of it
importing torch, so the module starts them concurrently (one per core, at most 4) and
each test waits for its own result.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pags.config import validated_config
from pags.errors import ConfigError
from pags.preflight import check_at_parse
from snakemake.common.configfile import load_configfile
from workflow_helpers import (
    describe,
    output,
    planned_jobs,
    run_snakemake,
    tiny_config,
    updated_config,
    write_config,
)

DELETE = object()


@dataclass(frozen=True)
class Case:
    id: str
    # dotted key path -> new value (DELETE removes the key)
    edits: dict[str, Any]
    # substrings that must all appear in the output; the first is the key path
    expected: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)


def edited(config: dict[str, Any], edits: dict[str, Any]) -> dict[str, Any]:
    for dotted, value in edits.items():
        *parents, last = dotted.split(".")
        config = updated_config(config, [*parents, last], None if value is DELETE else value)
        if value is DELETE:
            node = config
            for key in parents:
                node = node[key]
            del node[last]
    return config


# A minimal valid sweep on the synthetic data set, for the sweep's own cases.
SWEEP = {
    "training": {"epochs": 1, "batch_size": 8, "lr": 0.1, "milestones": []},
    "objectives": {"standard": {"grid": [0]}, "gnorm": {"grid": [0.1]}},
}
SYN = "sweep.synthetic"
SEARCH = {"start": [-2, 0, 3], "factor": 2, "extend": 10, "max_models": 6, "rounds": 2}


def sweep(**changes):
    return {"synthetic": {**SWEEP, **changes}}


def gallery(**changes):
    """figures with one named gallery, ``g``, valid on ``sweep()`` unless changed."""
    return {
        "galleries": {"g": {"dataset": "synthetic", "objective": "gnorm", "strengths": [0.1], "images": [3], **changes}}
    }


T = "distractor.training"
PGD = "distractor.objectives.pgd"
NOISE = "distractor.noise_robustness"

CASES = [
    Case("unknown-top-level-key", {"distractor_typo": {}}, ("'distractor_typo'", "was unexpected", "misspelt")),
    Case(
        "unknown-nested-key",
        {f"{T}.epochz": 3},
        (f"config key '{T}' has no key 'epochz'", "was unexpected", "misspelt", "epochs"),
    ),
    Case("epochs-string", {f"{T}.epochs": "nine"}, (f"'{T}.epochs'", "'nine' is not of type 'integer'")),
    Case("epochs-zero", {f"{T}.epochs": 0, f"{T}.milestones": []}, (f"'{T}.epochs'", "less than the minimum of 1")),
    Case("lr-string", {f"{T}.lr": "fast"}, (f"'{T}.lr'", "'fast' is not of type 'number'")),
    Case("lr-negative", {f"{T}.lr": -0.1}, (f"'{T}.lr'", "-0.1")),
    Case("lr-missing", {f"{T}.lr": DELETE}, (f"'{T}'", "'lr' is a required property")),
    Case("milestone-not-below-epochs", {f"{T}.milestones": [2]}, (f"'{T}.milestones'", "milestone 2")),
    Case("grid-empty", {f"{PGD}.grid": []}, (f"'{PGD}.grid'", "should be non-empty")),
    Case("grid-negative-strength", {f"{PGD}.grid": [-1]}, (f"'{PGD}.grid.0'", "-1")),
    Case(
        "grid-logspace-start-above-stop",
        {f"{PGD}.grid": {"logspace": [1, 0, 3]}},
        (f"'{PGD}.grid'", "start exceeds stop"),
    ),
    Case(
        "grid-logspace-num-zero",
        {f"{PGD}.grid": {"logspace": [0, 1, 0]}},
        (f"'{PGD}.grid.logspace.2'", "less than the minimum of 1"),
    ),
    Case(
        "grid-collides-at-4-digits",
        {f"{PGD}.grid": [1.00001, 1.00002]},
        (f"'{PGD}.grid'", "collide at 4 significant digits"),
    ),
    Case(
        "search-outside-a-sweep",
        {f"{PGD}.grid": {"search": {"start": [0, 1, 2], "factor": 2, "extend": 10, "max_models": 4, "rounds": 1}}},
        (f"'{PGD}.grid'", "a search reads the regimes of a sweep"),
    ),
    Case(
        "objective-seeds-without-the-first",
        {"sweep": sweep(objectives={"standard": {"grid": [0], "seeds": [1, 2]}})},
        (f"'{SYN}.objectives.standard.seeds'", "lacks the experiment's first seed 0", "add 0"),
    ),
    Case(
        "search-start-above-stop",
        {"sweep": sweep(objectives={"gnorm": {"grid": {"search": SEARCH | {"start": [1, 0, 3]}}}})},
        (f"'{SYN}.objectives.gnorm.grid.search.start'", "not below stop"),
    ),
    Case(
        "search-budget-below-its-start",
        {"sweep": sweep(objectives={"gnorm": {"grid": {"search": SEARCH | {"max_models": 2}}}})},
        (f"'{SYN}.objectives.gnorm.grid.search.max_models'", "fewer than the 3 strengths"),
    ),
    Case(
        "standard-nonzero-grid",
        {"distractor.objectives.standard.grid": [0, 1]},
        ("'distractor.objectives.standard.grid'", "no strength"),
    ),
    Case(
        "unknown-objective",
        {"distractor.objectives.no_such_objective": {"grid": [1]}},
        ("config key 'distractor.objectives' has no key 'no_such_objective'", "was unexpected", "gnorm"),
    ),
    Case("no-objectives", {"distractor.objectives": {}}, ("'distractor.objectives'", "should be non-empty")),
    Case("pgd-missing-eps-convention", {f"{PGD}.eps_convention": DELETE}, (f"'{PGD}.eps_convention' is missing",)),
    Case(
        "pgd-bad-eps-convention",
        {f"{PGD}.eps_convention": "per_image"},
        (f"'{PGD}.eps_convention'", "'per_image' is not one of"),
    ),
    Case("pgd-steps-zero", {f"{PGD}.steps": 0}, (f"'{PGD}.steps'", "less than the minimum of 1")),
    Case("seeds-empty", {"distractor.seeds": []}, ("'distractor.seeds'", "should be non-empty")),
    Case("seeds-negative", {"distractor.seeds": [0, -1]}, ("'distractor.seeds.1'", "less than the minimum of 0")),
    Case("seeds-duplicate", {"distractor.seeds": [0, 0]}, ("'distractor.seeds'", "non-unique")),
    Case("unknown-dataset", {"distractor.dataset": "imagenet"}, ("'distractor.dataset'", "'imagenet' is not one of")),
    Case("unknown-arch", {"distractor.model.arch": "vgg16"}, ("'distractor.model.arch'", "'vgg16' is not one of")),
    Case("letter-too-long", {"distractor.letter": "AB"}, ("'distractor.letter'", "'AB' is too long")),
    Case(
        "authors-font-is-their-a-only",
        {"distractor.letter": "B", "distractor.font": "freemono"},
        ("'distractor.font'", "the authors' letter A, not 'B'", "Fix: set distractor.letter to A"),
    ),
    Case("noise-n-images-zero", {f"{NOISE}.n_images": 0}, (f"'{NOISE}.n_images'", "less than the minimum of 1")),
    Case(
        "noise-stds-logspace-start-above-stop",
        {f"{NOISE}.stds": {"logspace": [1, -2, 6]}},
        (f"'{NOISE}.stds'", "start exceeds stop"),
    ),
    Case(
        "noise-unknown-key",
        {f"{NOISE}.n_image": 10},
        (f"config key '{NOISE}' has no key 'n_image'", "was unexpected", "n_images"),
    ),
    Case(
        "gradient-target-unknown",
        {"distractor.figures.gradient_target": "input"},
        ("'distractor.figures.gradient_target'", "'input' is not one of"),
    ),
    Case(
        "sweep-unknown-dataset",
        {"sweep": {"imagenet": SWEEP}},
        ("config key 'sweep' has no key 'imagenet'", "was unexpected", "imagenet64"),
    ),
    Case(
        "sweep-plot-step-not-a-step",
        {"sweep": sweep(manifold_robustness={"step_sizes": [0.5], "plot_step": 1.0})},
        (f"'{SYN}.manifold_robustness.plot_step'", "not one of step_sizes"),
    ),
    Case(
        "sweep-autoencoder-latent-zero",
        {"sweep": sweep(autoencoder={"latent_dim": 0})},
        (f"'{SYN}.autoencoder.latent_dim'", "less than the minimum of 1"),
    ),
    Case(
        "gnorm-negative-penalty-scale",
        {"sweep": sweep(objectives={"gnorm": {"grid": [0.1], "penalty_scale": -1}})},
        (f"'{SYN}.objectives.gnorm.penalty_scale'", "-1"),
    ),
    Case(
        "lr-threshold-zero",
        {"sweep": sweep(objectives={"randsmooth": {"grid": [0.1], "lr_threshold": 0}})},
        (f"'{SYN}.objectives.randsmooth.lr_threshold'", "0"),
    ),
    Case(
        "synthetic-image-not-divisible-by-4",
        {"sweep": sweep(), "synthetic": {"image_shape": [3, 10, 10]}},
        ("'synthetic.image_shape'", "divisible by 4"),
    ),
    Case(
        "synthetic-manifold-exceeds-image",
        {"sweep": sweep(), "synthetic": {"image_shape": [1, 4, 4], "k_signal": 10, "k_distractor": 10}},
        ("'synthetic.k_signal'", "exceeds the 16 pixel dimensions"),
    ),
    Case(
        "score-exact-on-cifar10",
        {"sweep": {"cifar10": {**SWEEP, "score": {"backends": ["analytic"]}}}},
        ("'sweep.cifar10.score.backends'", "known only for the synthetic data set"),
    ),
    Case(
        "score-unknown-backend",
        {"sweep": sweep(score={"backends": ["ddpm"]})},
        (f"'{SYN}.score.backends.0'", "'ddpm' is not one of"),
    ),
    Case("score-sigma-zero", {"sweep": sweep(score={"sigma": 0})}, (f"'{SYN}.score.sigma'", "0")),
    Case(
        "score-backends-duplicate",
        {"sweep": sweep(score={"backends": ["trained", "trained"]})},
        (f"'{SYN}.score.backends'", "non-unique"),
    ),
    Case(
        "edm-without-network",
        {"sweep": sweep(score={"backends": ["edm"]})},
        (f"'{SYN}.score.edm_network'", "not an entry of 'weights'"),
    ),
    Case(
        "denoiser-channels-too-few",
        {"sweep": sweep(score={"denoiser": {"block_channels": [4]}})},
        (f"'{SYN}.score.denoiser.block_channels.0'", "less than the minimum of 8"),
    ),
    Case(
        "denoiser-blocks-exceed-image-sides",
        {
            "sweep": sweep(score={"backends": ["trained"], "denoiser": {"block_channels": [16, 32, 32, 32]}}),
            "synthetic": {"image_shape": [3, 12, 12]},
        },
        (f"'{SYN}.score.denoiser.block_channels'", "must be divisible by 8", "12x12"),
    ),
    Case(
        "denoiser-channels-not-divisible-by-groups",
        {"sweep": sweep(score={"backends": ["trained"], "denoiser": {"block_channels": [8, 12]}})},
        (f"'{SYN}.score.denoiser.block_channels'", "not all divisible by the 8 groups"),
    ),
    Case(
        "classifier-unknown-option",
        {"distractor.model.options": {"depth": 3}},
        ("'distractor.model.options'", "not options of small_cnn"),
    ),
    Case(
        "edm-conditional-network-used-unconditionally",
        {
            "sweep": sweep(
                score={"backends": ["edm"], "edm_network": "edm-cifar10-32x32-cond-vp", "conditional": False}
            ),
            "weights": {"edm-cifar10-32x32-cond-vp": {"url": "https://x", "sha256": None}},
        },
        (f"'{SYN}.score.conditional'", "edm-cifar10-32x32-cond-vp"),
    ),
    Case(
        "edm-network-of-another-resolution",
        {
            "sweep": sweep(score={"backends": ["edm"], "edm_network": "edm-ffhq-64x64-uncond-vp"}),
            "weights": {"edm-ffhq-64x64-uncond-vp": {"url": "https://x", "sha256": None}},
        },
        (f"'{SYN}.score.edm_network'", "64"),
    ),
    Case(
        "edm-network-of-other-images",
        {
            "sweep": {
                "imagenet64": {**SWEEP, "score": {"backends": ["edm"], "edm_network": "edm-ffhq-64x64-uncond-vp"}}
            },
            "weights": {"edm-ffhq-64x64-uncond-vp": {"url": "https://x", "sha256": None}},
        },
        (
            "'sweep.imagenet64.score.edm_network'",
            "trained on FFHQ images",
            "'sweep.imagenet64.score.allow_other_data: true'",
        ),
    ),
    Case(
        "edm-network-on-non-square-images",
        {
            "sweep": sweep(score={"backends": ["edm"], "edm_network": "edm-cifar10-32x32-uncond-vp"}),
            "synthetic": {"image_shape": [3, 16, 8]},
            "weights": {"edm-cifar10-32x32-uncond-vp": {"url": "https://x", "sha256": None}},
        },
        (f"'{SYN}.score.edm_network'", "16x8 px"),
    ),
    Case(
        "edm-network-of-other-classes",
        {
            "sweep": sweep(
                score={
                    "backends": ["edm"],
                    "edm_network": "edm-imagenet-64x64-cond-adm",
                    "conditional": True,
                    "image_side": 64,
                }
            ),
            "weights": {"edm-imagenet-64x64-cond-adm": {"url": "https://x", "sha256": None}},
        },
        (f"'{SYN}.score.edm_network'", "trained on 1000 classes, but the data set has 10"),
    ),
    Case(
        "edm-network-of-other-channels",
        {
            "sweep": sweep(score={"backends": ["edm"], "edm_network": "edm-cifar10-32x32-uncond-vp"}),
            "synthetic": {"image_shape": [1, 32, 32]},
            "weights": {"edm-cifar10-32x32-uncond-vp": {"url": "https://x", "sha256": None}},
        },
        (f"'{SYN}.score.edm_network'", "takes 3-channel images"),
    ),
    Case("number-written-without-a-dot", {f"{T}.lr": "1e-3"}, (f"'{T}.lr'", "YAML reads 1e-3 as a string", "1.0e-3")),
    Case(
        "alignment-gradient-unknown",
        {"sweep": sweep(alignment={"gradient": "loss"})},
        (f"'{SYN}.alignment.gradient'", "'loss' is not one of"),
    ),
    Case(
        "alignment-metrics-empty",
        {"sweep": sweep(alignment={"metrics": []})},
        (f"'{SYN}.alignment.metrics'", "should be non-empty"),
    ),
    Case(
        "regimes-metric-not-computed",
        {"sweep": sweep(alignment={"metrics": ["cosine"]}, regimes={"metric": "ssim"})},
        (f"'{SYN}.regimes.metric'", "is not computed"),
    ),
    Case(
        "regimes-score-not-computed",
        {"sweep": sweep(regimes={"score": "edm"})},
        (f"'{SYN}.regimes.score'", "not one of score.backends"),
    ),
    Case(
        "regimes-fraction-above-one",
        {"sweep": sweep(regimes={"aligned_fraction": 1.5})},
        (f"'{SYN}.regimes.aligned_fraction'", "1.5"),
    ),
    Case("regimes-noise-k-negative", {"sweep": sweep(regimes={"noise_k": -1})}, (f"'{SYN}.regimes.noise_k'", "-1")),
    Case(
        "claims-off-below-above-one",
        {"claims": {"manifold": {"off_below": 1.5}}},
        ("'claims.manifold.off_below'", "1.5"),
    ),
    Case(
        "claims-seed-spread-negative",
        {"claims": {"seed_spread": {"magnitude": -0.1}}},
        ("'claims.seed_spread.magnitude'", "-0.1"),
    ),
    Case(
        "claims-max-slope-zero",
        {"claims": {"manifold": {"max_slope": 0}}},
        ("'claims.manifold.max_slope'", "0"),
    ),
    Case(
        "claims-unknown-key",
        {"claims": {"noise": 2}},
        ("config key 'claims' has no key 'noise'", "misspelt", "noise_k"),
    ),
    Case(
        "regimes-without-standard-model",
        {"sweep": sweep(objectives={"gnorm": {"grid": [0.1]}})},
        (f"'{SYN}.objectives'", "relative to the standard model"),
    ),
    Case(
        "sweep-only-standard",
        {"sweep": sweep(objectives={"standard": {"grid": [0]}})},
        (f"'{SYN}.objectives'", "nothing to sweep"),
    ),
    Case(
        "gallery-strength-not-in-grid",
        {"sweep": sweep(), "figures": gallery(strengths=[0.2])},
        ("'figures.galleries.g.strengths.0'", "0.2 is not in the grid of sweep.synthetic.objectives.gnorm", "['0.1']"),
    ),
    Case(
        "gallery-unknown-objective",
        {"sweep": sweep(), "figures": gallery(objective="no_such_objective")},
        ("'figures.galleries.g.objective'", "'no_such_objective' is not one of"),
    ),
    Case(
        "gallery-objective-not-swept",
        {"sweep": sweep(), "figures": gallery(objective="pgd")},
        ("'figures.galleries.g.objective'", "pgd is not swept on synthetic"),
    ),
    Case(
        "gallery-unknown-dataset",
        {"sweep": sweep(), "figures": gallery(dataset="cifar10")},
        ("'figures.galleries.g.dataset'", "cifar10 has no sweep"),
    ),
    Case(
        "gallery-negative-image",
        {"sweep": sweep(), "figures": gallery(images=[3, -1])},
        ("'figures.galleries.g.images.1'", "less than the minimum of 0"),
    ),
    Case(
        "weights-sha256-malformed",
        {"weights": {"alexnet": {"url": "https://x", "sha256": "abc"}}},
        ("'weights.alexnet.sha256'", "does not match"),
    ),
    Case(
        "weights-missing-url", {"weights": {"edm": {"sha256": None}}}, ("'weights.edm'", "'url' is a required property")
    ),
    Case(
        "cifar10-offline-without-data",
        {"sweep": {"cifar10": SWEEP}, "data.download": False, "data.root": "no_such_dir"},
        (
            "'data.root'",
            "CIFAR-10 (test split) was not found under data.root='no_such_dir'",
            "no_such_dir/cifar10_test.npz",
        ),
    ),
    Case(
        "posterior-trained-without-label-dropout",
        {"sweep": sweep(score={"backends": ["posterior_trained"]})},
        (f"'{SYN}.score.denoiser.label_dropout'", "null class"),
    ),
    Case(
        "posterior-edm-without-networks",
        {"sweep": {"cifar10": {**SWEEP, "score": {"backends": ["posterior_edm"]}}}},
        ("'sweep.cifar10.score.posterior_edm' is missing", "edm-cifar10-32x32-cond-vp"),
    ),
    Case(
        "posterior-edm-networks-swapped",
        {
            "sweep": {
                "cifar10": {
                    **SWEEP,
                    "score": {
                        "backends": ["posterior_edm"],
                        "posterior_edm": {
                            "conditional": "edm-cifar10-32x32-uncond-vp",
                            "unconditional": "edm-cifar10-32x32-cond-vp",
                        },
                    },
                }
            },
            "weights": {
                n: {"url": "https://x", "sha256": None}
                for n in ("edm-cifar10-32x32-uncond-vp", "edm-cifar10-32x32-cond-vp")
            },
        },
        ("'sweep.cifar10.score.posterior_edm.conditional'", "is unconditional"),
    ),
    Case(
        "posterior-edm-network-not-in-weights",
        {
            "sweep": {
                "cifar10": {
                    **SWEEP,
                    "score": {
                        "backends": ["posterior_edm"],
                        "posterior_edm": {
                            "conditional": "edm-cifar10-32x32-cond-vp",
                            "unconditional": "edm-cifar10-32x32-uncond-vp",
                        },
                    },
                }
            }
        },
        ("'sweep.cifar10.score.posterior_edm.conditional'", "not an entry of 'weights'"),
    ),
    Case(
        "pretrained-member-without-weights",
        {"pretrained": {"imagenet": {"family": "salman2020-resnet18-l2", "eps": [0, 3]}}},
        ("'weights.resnet18_l2_eps0' is missing", "resnet18_l2_eps0.ckpt"),
    ),
    Case(
        "pretrained-without-standard-model",
        {
            "pretrained": {"imagenet": {"family": "salman2020-resnet18-l2", "eps": [1, 3]}},
            "weights": {f"resnet18_l2_eps{e}": {"url": None, "sha256": None} for e in (1, 3)},
        },
        ("'pretrained.imagenet.eps'", "eps 0"),
    ),
    Case(
        "posterior-edm-network-of-other-classes",
        {
            "sweep": {
                "cifar10": {
                    **SWEEP,
                    "score": {
                        "backends": ["posterior_edm"],
                        "image_side": 64,
                        "posterior_edm": {
                            "conditional": "edm-imagenet-64x64-cond-adm",
                            "unconditional": "edm-cifar10-32x32-uncond-vp",
                        },
                    },
                }
            },
            "weights": {
                n: {"url": "https://x", "sha256": None}
                for n in ("edm-imagenet-64x64-cond-adm", "edm-cifar10-32x32-uncond-vp")
            },
        },
        ("'sweep.cifar10.score.posterior_edm.conditional'", "trained on 1000 classes, but the data set has 10"),
    ),
    Case("subset-on-synthetic", {"sweep": sweep(subset={"train": 100})}, (f"'{SYN}.subset'", "synthetic.n_train")),
    Case("subset-not-balanced", {"distractor.subset": {"train": 105}}, ("'distractor.subset.train'", "multiple of 10")),
    Case("subset-zero", {"distractor.subset": {"test": 0}}, ("'distractor.subset.test'", "less than the minimum of 1")),
    Case(
        "subset-test-below-metric-images",
        {"distractor.subset": {"test": 20}},
        ("'distractor.subset.test'", "noise_robustness.n_images uses 40"),
    ),
    Case(
        "noise-n-images-above-test-split",
        {f"{NOISE}.n_images": 100000},
        (f"'{NOISE}.n_images'", "100000 images", "test split of digits_distractor has 300 images", "at most 300"),
    ),
    Case(
        "score-n-images-above-test-split",
        {"sweep": sweep(score={"n_images": 100000}), "synthetic": {"n_test": 500}},
        (f"'{SYN}.score.n_images'", "test split of synthetic has 500 images"),
    ),
    Case(
        "gallery-image-index-out-of-range",
        {"sweep": sweep(), "synthetic": {"n_test": 3000}, "figures": gallery(images=[3, 5000])},
        ("'figures.galleries.g.images'", "image index 5000", "indices 0 to 2999"),
    ),
    Case("lr-quoted", {f"{T}.lr": "0.05"}, (f"'{T}.lr'", "is quoted", "remove the quotes")),
    Case(
        "mnist-offline-without-data",
        {"distractor.dataset": "mnist", "data.download": False, "data.root": "no_such_dir"},
        ("'data.root'", "no_such_dir/MNIST/raw", "data.download is false"),
    ),
]


# The cases also run through Snakemake: one per kind of check, each a different path from
# the config file to the message (common.smk turns the ConfigError into a WorkflowError).
WIRED = (
    "unknown-nested-key",  # the schema
    "milestone-not-below-epochs",  # pags.config's checks beyond the schema
    "mnist-offline-without-data",  # the probe of data.root, relative to --directory
    "number-written-without-a-dot",  # Snakemake's YAML reading of the file
)


def setup(case: Case, directory: Path) -> tuple[Path, Path]:
    """(working directory, config file) of ``case`` under ``directory``."""
    workdir = directory / "work"
    workdir.mkdir()
    return workdir, write_config(directory / "config.yaml", edited(tiny_config(), case.edits))


@functools.cache
def rejection(case_id: str) -> ConfigError:
    """The ConfigError that the checks the workflow runs when it is parsed
    (``validated_config``, then ``pags.preflight.check_at_parse``) reject case ``case_id``
    with, read as a run reads it. Validated once per session: the tests of this module and
    tests/test_config_keys.py read it."""
    (case,) = [c for c in CASES if c.id == case_id]
    with tempfile.TemporaryDirectory() as directory:
        workdir, configfile = setup(case, Path(directory))
        with contextlib.chdir(workdir), pytest.raises(ConfigError) as info:
            check_at_parse(validated_config(load_configfile(configfile)))
    return info.value


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_config_is_rejected(case):
    message = str(rejection(case.id))
    for expected in case.expected:
        assert expected in message, f"expected {expected!r} in the message: {message}"
    # One readable message naming the key.
    assert "config key" in message, message


@pytest.fixture(scope="module")
def dry_runs(request, tmp_path_factory):
    """Case id -> Future of (workdir, CompletedProcess), for the wired cases this session runs."""
    selected = {
        item.callspec.params["case"].id
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_snakemake_rejects_bad_config" and hasattr(item, "callspec")
    }

    def dry_run(case: Case):
        workdir, configfile = setup(case, tmp_path_factory.mktemp(case.id))
        return workdir, run_snakemake(workdir, configfile, "-n")

    # at most 4 at a time: each dry run holds torch in memory (about 600 MB)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        yield {case.id: pool.submit(dry_run, case) for case in CASES if case.id in selected}


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if c.id in WIRED], ids=lambda c: c.id)
def test_snakemake_rejects_bad_config(case, dry_runs):
    """What the workflow prints is the in-process message, whole, and it stops there."""
    workdir, proc = dry_runs[case.id].result()
    text = output(proc)
    assert proc.returncode != 0, f"config was accepted: {describe(proc)}"
    assert str(rejection(case.id)) in text, describe(proc)
    assert "Traceback (most recent call last)" not in text, describe(proc)
    # Rejected while parsing: no job was planned, let alone run.
    assert planned_jobs(proc) == {}, describe(proc)
    assert not (workdir / "results").exists(), "a job ran despite the bad config"


def test_the_wired_cases_are_cases():
    assert set(WIRED) <= {c.id for c in CASES}


def test_edits_reach_the_config():
    """Guard against a vacuous table: every case changes the config it starts from."""
    base = tiny_config()
    for case in CASES:
        assert edited(base, case.edits) != base, case.id


@pytest.mark.slow
def test_tiny_config_passes_dry_run(tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    configfile = write_config(tmp_path / "config.yaml", tiny_config())
    proc = run_snakemake(workdir, configfile, "-n")
    assert proc.returncode == 0, describe(proc)
    assert planned_jobs(proc) == {
        "base_dataset": 2,  # digits train, test
        "distractor_dataset": 2,
        "train_model": 2,  # standard, pgd
        "noise_robustness": 2,
        "noise_robustness_table": 1,
        "fig_noise_robustness": 1,
        "fig_distractor": 1,
        "claims": 1,
        "all": 1,
    }, describe(proc)
    assert not (workdir / "results").exists(), "a dry run wrote results"


@pytest.mark.slow
def test_minimal_config_relies_on_schema_defaults(tmp_path):
    """Only the required keys: every other one takes the schema's default (model, seeds,
    noise_robustness, figures, data, the objectives' options), and the DAG is complete.
    But the test images of the noise-robustness metric: digits has 300, below the
    default 1000, which validation refuses."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    minimal = {
        "distractor": {
            "dataset": "digits",
            "training": {"epochs": 2, "batch_size": 64, "lr": 0.1, "milestones": [1]},
            "objectives": {"standard": {}, "pgd": {"grid": [1], "eps_convention": "per_example"}},
            "noise_robustness": {"n_images": 300},
        }
    }
    proc = run_snakemake(workdir, write_config(tmp_path / "config.yaml", minimal), "-n")
    assert proc.returncode == 0, describe(proc)
    jobs = planned_jobs(proc)
    assert jobs["train_model"] == 2 and jobs["all"] == 1, describe(proc)
