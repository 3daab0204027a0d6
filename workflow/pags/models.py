"""Classifiers by name, and the model file format (loadable with ``weights_only=True``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .errors import CheckpointError
from .io import load_torch, save_torch


def resnet18(in_channels: int, num_classes: int) -> nn.Module:
    """The paper's CIFAR-style ResNet18: torchvision's, with a 3x3 stride-1 stem and no
    max-pool. Its adaptive average pool accepts any input size (56x28 included)."""
    from torchvision.models import resnet18 as tv_resnet18

    model = tv_resnet18(num_classes=num_classes)
    model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


def resnet18_imagenet(in_channels: int, num_classes: int) -> nn.Module:
    """torchvision's ResNet18 unchanged (7x7 stride-2 stem, 3x3 stride-2 max-pool), the
    authors' ImageNet-64 model: inputs [N, C, H, W] in [0, 1] with no normalisation, any
    H, W >= 32 (64x64 reaches the last stage at 2x2); logits [N, num_classes]. Only a
    ``in_channels`` other than 3 replaces the stem's convolution (same shape otherwise)."""
    from torchvision.models import resnet18 as tv_resnet18

    model = tv_resnet18(num_classes=num_classes)
    if in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return model


def small_cnn(in_channels: int, num_classes: int, width: int = 32, pool: int = 1) -> nn.Module:
    """Three conv-BN-ReLU stages and a linear head: for demos and tests on a CPU.
    ``pool`` > 1 keeps a pool x pool grid of features, so the head sees where they are."""

    def stage(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        *stage(in_channels, width, 1),
        *stage(width, 2 * width, 2),
        *stage(2 * width, 4 * width, 2),
        nn.AdaptiveAvgPool2d(pool),
        nn.Flatten(),
        nn.Linear(4 * width * pool * pool, num_classes),
    )


IMAGENET_MEAN = (0.485, 0.456, 0.406)  # robustness.datasets.ImageNet, torchvision's
IMAGENET_STD = (0.229, 0.224, 0.225)


class InputNormalize(nn.Module):
    """``(clamp(x, 0, 1) - mean) / std`` per channel, as ``robustness``'s
    ``InputNormalize``: x [B, C, H, W], meant to be in [0, 1]; mean, std [C].

    The clamp passes gradients at every x in the closed interval [0, 1] and none
    outside it. (``torch.clamp`` itself passes none at the ends, which would zero the
    input gradient at every saturated pixel, 0 or 255, of an image.)"""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.detach().float().reshape(1, -1, 1, 1).clone())
        self.register_buffer("std", std.detach().float().reshape(1, -1, 1, 1).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inside = (x >= 0) & (x <= 1)
        return (torch.where(inside, x, x.detach().clamp(0, 1)) - self.mean) / self.std


class NormalizedClassifier(nn.Module):
    """``net(normalize(x))``: images [B, C, H, W] in [0, 1] to logits [B, num_classes]."""

    def __init__(self, normalize: nn.Module, net: nn.Module):
        super().__init__()
        self.normalize, self.net = normalize, net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))


def normalized_torchvision(in_channels: int, num_classes: int, net: str = "resnet18") -> nn.Module:
    """torchvision's ImageNet network ``net`` (e.g. resnet18: 7x7 stem, max-pool) behind a
    per-channel normalisation layer: takes [B, 3, H, W] images in [0, 1] and returns
    logits [B, num_classes]. The pretrained robust families take this form
    (pags.pretrained); the layer starts at ImageNet's mean and std, a state dict sets its own."""
    import torchvision.models

    if in_channels != len(IMAGENET_MEAN):
        raise ValueError(f"normalized_torchvision takes RGB images, not {in_channels} channels")
    normalize = InputNormalize(torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD))
    return NormalizedClassifier(normalize, getattr(torchvision.models, net)(num_classes=num_classes))


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "resnet18": resnet18,
    "resnet18_imagenet": resnet18_imagenet,
    "normalized_torchvision": normalized_torchvision,
    "small_cnn": small_cnn,
}


def build_model(arch: str, in_channels: int, num_classes: int, **options: Any) -> nn.Module:
    return ARCHITECTURES[arch](in_channels, num_classes, **options)


def save_model(model: nn.Module, spec: dict[str, Any], path: str | os.PathLike) -> None:
    """``spec`` holds what ``build_model`` needs: arch, in_channels, num_classes, options."""
    save_torch({"spec": spec, "state_dict": model.state_dict()}, path)


def save_diverged(error: str, path: str | os.PathLike) -> None:
    """In place of a model whose training diverged: no weights, the status and the error,
    so that a sweep goes on and its tables and figures mark the point as diverged."""
    save_torch({"status": "diverged", "error": error}, path)


def read_spec_file(path: str | os.PathLike, what: str, rule: str) -> dict[str, Any]:
    """The {spec, state_dict} dict of a network file written by ``save_model``, loaded
    with ``weights_only=True``; anything else is a ``CheckpointError`` naming ``rule``."""
    blob = load_torch(path, what=what)
    if isinstance(blob, dict) and blob.get("status") == "diverged":
        raise CheckpointError(f"training of '{path}' diverged ({blob['error']}): there are no weights to load.")
    if not isinstance(blob, dict) or "spec" not in blob or "state_dict" not in blob:
        raise CheckpointError(f"'{path}' is not a {what} file written by pags: delete it and rerun {rule}.")
    return blob


def load_network(path: str | os.PathLike, build, what: str, rule: str) -> nn.Module:
    """A network saved with its ``spec`` by ``save_model``, rebuilt by ``build(spec)``, in eval mode."""
    blob = read_spec_file(path, what, rule)
    model = build(blob["spec"])
    load_state(model, blob["state_dict"], path)
    return model.eval()


def load_model(path: str | os.PathLike, expected_spec: dict[str, Any] | None = None) -> nn.Module:
    blob = read_spec_file(path, "model", "its training rule")
    spec = blob["spec"]
    if expected_spec is not None and spec != expected_spec:
        raise CheckpointError(f"model '{path}' was built as {spec}, but {expected_spec} is expected: retrain it.")
    model = build_model(spec["arch"], spec["in_channels"], spec["num_classes"], **spec.get("options", {}))
    load_state(model, blob["state_dict"], path)
    return model.eval()


def load_state(model: nn.Module, state_dict: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise CheckpointError(
            f"'{path}' holds weights of a different architecture ({first}). Delete it and rerun the rule that makes it."
        ) from e
