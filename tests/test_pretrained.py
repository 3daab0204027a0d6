"""Pretrained robust ImageNet classifiers (robustness checkpoints, top-1 against the
published table, resizing for alignment) and the compatibility checks of pretrained
networks with the data and the config."""

from __future__ import annotations

import logging
import sys
import types

import pytest
import torch
import torch.nn.functional as F
from pags.compatibility import (
    EDM_RELEASES,
    EDM_TRAINING_DATA,
    IMAGES_OF,
    ClassifierProperties,
    DenoiserProperties,
    check_classifier,
    check_edm_config,
    check_edm_network,
    matching_releases,
)
from pags.datasets import ImageSplit
from pags.errors import CheckpointError, ConfigError, WeightsError
from pags.evaluate import accuracy, top1_row
from pags.models import IMAGENET_MEAN, IMAGENET_STD, InputNormalize
from pags.pretrained import FAMILIES, check_family_config
from pags.resize import gradient_for_alignment, images_for_score, resize
from pags.score.edm import edm_score
from pags.weights import sha256_file
from torch import nn
from torchvision.models import resnet18

FAMILY = FAMILIES["salman2020-resnet18-l2"]
KEY = "weights.resnet18_l2_eps3"


# ---- robustness checkpoints --------------------------------------------------------


def random_resnet18(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = resnet18(num_classes=1000)
    for module in net.modules():  # non-trivial BN statistics, so that loading them shows
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return net.eval()


def robustness_layout(net: nn.Module, state_key: str = "model", mean=IMAGENET_MEAN, std=IMAGENET_STD, **extra) -> dict:
    """A checkpoint as the robustness library's train.py writes it: the state dict of a
    DataParallel-wrapped AttackerModel, whose attacker shares the model's tensors."""
    mean, std = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
    state = {}
    for name, value in net.state_dict().items():
        state[f"module.model.{name}"] = value
        state[f"module.attacker.model.{name}"] = value
    state |= {
        "module.normalizer.new_mean": mean,
        "module.normalizer.new_std": std,
        "module.attacker.normalize.new_mean": mean,
        "module.attacker.normalize.new_std": std,
    }
    optimizer = {"state": {}, "param_groups": [{"lr": 0.1, "momentum": 0.9, "params": [0, 1]}]}
    return {state_key: state, "optimizer": optimizer, "schedule": {"last_epoch": 90}, "epoch": 90, "amp": None, **extra}


def save(blob, path) -> tuple:
    torch.save(blob, path)
    return path, sha256_file(path)


@pytest.fixture(scope="module")
def reference():
    """A random ResNet-18, images in [0, 1] and its logits on them after ImageNet normalisation."""
    net = random_resnet18()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    x[0, :, 0, 0], x[1, :, 0, 0] = 0.0, 1.0  # the interval's ends pass the clamp
    normalised = (x - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        return net, x, net(normalised)


@pytest.mark.parametrize("state_key", ["model", "state_dict"])
def test_robustness_checkpoint_loads_to_the_same_logits(tmp_path, reference, state_key, caplog):
    net, x, logits = reference
    path, digest = save(robustness_layout(net, state_key), tmp_path / "resnet18_l2_eps3.ckpt")
    with caplog.at_level(logging.INFO, logger="pags.robustness_checkpoints"):
        model = FAMILY.load(path, digest, KEY)
    assert "full unpickling" not in caplog.text  # weights_only=True sufficed
    assert not model.training
    torch.testing.assert_close(model(x), logits, rtol=1e-4, atol=1e-4)
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)


def test_missing_keys_are_one_checkpoint_error(tmp_path, reference):
    blob = robustness_layout(reference[0])
    del blob["model"]["module.model.layer4.1.bn2.weight"]
    path, digest = save(blob, tmp_path / "broken.ckpt")
    with pytest.raises(CheckpointError, match=r"broken\.ckpt.*missing module\.model\.\{layer4\.1\.bn2\.weight\}"):
        FAMILY.load(path, digest, KEY)


def test_other_architecture_is_one_checkpoint_error(tmp_path, reference):
    blob = robustness_layout(reference[0])
    blob["model"]["module.model.fc.weight"] = torch.zeros(10, 512)
    blob["model"]["module.model.fc.bias"] = torch.zeros(10)
    path, digest = save(blob, tmp_path / "cifar.ckpt")
    with pytest.raises(
        CheckpointError, match=r"cifar\.ckpt' is not a torchvision resnet18 with 1000 classes.*fc\.weight"
    ):
        FAMILY.load(path, digest, KEY)


@pytest.mark.parametrize(
    "blob, message",
    [
        ({"epoch": 3}, "neither 'model' nor 'state_dict'"),
        ({"model": {"conv1.weight": torch.zeros(1)}}, "keys outside a DataParallel AttackerModel"),
        ({"model": {"module.model.fc.bias": torch.zeros(1000)}}, r"lacks \['module\.normalizer\.new_mean'"),
    ],
)
def test_not_a_robustness_checkpoint(tmp_path, blob, message):
    path, digest = save(blob, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match=message):
        FAMILY.load(path, digest, KEY)


def test_a_normaliser_other_than_imagenets_is_refused(tmp_path, reference):
    cifar_mean = (0.4914, 0.4822, 0.4465)
    path, digest = save(robustness_layout(reference[0], mean=cifar_mean), tmp_path / "cifar_norm.ckpt")
    with pytest.raises(CheckpointError, match=r"module\.normalizer\.new_mean is \[0\.49.*not ImageNet's"):
        FAMILY.load(path, digest, KEY)


TRIPPED: list[str] = []


def _trip(value):
    TRIPPED.append(value)
    return value


class Tripwire:
    """Needs full unpickling, and says when it happened."""

    def __reduce__(self):
        return _trip, ("unpickled",)


def test_full_unpickling_only_after_the_pin_matched(tmp_path, reference, caplog):
    TRIPPED.clear()
    path, digest = save(robustness_layout(reference[0], extra=Tripwire()), tmp_path / "dill.ckpt")
    with pytest.raises(WeightsError, match=r"not the pinned .*weights\.resnet18_l2_eps3\.sha256"):
        FAMILY.load(path, "0" * 64, KEY)
    with pytest.raises(WeightsError, match="pins none"):
        FAMILY.load(path, None, KEY)
    assert TRIPPED == []
    with caplog.at_level(logging.INFO, logger="pags.robustness_checkpoints"):
        model = FAMILY.load(path, digest, KEY)
    assert TRIPPED == ["unpickled"] and "needs full unpickling" in caplog.text
    torch.testing.assert_close(model(reference[1]), reference[2], rtol=1e-4, atol=1e-4)


def test_a_checkpoint_written_with_dill_loads(tmp_path, reference):
    """As the robustness library writes them: torch.save with pickle_module=dill, here with
    an object only dill can pickle (a lambda, pickled by value), so reading needs dill."""
    import dill

    path = tmp_path / "resnet18_l2_eps3.ckpt"
    torch.save(robustness_layout(reference[0], schedule=lambda epoch: 0.1), path, pickle_module=dill)
    model = FAMILY.load(path, sha256_file(path), KEY)
    torch.testing.assert_close(model(reference[1]), reference[2], rtol=1e-4, atol=1e-4)


def test_a_file_written_with_dill_asks_for_dill(tmp_path, monkeypatch):
    fake = types.ModuleType("dill")

    def _load_type(name):
        return name

    _load_type.__module__, _load_type.__qualname__ = "dill", "_load_type"
    fake._load_type = _load_type
    monkeypatch.setitem(sys.modules, "dill", fake)
    path, digest = save({"model": {}, "type": _Reduced(_load_type)}, tmp_path / "d.ckpt")
    monkeypatch.setitem(sys.modules, "dill", None)  # as if dill were not installed
    with pytest.raises(WeightsError, match=r"written with dill.*dependency of pags.*pip install -c constraints\.txt"):
        FAMILY.load(path, digest, KEY)


class _Reduced:
    def __init__(self, fn):
        self.fn = fn

    def __reduce__(self):
        return self.fn, ("list",)


def test_input_normalize_clamps_and_passes_gradients_on_the_closed_interval():
    layer = InputNormalize(torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD))
    x = torch.tensor([-0.5, 0.0, 0.5, 1.0, 1.5]).expand(1, 3, 1, 5).clone().requires_grad_(True)
    out = layer(x)
    torch.testing.assert_close(out[..., 0], out[..., 1])
    torch.testing.assert_close(out[..., 4], out[..., 3])
    out.sum().backward()
    inside = torch.tensor([0.0, 1, 1, 1, 0])
    torch.testing.assert_close(x.grad[0, :, 0], inside / torch.tensor(IMAGENET_STD).view(3, 1))


# ---- families and top-1 ------------------------------------------------------------


def test_resnet18_family_holds_the_published_table():
    assert FAMILY.strengths == (0, 0.01, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 3, 5)
    published = [69.79, 69.90, 69.24, 69.15, 68.77, 67.43, 65.49, 62.32, 53.12, 45.59]
    assert list(FAMILY.published_top1.values()) == published
    assert [FAMILY.file_name(e) for e in (0, 0.01, 1, 3.0)] == [
        "resnet18_l2_eps0.ckpt",
        "resnet18_l2_eps0.01.ckpt",
        "resnet18_l2_eps1.ckpt",
        "resnet18_l2_eps3.ckpt",
    ]
    assert FAMILY.weight_name(0.25) == "resnet18_l2_eps0.25"
    assert FAMILY.input == ClassifierProperties(1000, 3, 224) and FAMILY.value_range == (0.0, 1.0)
    with pytest.raises(ConfigError, match=r"'sweep\.imagenet\.pretrained\.eps'.*no model at eps 2"):
        check_family_config("salman2020-resnet18-l2", [0, 2], "sweep.imagenet.pretrained.eps")
    with pytest.raises(ConfigError, match=r"no pretrained family 'resnet18'"):
        check_family_config("resnet18", [0], "sweep.imagenet.pretrained.family")


def test_top1_accuracy_of_splits_and_loaders():
    class FirstPixel(nn.Module):  # predicts class 0 if the first pixel is dark, else 1
        def forward(self, x):
            v = x[:, 0, 0, 0]
            return torch.stack([0.5 - v, v - 0.5], 1)

    x = torch.tensor([0, 255, 10, 200], dtype=torch.uint8).view(4, 1, 1, 1)
    y = torch.tensor([0, 1, 1, 1])
    assert accuracy(FirstPixel(), ImageSplit(x, y), batch_size=3) == 0.75
    assert accuracy(FirstPixel(), ImageSplit(x.float() / 255, y), batch_size=2) == 0.75
    assert accuracy(FirstPixel(), [(x[:2], y[:2]), (x[2:], y[2:])]) == 0.75
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        accuracy(FirstPixel(), ImageSplit(x.float(), y), value_range=(0, 1))
    with pytest.raises(ValueError, match="no images"):
        accuracy(FirstPixel(), [])


def test_top1_check_flags_more_than_half_a_point(caplog):
    with caplog.at_level(logging.WARNING, logger="pags.evaluate"):
        rows = [top1_row(FAMILY, eps, value) for eps, value in ((0, 69.79 + 0.6), (3, 53.12 - 0.4), (5, 45.59))]
    assert [r["flagged"] for r in rows] == [True, False, False]
    assert [r["published_top1"] for r in rows] == [69.79, 53.12, 45.59]
    torch.testing.assert_close(
        torch.tensor([r["difference"] for r in rows]), torch.tensor([0.6, -0.4, 0.0]), atol=1e-9, rtol=0
    )
    flagged = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(flagged) == 1 and "published 69.79%" in flagged[0].getMessage()


# ---- resizing for alignment --------------------------------------------------------


def fine_gradients(blur_px: float, side: int = 226, seed: int = 0) -> torch.Tensor:
    """[8, 3, side, side] white noise, blurred by a Gaussian of std ``blur_px`` (0: none):
    as fine-grained as the input gradients of standard ImageNet models."""
    v = torch.randn(8 * 3, 1, side, side, generator=torch.Generator().manual_seed(seed))
    if blur_px > 0:
        k = torch.exp(-(torch.arange(-6.0, 7.0) ** 2) / (2 * blur_px**2))
        k = k / k.sum()
        v = F.conv2d(F.conv2d(v, k.view(1, 1, 1, -1), padding=(0, 6)), k.view(1, 1, -1, 1), padding=(6, 0))
    return v.view(8, 3, side, side)


@pytest.mark.parametrize("blur_px", [0.0, 0.7])
def test_antialiased_gradients_survive_a_one_pixel_shift(blur_px):
    """Shrinking 224 px gradients to 64 px: a 1 px shift of the gradient keeps its 64 px map
    (cosine above 0.85) with antialiasing, the default, and changes it (below 0.75)
    without, which samples 4 of every 3.5 x 3.5 pixels."""
    v = fine_gradients(blur_px)
    a, shifted = v[..., 1:225, 1:225], v[..., 1:225, 2:226]

    def cosine(how):
        x, y = (gradient_for_alignment(g, 64, how) for g in (a, shifted))
        return F.cosine_similarity(x.flatten(1), y.flatten(1)).min().item()

    assert cosine("antialiased") > 0.85
    assert cosine("aliased") < 0.75
    torch.testing.assert_close(gradient_for_alignment(a, 64), gradient_for_alignment(a, 64, "antialiased"))
    with pytest.raises(ValueError, match="one of"):
        gradient_for_alignment(a, 64, "nearest")


def test_images_and_gradients_are_resized_alike_by_default():
    """The score sees antialiased images; by default the gradients compared with it are
    resized the same way (one helper, ``resize``)."""
    x = torch.rand(2, 3, 224, 224)
    torch.testing.assert_close(gradient_for_alignment(x, 64), images_for_score(x, 64))
    torch.testing.assert_close(resize(x, 64), images_for_score(x, 64))


def test_resizing_for_the_score_and_the_alignment():
    x = torch.rand(2, 3, 224, 224)
    assert images_for_score(x).shape == (2, 3, 64, 64)
    assert gradient_for_alignment(torch.randn(2, 3, 224, 224)).shape == (2, 3, 64, 64)
    values = torch.tensor([0.0, 0.25, 1.0, 0.7]).view(2, 2, 1, 1)
    constant = values.expand(2, 2, 224, 224)
    torch.testing.assert_close(images_for_score(constant), values.expand(2, 2, 64, 64), rtol=0, atol=1e-6)
    torch.testing.assert_close(
        gradient_for_alignment(-3 * constant), -3 * values.expand(2, 2, 64, 64), rtol=0, atol=1e-6
    )
    as_uint8 = torch.full((1, 3, 224, 224), 51, dtype=torch.uint8)
    torch.testing.assert_close(images_for_score(as_uint8), torch.full((1, 3, 64, 64), 0.2), rtol=0, atol=1e-6)
    resized = images_for_score(x)
    assert resized.min() >= 0 and resized.max() <= 1


# ---- compatibility of pretrained networks --------------------------------------------


class StandInDenoiser(nn.Module):
    """EDM's call convention and attributes: net(x, sigma, class_labels) on [-1, 1]
    images, an all-zero label vector when called without labels (as EDMPrecond)."""

    def __init__(self, label_dim=1000, img_resolution=64, img_channels=3):
        super().__init__()
        self.label_dim, self.img_resolution, self.img_channels = label_dim, img_resolution, img_channels

    def forward(self, x, sigma, class_labels=None):
        if self.label_dim and class_labels is None:
            class_labels = torch.zeros(len(x), self.label_dim)
        shift = 0 if not self.label_dim else class_labels.argmax(1).float().view(-1, 1, 1, 1) / self.label_dim
        return x / (1 + sigma.view(-1, 1, 1, 1) ** 2) + shift


IMAGENET_SCORE = dict(
    network="edm-imagenet-64x64-cond-adm",
    num_classes=1000,
    image_shape=(3, 64, 64),
    dataset="imagenet64",
    key="sweep.imagenet64.score.edm_network",
    conditional_key="sweep.imagenet64.score.conditional",
)


CIFAR_SCORE = dict(
    num_classes=10,
    image_shape=(3, 32, 32),
    dataset="cifar10",
    key="sweep.cifar10.score.edm_network",
    conditional_key="sweep.cifar10.score.conditional",
    allow_key="sweep.cifar10.score.allow_other_data",
)


def test_conditional_network_used_unconditionally_is_refused_before_scoring():
    with pytest.raises(
        ConfigError, match=r"'sweep\.imagenet64\.score\.conditional' is false.*label_dim 1000.*all-zero"
    ):
        check_edm_network(StandInDenoiser(), **IMAGENET_SCORE, conditional=False)
    props = check_edm_network(StandInDenoiser(), **IMAGENET_SCORE, conditional=True)
    score = edm_score(StandInDenoiser(), props.label_dim)
    assert score(torch.rand(2, 3, 64, 64), 0.6, torch.tensor([3, 999])).shape == (2, 3, 64, 64)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            dict(num_classes=10),
            r"'sweep\.imagenet64\.score\.edm_network'.*trained on 1000 classes, but the data set has 10",
        ),
        (dict(image_shape=(3, 32, 32)), r"'sweep\.imagenet64\.score\.edm_network'.*64 px images.*computed on 32 px"),
        (dict(image_shape=(1, 64, 64)), r"'sweep\.imagenet64\.score\.edm_network'.*3-channel images.*have 1"),
        (dict(image_shape=(3, 64, 48)), r"'sweep\.imagenet64\.score\.edm_network'.*64x48 px"),
    ],
)
def test_mismatches_with_the_data_are_one_config_error(change, message):
    with pytest.raises(ConfigError, match=message):
        check_edm_network(StandInDenoiser(), **(IMAGENET_SCORE | change), conditional=True)


def test_unconditional_network_with_conditional_config():
    with pytest.raises(ConfigError, match=r"'sweep\.cifar10\.score\.conditional' is true.*edm-cifar10-32x32-cond-vp"):
        check_edm_config("edm-cifar10-32x32-uncond-vp", **CIFAR_SCORE, conditional=True)


def test_release_table_checks_the_config_by_name():
    assert EDM_RELEASES["edm-imagenet-64x64-cond-adm"] == DenoiserProperties(1000, 64, 3)
    assert EDM_RELEASES["edm-cifar10-32x32-cond-vp"] == DenoiserProperties(10, 32, 3)
    for name in ("edm-cifar10-32x32-uncond-vp", "edm-ffhq-64x64-uncond-vp", "edm-afhqv2-64x64-uncond-vp"):
        assert EDM_RELEASES[name].label_dim == 0 and EDM_RELEASES[name].img_channels == 3
    cifar = CIFAR_SCORE
    assert check_edm_config("edm-cifar10-32x32-uncond-vp", **cifar, conditional=False).img_resolution == 32
    assert check_edm_config("my-own-denoiser", **cifar, conditional=False) is None
    with pytest.raises(ConfigError, match=r"Fix: set 'sweep\.cifar10\.score\.conditional: true'"):
        check_edm_config("edm-cifar10-32x32-cond-vp", **cifar, conditional=False)


IMAGENET64 = dict(
    num_classes=1000,
    image_shape=(3, 64, 64),
    dataset="imagenet64",
    key="sweep.imagenet64.score.edm_network",
    conditional_key="sweep.imagenet64.score.conditional",
    allow_key="sweep.imagenet64.score.allow_other_data",
)


@pytest.mark.parametrize("network", ["edm-ffhq-64x64-uncond-vp", "edm-afhqv2-64x64-uncond-vp"])
def test_a_denoiser_trained_on_other_images_is_refused_unless_the_config_allows_it(network):
    """Of the right shape for unconditional ImageNet-64, but trained on faces or animals."""
    with pytest.raises(ConfigError) as refused:
        check_edm_config(network, **IMAGENET64, conditional=False)
    message = str(refused.value)
    assert message.startswith("config key 'sweep.imagenet64.score.edm_network':")
    assert f"{network} was trained on {EDM_TRAINING_DATA[network]} images" in message
    assert "'sweep.imagenet64.score.allow_other_data: true'" in message and "edm-imagenet-64x64-cond-adm" in message
    assert check_edm_config(network, **IMAGENET64, conditional=False, allow_other_data=True).img_resolution == 64


def test_suggested_releases_are_trained_on_the_same_images():
    # unconditional ImageNet-64 has no release: FFHQ's and AFHQv2's are not offered
    assert matching_releases(1000, 64, 3, False, "imagenet64") == []
    assert matching_releases(1000, 64, 3, True, "imagenet") == [
        "edm-imagenet-64x64-cond-adm",
        "baseline-imagenet-64x64-cond-adm",
    ]
    assert matching_releases(10, 32, 3, False, "synthetic") == []
    for dataset in ("cifar10", "imagenet64", "imagenet", "synthetic"):
        for classes, side, conditional in ((10, 32, False), (10, 32, True), (1000, 64, False), (1000, 64, True)):
            for name in matching_releases(classes, side, 3, conditional, dataset):
                assert EDM_TRAINING_DATA[name] == IMAGES_OF[dataset], (dataset, name)
    with pytest.raises(ConfigError) as refused:  # a conditional network asked for unconditionally
        check_edm_config("edm-imagenet-64x64-cond-adm", **IMAGENET64, conditional=False)
    assert "ffhq" not in str(refused.value) and "afhqv2" not in str(refused.value)
    assert set(EDM_TRAINING_DATA) == set(EDM_RELEASES)


def test_loaded_network_must_be_the_release_its_name_says():
    with pytest.raises(WeightsError, match=r"'weights\.edm-cifar10-32x32-uncond-vp'.*not that release"):
        check_edm_network(
            StandInDenoiser(), **(IMAGENET_SCORE | {"network": "edm-cifar10-32x32-uncond-vp"}), conditional=True
        )
    with pytest.raises(WeightsError, match=r"no valid 'label_dim'.*not an EDM network"):
        check_edm_network(nn.Linear(2, 2), **IMAGENET_SCORE, conditional=True)


def test_pretrained_classifier_must_fit_the_data():
    check_classifier(FAMILY.input, num_classes=1000, image_shape=(3, 224, 224), key="k", name=FAMILY.name)
    with pytest.raises(ConfigError, match=r"'pretrained\.imagenet\.family'.*1000 classes, the data set 10.*224x224 px"):
        check_classifier(
            FAMILY.input, num_classes=10, image_shape=(3, 32, 32), key="pretrained.imagenet.family", name=FAMILY.name
        )
