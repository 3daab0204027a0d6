"""The pretrained EDM denoisers (NVlabs/edm) as score functions.

EDM networks are called as ``net(x, sigma, class_labels)`` on images scaled to [-1, 1]
and return the denoised image D(x; sigma). They are distributed as pickles that import
EDM's own modules (``torch_utils``, ``dnnlib``) and run code while loading: a pickle is
opened only after its sha256 matches the pinned one, and EDM's source directory (a clone
of https://github.com/NVlabs/edm) must be importable, via config key ``edm_source``.
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import sys

import torch
import torch.nn.functional as F

from ..errors import ConfigError, WeightsError
from ..weights import verify
from . import ScoreFunction, score_from_denoiser


def edm_score(net: torch.nn.Module, num_classes: int = 0) -> ScoreFunction:
    """The score in [0, 1] pixel units from an EDM-convention denoiser.

    With x' = 2x - 1 (EDM's range) the noise level is sigma' = 2 sigma and
    grad_x log p_sigma(x) = 2 grad_x' log p'_sigma'(x') = 2 (D(x'; sigma') - x') / sigma'^2.
    A class-conditional network (``num_classes`` > 0) needs the labels."""

    def score(x: torch.Tensor, sigma: float, labels: torch.Tensor | None) -> torch.Tensor:
        if (labels is None) != (num_classes == 0):
            need = "needs the labels (conditional: true)" if num_classes else "is unconditional (conditional: false)"
            raise ValueError(f"this EDM network {need}")
        onehot = None if labels is None else F.one_hot(labels, num_classes).to(x.dtype)
        xp, sp = 2 * x - 1, 2 * sigma
        sigmas = torch.full((len(x),), sp, dtype=x.dtype, device=x.device)
        return 2 * score_from_denoiser(net(xp, sigmas, onehot).to(x.dtype), xp, sp)

    return score


def check_edm_source(source: str | None) -> None:
    """Before any job: EDM's modules, which its pickles import, can be found: in the
    directory ``source`` (config key ``edm_source``) or, with none set, already importable.
    Raises ``ConfigError`` with the fix."""
    fix = "Fix: clone https://github.com/NVlabs/edm (on a filesystem the compute nodes see) and set config key 'edm_source' to that directory."
    if source is None:
        if importlib.util.find_spec("torch_utils") is None:
            raise ConfigError(
                f"config key 'edm_source' is null, and the EDM networks' pickles need EDM's modules (torch_utils, dnnlib). {fix}"
            )
    elif not os.path.isdir(source):
        raise ConfigError(f"config key 'edm_source': '{source}' is not a directory. {fix}")


def load_edm(path: str | os.PathLike, sha256: str | None, key: str, source: str | None) -> torch.nn.Module:
    """The EMA network of an EDM release pickle, after its hash is checked."""
    verify(path, sha256, key)
    if source is not None and source not in sys.path:
        sys.path.insert(0, source)
    try:
        with open(path, "rb") as f:
            return pickle.load(f)["ema"].eval().requires_grad_(False)
    except ModuleNotFoundError as e:
        raise WeightsError(
            f"unpickling '{path}' needs EDM's module '{e.name}'. Fix: clone https://github.com/NVlabs/edm "
            "and set config key 'edm_source' to that directory."
        ) from e
