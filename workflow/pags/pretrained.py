"""Pretrained robust ImageNet classifiers, by family.

A family is a set of published checkpoints of one architecture at several robustness
strengths (``PretrainedFamily``): how its files are named, how they load, what input the
networks take, and the top-1 accuracy their authors published. ``FAMILIES`` lists them by
name; a new family enters with its data and a loader. The L2-robust ImageNet models of
Salman et al. (2020) load from the ``robustness`` library's checkpoints
(``pags.robustness_checkpoints``); their top-1 is measured and compared with the
published one by ``pags.evaluate``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .compatibility import ClassifierProperties
from .errors import ConfigError
from .robustness_checkpoints import load_robustness_checkpoint


@dataclass(frozen=True)
class PretrainedFamily:
    """Published checkpoints of one architecture at several strengths.

    ``published_top1``: strength -> top-1 accuracy (%) on ImageNet val as published;
    ``file_pattern``: the file name, with ``{eps}`` formatted as ``%g`` (0.01, 1, 3);
    ``torchvision_net``: the bare network, a torchvision model name; ``input``: what the
    networks take (classes, channels, side in px); inputs are images in ``value_range``."""

    name: str
    description: str
    source: str
    strength: str
    published_top1: Mapping[float, float]
    file_pattern: str
    torchvision_net: str
    input: ClassifierProperties
    value_range: tuple[float, float] = (0.0, 1.0)
    loader: Callable[..., nn.Module] = field(default=load_robustness_checkpoint)

    @property
    def arch(self) -> str:
        return f"torchvision {self.torchvision_net} with {self.input.num_classes} classes"

    def build(self) -> nn.Module:
        """The bare network, randomly initialised."""
        import torchvision.models

        return getattr(torchvision.models, self.torchvision_net)(num_classes=self.input.num_classes)

    @property
    def spec(self) -> dict[str, Any]:
        """The pags model spec of a loaded member (``pags.models.save_model``), so that it
        is saved and loaded like a trained model: ``normalized_torchvision``."""
        return {
            "arch": "normalized_torchvision",
            "in_channels": self.input.in_channels,
            "num_classes": self.input.num_classes,
            "options": {"net": self.torchvision_net},
        }

    @property
    def strengths(self) -> tuple[float, ...]:
        return tuple(self.published_top1)

    def _known(self, eps: float, key: str) -> float:
        for known in self.published_top1:
            if math.isclose(float(eps), known, rel_tol=1e-9, abs_tol=1e-12):
                return known
        raise ConfigError(
            f"config key '{key}': {self.name} has no model at {self.strength} {eps:g}. "
            f"Fix: use some of {[float(f'{e:g}') for e in self.published_top1]}."
        )

    def file_name(self, eps: float, key: str = "pretrained") -> str:
        """The published file name at strength ``eps``, e.g. ``resnet18_l2_eps3.ckpt``."""
        return self.file_pattern.format(eps=f"{self._known(eps, key):g}")

    def weight_name(self, eps: float, key: str = "pretrained") -> str:
        """The file name without its extension, e.g. ``resnet18_l2_eps3``: the natural
        name of its entry under ``weights:``."""
        return os.path.splitext(self.file_name(eps, key))[0]

    def published(self, eps: float, key: str = "pretrained") -> float:
        """Published top-1 (%) at ``eps``; ``ConfigError`` at ``key`` for an unknown one."""
        return self.published_top1[self._known(eps, key)]

    def load(self, path: str | os.PathLike, sha256: str | None, key: str) -> nn.Module:
        """The model in ``path`` (sha256 pinned at config key ``key``), taking
        [B, C, H, W] images in ``value_range`` and returning logits [B, num_classes]."""
        return self.loader(path, sha256, key, self.build, self.arch)


SALMAN_2020 = (
    "Salman, Ilyas, Engstrom, Kapoor & Madry (2020), Do Adversarially Robust ImageNet Models Transfer Better?, "
    "NeurIPS; checkpoints and top-1 table: github.com/microsoft/robust-models-transfer (README)"
)
L2_EPS = (0.0, 0.01, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0, 5.0)
IMAGENET_INPUT = ClassifierProperties(num_classes=1000, in_channels=3, side=224)


def salman2020(net: str, published_top1: tuple[float, ...]) -> PretrainedFamily:
    """An L2-robust family of Salman et al. (2020) at ``L2_EPS``, files ``<net>_l2_eps<eps>.ckpt``."""
    return PretrainedFamily(
        name=f"salman2020-{net}-l2",
        description=f"L2-robust {net}s on ImageNet (PGD-L2 adversarial training)",
        source=SALMAN_2020,
        strength="eps",
        published_top1=dict(zip(L2_EPS, published_top1)),
        file_pattern=f"{net}_l2_eps{{eps}}.ckpt",
        torchvision_net=net,
        input=IMAGENET_INPUT,
    )


FAMILIES: dict[str, PretrainedFamily] = {
    family.name: family
    for family in (
        salman2020("resnet18", (69.79, 69.90, 69.24, 69.15, 68.77, 67.43, 65.49, 62.32, 53.12, 45.59)),
        salman2020("resnet50", (75.80, 75.68, 75.76, 75.59, 74.78, 74.14, 73.16, 70.43, 62.83, 56.13)),
    )
}


def as_experiment(section: Mapping[str, Any]) -> dict[str, Any]:
    """A ``pretrained.<data set>`` config section as the sweep's tables, regimes, figures
    and galleries see an experiment: eps 0 is the standard model, the others PGD-L2 models
    at per-example eps (Salman et al. 2020 train in each image's own L2 ball), one seed."""
    robust = [eps for eps in section["eps"] if eps > 0]
    objectives = {"standard": {"grid": [0.0]}} if 0 in section["eps"] else {}
    objectives["pgd"] = {"grid": robust, "eps_convention": "per_example"}
    return {**section, "objectives": objectives, "seeds": [0]}


def get_family(name: str, key: str) -> PretrainedFamily:
    """The family ``name``; ``ConfigError`` at config key ``key`` if there is none."""
    if name not in FAMILIES:
        raise ConfigError(f"config key '{key}': no pretrained family {name!r}. Fix: one of {sorted(FAMILIES)}.")
    return FAMILIES[name]


def check_family_config(name: str, strengths: Iterable[float], key: str) -> PretrainedFamily:
    """Config validation time: the family exists and has a model at each strength
    (``ConfigError`` naming ``key``). Returns the family."""
    family = get_family(name, key)
    for eps in strengths:
        family._known(eps, key)
    return family
