"""What a score backend is: one ``ScoreBackendSpec`` in its own module of this package.

A backend gives, per test image, either the score grad_x log p_sigma(x) (given the label:
grad_x log p_sigma(x | y)) or, if ``posterior``, the Bayes-optimal input gradient
grad_x log p_sigma(y | x). Its spec says which files it reads, what determines its
output besides the images, which weights and checks it needs, and how to build its
``ScoreFunction`` in the job (``pags.score``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .. import ScoreFunction


@dataclass(frozen=True)
class ScoreContext:
    """What a backend's ``load`` gets in the score job.

    - ``inputs``: the job's input files by name (``test`` and what ``inputs`` named);
      ``settings``: the job's params (its ``params`` and the common ones: ``n_images``,
      ``batch_size``, ``image_side``, ``num_classes``).
    - ``image_shape``: [C, H, W] of the images as scored; ``conditional``: whether the
      labels are given (the score asked for is class-conditional).
    - ``dataset``; ``key``: the config key of the experiment's ``score`` section, for
      errors; ``edm_source``: config key ``edm_source`` (where EDM's modules are)."""

    inputs: Mapping[str, str]
    settings: Mapping[str, Any]
    device: torch.device
    image_shape: tuple[int, int, int]
    num_classes: int
    conditional: bool
    dataset: str
    key: str
    edm_source: str | None = None


@dataclass(frozen=True)
class ScoreBackendSpec:
    """Everything the workflow knows about one score backend, in one place.

    - ``name``: its name in ``score.backends``, ``regimes.score`` and the scores' paths;
      ``label``: its name in figures.
    - ``posterior``: it gives grad log p(y | x), conditional by definition (its files are
      ``cond``), rather than a score; ``exact``: it is a closed form of the synthetic data
      set, known there only (and always computed there, as the reference of the estimates).
    - ``inputs(dataset, score)``: the files it reads besides the test images, by name, from
      the experiment's ``score`` section (``pags.paths``).
    - ``params(score, weights)``: what determines its output besides the images and sigma
      (e.g. the network and its pinned sha256), from the ``score`` section and the config's
      ``weights``; ``weights(score)``: the ``weights`` entries it reads.
    - ``check(key, dataset, score, config)``: its config checks, before any job (raise
      ``ConfigError``; ``key`` is the experiment's config path).
    - ``load(context)``: its ``ScoreFunction`` in the job (``ScoreContext``).
    - ``denoiser``: it reads the denoiser this workflow trains; ``edm``: it unpickles EDM
      networks (config key ``edm_source``).

    Raises ``ValueError`` for a malformed spec when its module is imported."""

    name: str
    label: str
    inputs: Callable[[str, dict[str, Any]], dict[str, str]]
    load: Callable[[ScoreContext], ScoreFunction]
    posterior: bool = False
    exact: bool = False
    # defaults: no params besides the images, no weight files, no config checks
    params: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] = lambda score, weights: {}
    weights: Callable[[dict[str, Any]], list[str]] = lambda score: []
    check: Callable[[str, str, dict[str, Any], dict[str, Any]], None] = lambda key, dataset, score, config: None
    denoiser: bool = False
    edm: bool = False

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"score backend name {self.name!r}: use lower-case letters, digits and '_'")
        if not self.label:
            raise ValueError(f"score backend {self.name!r}: label is empty")
        for part in ("inputs", "load", "params", "weights", "check"):
            if not callable(getattr(self, part)):
                raise ValueError(f"score backend {self.name!r}: {part} must be a callable")
