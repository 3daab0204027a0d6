"""Pretrained robust ImageNet classifiers, by family: loading, top-1, and resizing for alignment.

A family is a set of published checkpoints of one architecture at several robustness
strengths (``PretrainedFamily``): how its files are named, how they load, what input the
networks take, and the top-1 accuracy their authors published. ``FAMILIES`` lists them by
name; a new family enters with its data and a loader.

The L2-robust ImageNet models of Salman, Ilyas, Engstrom, Kapoor & Madry (2020), "Do
Adversarially Robust ImageNet Models Transfer Better?" (NeurIPS 2020), are distributed by
github.com/microsoft/robust-models-transfer as checkpoints of the MadryLab ``robustness``
library (``train.py``, ``model_utils.make_and_restore_model``): a dict with ``model``
(legacy files: ``state_dict``), ``optimizer``, ``schedule``, ``epoch``, ``amp``, where the
state dict is that of a DataParallel-wrapped ``AttackerModel``:

- ``module.model.<key>``: the classifier, torchvision's layout (``conv1.weight``,
  ``layer1.0.bn1.running_mean``, ..., ``fc.bias``);
- ``module.normalizer.new_mean`` / ``new_std``: [3, 1, 1], ImageNet's mean and std,
  applied to inputs clamped to [0, 1] (``robustness.tools.helpers.InputNormalize``);
- ``module.attacker.model.<key>``, ``module.attacker.normalize.new_mean`` / ``new_std``:
  the attacker's references to the same tensors, ignored here.

They are loaded without the ``robustness`` library: ``module.model.*`` into torchvision's
architecture, behind an ``InputNormalize`` layer with the checkpoint's mean and std, so
every loaded model takes [B, 3, H, W] images in [0, 1] and returns logits [B, 1000].
The files were written with ``torch.save(..., pickle_module=dill)``; they are first read
with ``weights_only=True`` and unpickled fully only if that fails, always after their
sha256 matched the pinned one.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .compatibility import ClassifierProperties
from .errors import CheckpointError, ConfigError, WeightsError
from .models import IMAGENET_MEAN, IMAGENET_STD, InputNormalize, NormalizedClassifier
from .weights import verify

log = logging.getLogger("pags.pretrained")

NORMALIZER_ATOL = 1e-3  # the checkpoints store these as float32
TOP1_TOLERANCE = 0.5  # percentage points between measured and published top-1 before a flag
# What unpickling the published checkpoints imports though no module here does: they were
# written with torch.save(..., pickle_module=dill). Dependencies of pags, pinned.
UNPICKLER_MODULES = ("dill",)


# ---- the model ---------------------------------------------------------------------


# ---- reading robustness checkpoints -----------------------------------------------


def read_checkpoint(path: str | os.PathLike, sha256: str | None, key: str) -> Any:
    """The object in the torch file ``path``, opened only after its sha256 matched
    ``sha256`` (pinned at config key ``key``; ``weights.verify``, ``WeightsError``).

    Read with ``weights_only=True`` first; a file that needs full unpickling (written
    with ``dill``, or holding other objects) is then unpickled with Python's pickle,
    which runs code from the file: hence the hash check first. If that needs ``dill``
    and it is not installed: ``WeightsError`` saying to install it. A file that cannot
    be read at all: ``CheckpointError``."""
    path = verify(path, sha256, key)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        log.info("'%s' needs full unpickling (%s); its sha256 matches the pin, so it is unpickled", path, reason)
    except Exception as e:
        raise CheckpointError(f"'{path}' cannot be read as a torch file ({type(e).__name__}: {e}).") from e
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except ModuleNotFoundError as e:
        module = (e.name or "").split(".")[0]
        if module in UNPICKLER_MODULES:
            raise WeightsError(
                f"'{path}' (config key '{key}') was written with {module}, which is needed to unpickle it and "
                "is a dependency of pags, but is not installed in this environment. Fix: install pags's pinned "
                "dependencies (pip install -c constraints.txt -e ., or the rules' envs/pags.yaml), then rerun."
            ) from e
        raise CheckpointError(
            f"unpickling '{path}' needs the module '{e.name}': it is not a checkpoint of the robustness "
            f"library's layout. Fix: check that config key '{key}' names the published file."
        ) from e
    except Exception as e:
        raise CheckpointError(f"'{path}' cannot be unpickled ({type(e).__name__}: {e}).") from e


def split_robustness_state(
    blob: Any, path: str | os.PathLike
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """From a ``robustness`` checkpoint dict: the classifier's state dict (the
    ``module.model.`` prefix removed) and the normaliser's mean and std ([3, 1, 1]).
    Anything else is one ``CheckpointError`` naming ``path`` and what is wrong."""
    if not isinstance(blob, Mapping):
        raise CheckpointError(f"'{path}' holds a {type(blob).__name__}, not a robustness checkpoint dict.")
    state_key = "model" if "model" in blob else "state_dict" if "state_dict" in blob else None
    if state_key is None:
        raise CheckpointError(
            f"'{path}' has neither 'model' nor 'state_dict' (keys: {sorted(map(str, blob))[:8]}): "
            "it is not a robustness checkpoint."
        )
    state = blob[state_key]
    if not isinstance(state, Mapping):
        raise CheckpointError(f"'{path}': '{state_key}' is a {type(state).__name__}, not a state dict.")
    net, normalizer, foreign = {}, {}, []
    for name, value in state.items():
        if name.startswith("module.model."):
            net[name.removeprefix("module.model.")] = value
        elif name.startswith("module.normalizer."):
            normalizer[name.removeprefix("module.normalizer.")] = value
        elif not name.startswith("module.attacker."):
            foreign.append(name)
    if foreign:
        raise CheckpointError(
            f"'{path}' has keys outside a DataParallel AttackerModel's (module.model.*, module.normalizer.*, "
            f"module.attacker.*): {foreign[:5]}{' ...' if len(foreign) > 5 else ''}."
        )
    missing = [f"module.normalizer.{k}" for k in ("new_mean", "new_std") if k not in normalizer]
    if not net or missing:
        what = missing + (["module.model.*"] if not net else [])
        raise CheckpointError(f"'{path}' lacks {what}: it is not a robustness AttackerModel checkpoint.")
    return net, normalizer["new_mean"], normalizer["new_std"]


def check_normalizer(mean: torch.Tensor, std: torch.Tensor, path: str | os.PathLike) -> None:
    """The checkpoint's normaliser must be ImageNet's mean and std (3 values each,
    within ``NORMALIZER_ATOL``); else ``CheckpointError``: the model was trained on
    other data, or expects other inputs."""
    for name, value, expected in (("new_mean", mean, IMAGENET_MEAN), ("new_std", std, IMAGENET_STD)):
        ok = (
            isinstance(value, torch.Tensor)
            and value.numel() == 3
            and torch.allclose(
                value.detach().double().flatten(),
                torch.tensor(expected, dtype=torch.float64),
                rtol=0,
                atol=NORMALIZER_ATOL,
            )
        )
        if not ok:
            shown = value.flatten().tolist() if isinstance(value, torch.Tensor) else value
            raise CheckpointError(
                f"'{path}': module.normalizer.{name} is {shown}, not ImageNet's {list(expected)}: the model "
                "was trained for other inputs than [0, 1] ImageNet images."
            )


def load_robustness_checkpoint(
    path: str | os.PathLike, sha256: str | None, key: str, build: Callable[[], nn.Module], arch: str
) -> NormalizedClassifier:
    """A ``robustness`` checkpoint as a model on [0, 1] inputs, in eval mode, without
    gradients for its parameters (input gradients still flow).

    ``build()`` makes the bare network (torchvision layout) that ``module.model.*``
    must fill exactly; ``arch`` names it in errors. Missing or unexpected keys and
    shape mismatches are one ``CheckpointError`` naming the file."""
    blob = read_checkpoint(path, sha256, key)
    state, mean, std = split_robustness_state(blob, path)
    check_normalizer(mean, std, path)
    net = build()
    try:
        result = net.load_state_dict(state, strict=False)
    except RuntimeError as e:
        lines = [line.strip() for line in str(e).splitlines() if "size mismatch" in line]
        raise CheckpointError(f"'{path}' is not a {arch}: {'; '.join(lines[:3]) or str(e).splitlines()[0]}.") from e
    if result.missing_keys or result.unexpected_keys:
        problems = []
        if result.missing_keys:
            problems.append(
                f"missing module.model.{{{', '.join(result.missing_keys[:5])}{', ...' if len(result.missing_keys) > 5 else ''}}}"
            )
        if result.unexpected_keys:
            problems.append(
                f"unexpected module.model.{{{', '.join(result.unexpected_keys[:5])}{', ...' if len(result.unexpected_keys) > 5 else ''}}}"
            )
        raise CheckpointError(f"'{path}' is not a {arch}: {'; '.join(problems)}.")
    model = NormalizedClassifier(InputNormalize(mean, std), net)
    return model.eval().requires_grad_(False)


# ---- families ----------------------------------------------------------------------


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


# ---- top-1 ------------------------------------------------------------------------


def _batches(images, labels, batch_size: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(images, torch.Tensor):
        if labels is None or len(labels) != len(images):
            raise ValueError("top1 on a tensor of images needs one label per image")
        for i in range(0, len(images), batch_size):
            yield images[i : i + batch_size], labels[i : i + batch_size]
    else:
        if labels is not None:
            raise ValueError("top1 on a loader takes the labels from its (images, labels) batches")
        yield from images


@torch.no_grad()
def top1(
    model: nn.Module,
    images: torch.Tensor | Iterable[tuple[torch.Tensor, torch.Tensor]],
    labels: torch.Tensor | None = None,
    batch_size: int = 250,
    device: torch.device | str = "cpu",
) -> float:
    """Top-1 accuracy in percent (0-100, the unit of published tables).

    ``images``: [N, C, H, W], uint8 (divided by 255) or float in [0, 1], with ``labels``
    int64 [N]; or an iterable of such (images, labels) batches, e.g. a DataLoader, with
    ``labels`` None. Raises ``ValueError`` for float images outside [0, 1] (already
    normalised ones, say) and for no images at all."""
    model.eval()
    correct = total = 0
    for x, y in _batches(images, labels, batch_size):
        x = x.to(device)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise ValueError(f"top1 takes images in [0, 1], got values in [{x.min():.3g}, {x.max():.3g}]")
        correct += (model(x).argmax(1).cpu() == y.cpu()).sum().item()
        total += len(y)
    if total == 0:
        raise ValueError("top1 got no images")
    return 100.0 * correct / total


def top1_row(
    family: PretrainedFamily, eps: float, measured: float, tolerance: float = TOP1_TOLERANCE
) -> dict[str, Any]:
    """Measured vs published top-1 (%) of ``family`` at ``eps``: a row with columns
    family, eps, published_top1, measured_top1, difference (measured - published,
    points) and flagged (|difference| > ``tolerance``). A flag is logged as a warning,
    not raised: a different preprocessing or subset of ImageNet val shifts top-1 too."""
    published = family.published(eps)
    difference = measured - published
    flagged = abs(difference) > tolerance + 1e-9
    if flagged:
        log.warning(
            "%s at %s %g: measured top-1 %.2f%% differs from the published %.2f%% by %+.2f points (more than %.2f): "
            "check the preprocessing (Resize 256, CenterCrop 224, [0, 1]), the labels' class order and the file",
            family.name,
            family.strength,
            eps,
            measured,
            published,
            difference,
            tolerance,
        )
    return {
        "family": family.name,
        "eps": float(eps),
        "published_top1": published,
        "measured_top1": float(measured),
        "difference": difference,
        "flagged": flagged,
    }
