"""Training objectives as pluggable pieces: ``objective(model, x, y, generator) -> loss``.

Each objective is built from its config entry and one strength (a number, or a list from
which one value is drawn per batch). Adding an objective means adding a class here and
its config schema entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .attacks import pgd_l2
from .grid import strength_values

Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


def draw(values: list[float], generator: torch.Generator) -> float:
    """One value per batch, from the training generator so resumed runs draw the same."""
    if len(values) == 1:
        return values[0]
    index = torch.randint(len(values), (1,), generator=generator, device=generator.device)
    return values[int(index)]


@dataclass
class Standard:
    """Plain cross-entropy: the unrobust baseline."""

    def __call__(self, model, x, y, generator):
        return F.cross_entropy(model(x), y)


@dataclass
class PGD:
    """Adversarial training: cross-entropy at the L2-PGD adversarial example."""

    eps: list[float]
    steps: int
    step_size: float  # as a fraction of eps (the authors: 2/steps on CIFAR, 2.5/steps on MNIST)
    random_start: float  # norm of the random start, as a fraction of eps
    eps_convention: str

    def __call__(self, model, x, y, generator):
        eps = draw(self.eps, generator)
        x_adv = pgd_l2(
            model, x, y, eps, self.steps, self.step_size * eps, self.random_start * eps, self.eps_convention, generator
        )
        return F.cross_entropy(model(x_adv), y)


def _pgd(values: list[float], options: dict[str, Any]) -> PGD:
    return PGD(
        eps=values,
        steps=int(options["steps"]),
        step_size=float(options["step_size"]),
        random_start=float(options["random_start"]),
        eps_convention=options["eps_convention"],
    )


# name -> builder(strength values, options)
OBJECTIVES: dict[str, Callable[[list[float], dict[str, Any]], Objective]] = {
    "standard": lambda values, options: Standard(),
    "pgd": _pgd,
}


def make_objective(name: str, strength: Any, options: dict[str, Any]) -> Objective:
    """Build an objective from one strength and its config options."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; known: {sorted(OBJECTIVES)}")
    return OBJECTIVES[name](strength_values(strength), options)
