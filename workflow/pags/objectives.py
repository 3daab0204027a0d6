"""Training objectives as pluggable pieces: ``objective(model, x, y, generator) -> loss``.

Each objective is built from its config options and one strength: a number, or a list
from which one value is drawn per batch. l is the cross-entropy on logits.

- standard:   l(f(x), y)
- gnorm:      l(f(x), y) + lambda * scale * mean_i ||grad_x l(f(x_i), y_i)||^2  (double backprop)
- smooth:     l(f(x), y) + lambda * mean_i ||f(x_i + e_i) - f(x_i)||^2,  e ~ N(0, s^2), s fixed
- randsmooth: l(f(x + e), y),  e ~ N(0, sigma^2), sigma = strength
- pgd:        l(f(x_adv), y),  x_adv from L2 PGD in the eps ball (``attacks.pgd_l2``), the
              model attacked in eval mode or, with ``attack_mode: train``, in train mode
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .attacks import ATTACK_MODES, pgd_l2
from .grid import strength_values

Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


def draw(values: list[float], generator: torch.Generator) -> float:
    """One value per batch, from the training generator so resumed runs draw the same."""
    if len(values) == 1:
        return values[0]
    index = torch.randint(len(values), (1,), generator=generator, device=generator.device)
    return values[int(index)]


def gaussian_like(x: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    return std * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


@dataclass
class Standard:
    """Plain cross-entropy: the unrobust baseline."""

    def __call__(self, model, x, y, generator):
        return F.cross_entropy(model(x), y)


@dataclass
class GradNorm:
    """Input-gradient norm penalty. The penalty is the batch mean of each example's
    squared gradient norm, times ``penalty_scale``. The authors' code penalises
    1e5 * ||grad_x of the batch-mean loss||^2 / B = (1e5 / B^2) * that mean, so their
    lambda equals ours with penalty_scale = 1e5 / B^2 (6.1 at B = 128)."""

    strengths: list[float]
    penalty_scale: float

    def __call__(self, model, x, y, generator):
        x = x.detach().requires_grad_(True)
        losses = F.cross_entropy(model(x), y, reduction="none")
        (grad,) = torch.autograd.grad(losses.sum(), x, create_graph=True)
        penalty = grad.flatten(1).pow(2).sum(1).mean()
        return losses.mean() + draw(self.strengths, generator) * self.penalty_scale * penalty


@dataclass
class Smooth:
    """Output smoothness: penalise the squared L2 change of the logits under noise."""

    strengths: list[float]
    noise_std: float

    def __call__(self, model, x, y, generator):
        # One forward pass over clean and noisy copies, so BatchNorm sees one batch.
        logits, noisy = model(torch.cat([x, x + gaussian_like(x, self.noise_std, generator)])).chunk(2)
        penalty = (noisy - logits).pow(2).sum(1).mean()
        return F.cross_entropy(logits, y) + draw(self.strengths, generator) * penalty


@dataclass
class RandSmooth:
    """Gaussian noise augmentation with std = strength (randomized smoothing training)."""

    strengths: list[float]

    def __call__(self, model, x, y, generator):
        return F.cross_entropy(model(x + gaussian_like(x, draw(self.strengths, generator), generator)), y)


@dataclass
class PGD:
    """Adversarial training: cross-entropy at the L2-PGD adversarial example.

    ``attack_mode`` is the model's mode during the attack. ``eval`` (the default): the
    attack never touches the BatchNorm statistics. ``train`` (the authors' ImageNet-64
    code): the attack's forward passes normalise with the adversarial batches' own
    statistics and update the running statistics, so these see every attack step besides
    the training step's forward pass."""

    strengths: list[float]  # eps
    steps: int
    step_size: float  # as a fraction of eps (the authors: 2/steps on CIFAR, 2.5/steps on MNIST)
    random_start: float  # norm of the random start, as a fraction of eps
    eps_convention: str
    attack_mode: str = "eval"

    def __post_init__(self):
        if self.attack_mode not in ATTACK_MODES:
            raise ValueError(f"pgd attack_mode must be one of {list(ATTACK_MODES)}, got {self.attack_mode!r}")

    def __call__(self, model, x, y, generator):
        eps = draw(self.strengths, generator)
        x_adv = pgd_l2(
            model,
            x,
            y,
            eps,
            self.steps,
            self.step_size * eps,
            self.random_start * eps,
            self.eps_convention,
            generator,
            mode=self.attack_mode,
        )
        return F.cross_entropy(model(x_adv), y)


# name -> builder(strength values, options); options are the config entry of the objective.
OBJECTIVES: dict[str, Callable[[list[float], dict[str, Any]], Objective]] = {
    "standard": lambda values, options: Standard(),
    "gnorm": lambda values, options: GradNorm(values, float(options["penalty_scale"])),
    "smooth": lambda values, options: Smooth(values, float(options["noise_std"])),
    "randsmooth": lambda values, options: RandSmooth(values),
    "pgd": lambda values, options: PGD(
        values,
        steps=int(options["steps"]),
        step_size=float(options["step_size"]),
        random_start=float(options["random_start"]),
        eps_convention=options["eps_convention"],
        attack_mode=options.get("attack_mode", "eval"),  # optional: absent from older models' params
    ),
}


def make_objective(name: str, strength: Any, options: dict[str, Any]) -> Objective:
    """Build an objective from one strength and its config options."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; known: {sorted(OBJECTIVES)}")
    return OBJECTIVES[name](strength_values(strength), options)


def scaled_lr(lr: float, strength: Any, threshold: float | None) -> float:
    """The authors' rule for strong regularisers: divide lr by strength / threshold when
    the (largest) strength exceeds the threshold, so training stays stable."""
    largest = max(strength_values(strength))
    if threshold is None or largest <= threshold:
        return lr
    return lr * threshold / largest
