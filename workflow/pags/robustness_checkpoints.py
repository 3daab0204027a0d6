"""Checkpoints of the MadryLab ``robustness`` library, read without it.

The L2-robust ImageNet models of Salman, Ilyas, Engstrom, Kapoor & Madry (2020), "Do
Adversarially Robust ImageNet Models Transfer Better?" (NeurIPS 2020), are distributed by
github.com/microsoft/robust-models-transfer as checkpoints of the ``robustness`` library
(``train.py``, ``model_utils.make_and_restore_model``): a dict with ``model`` (legacy
files: ``state_dict``), ``optimizer``, ``schedule``, ``epoch``, ``amp``, where the state
dict is that of a DataParallel-wrapped ``AttackerModel``:

- ``module.model.<key>``: the classifier, torchvision's layout (``conv1.weight``,
  ``layer1.0.bn1.running_mean``, ..., ``fc.bias``);
- ``module.normalizer.new_mean`` / ``new_std``: [3, 1, 1], ImageNet's mean and std,
  applied to inputs clamped to [0, 1] (``robustness.tools.helpers.InputNormalize``);
- ``module.attacker.model.<key>``, ``module.attacker.normalize.new_mean`` / ``new_std``:
  the attacker's references to the same tensors, ignored here.

``module.model.*`` is loaded into torchvision's architecture, behind an ``InputNormalize``
layer with the checkpoint's mean and std, so every loaded model takes [B, 3, H, W] images
in [0, 1] and returns logits [B, 1000]. The files were written with
``torch.save(..., pickle_module=dill)``; they are first read with ``weights_only=True``
and unpickled fully only if that fails, always after their sha256 matched the pinned one.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from .errors import CheckpointError, WeightsError
from .models import IMAGENET_MEAN, IMAGENET_STD, InputNormalize, NormalizedClassifier
from .weights import verify

log = logging.getLogger("pags.robustness_checkpoints")

NORMALIZER_ATOL = 1e-3  # the checkpoints store these as float32
# What unpickling the published checkpoints imports though no module here does: they were
# written with torch.save(..., pickle_module=dill). Dependencies of pags, pinned.
UNPICKLER_MODULES = ("dill",)


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
