"""Classifiers by name, and the model file format (loadable with ``weights_only=True``)."""

from __future__ import annotations

import os
from typing import Any, Callable

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


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "resnet18": resnet18,
    "resnet18_imagenet": resnet18_imagenet,
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
