"""L2 projected gradient descent, under both eps conventions.

``per_example``: every image gets its own L2 ball of radius eps (the standard definition).
``batch``: the whole batch's perturbation, flattened into one vector, lies in one ball of
radius eps (the authors' code); each image then gets about eps / sqrt(batch size).

The attack runs the model in one of two ``ATTACK_MODES``: ``eval`` (BatchNorm normalises
with its running statistics, which the attack leaves untouched) or ``train`` (BatchNorm
normalises with each adversarial batch's own statistics and updates its running
statistics at every attack step, as the authors' ImageNet-64 code does).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .norms import l2_norm, unit_direction

# An attack's objective: the loss to maximise, summed over the batch, from the logits at
# x + delta and the labels.
AttackLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy_sum(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, y, reduction="sum")


def project(delta: torch.Tensor, eps: float, convention: str) -> torch.Tensor:
    """``delta`` scaled onto the L2 ball of radius ``eps`` (per image, or for the batch) where
    it lies outside; unchanged inside."""
    norm = l2_norm(delta, convention)
    return delta * torch.where(norm > eps, eps / norm, 1)


ATTACK_MODES = ("eval", "train")


@contextlib.contextmanager
def attack_mode(model: nn.Module, mode: str):
    """Run the block with ``model`` in ``mode`` (``eval`` or ``train``, see the module
    docstring), then restore the mode it had."""
    if mode not in ATTACK_MODES:
        raise ValueError(f"attack mode must be one of {list(ATTACK_MODES)}, got {mode!r}")
    was_training = model.training
    model.train(mode == "train")
    try:
        yield
    finally:
        model.train(was_training)


def pgd_l2(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int,
    step_size: float,
    random_start: float,
    convention: str,
    generator: torch.Generator | None = None,
    mode: str = "eval",
    loss: AttackLoss = cross_entropy_sum,
) -> torch.Tensor:
    """Maximise ``loss`` (cross-entropy by default) over the L2 ball of radius ``eps``
    around ``x``.

    ``step_size`` and ``random_start`` are absolute L2 lengths under ``convention``: every
    step has length exactly ``step_size`` (per image, or for the batch) wherever the
    gradient is nonzero, however small it is, and is zero where the gradient is zero.
    The loss is a sum over examples (the cross-entropies by default), so an image's
    gradient does not depend on the batch size. Adversarial images stay in the image domain [0, 1].

    ``mode`` is the model's mode during the attack (``ATTACK_MODES``); the model's own
    mode is restored afterwards. In ``eval`` the BatchNorm running statistics are left
    as they were; in ``train`` every attack step's forward pass normalises with the
    adversarial batch's statistics and moves the running statistics towards them (the
    authors' ImageNet-64 training). ``eps`` <= 0 returns ``x`` without running the model.
    """
    if mode not in ATTACK_MODES:
        raise ValueError(f"attack mode must be one of {list(ATTACK_MODES)}, got {mode!r}")
    if eps <= 0:
        return x.detach()
    delta = torch.zeros_like(x)
    if random_start > 0:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        delta = random_start * unit_direction(noise, convention)
        delta = (x + delta).clamp(0, 1) - x
    with attack_mode(model, mode):
        for _ in range(steps):
            delta.requires_grad_(True)
            (grad,) = torch.autograd.grad(loss(model(x + delta), y), delta)
            delta = delta.detach() + step_size * unit_direction(grad, convention)
            delta = project(delta, eps, convention)
            delta = (x + delta).clamp(0, 1) - x
    return (x + delta).detach()
