"""L2 projected gradient descent, under both eps conventions.

``per_example``: every image gets its own L2 ball of radius eps (the standard definition).
``batch``: the whole batch's perturbation, flattened into one vector, lies in one ball of
radius eps (the authors' code); each image then gets about eps / sqrt(batch size).
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from .norms import l2_norm, unit_direction

def project(delta: torch.Tensor, eps: float, convention: str) -> torch.Tensor:
    """``delta`` scaled onto the L2 ball of radius ``eps`` (per image, or for the batch) where
    it lies outside; unchanged inside."""
    norm = l2_norm(delta, convention)
    return delta * torch.where(norm > eps, eps / norm, 1)


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """Attack in eval mode so BatchNorm statistics never see adversarial batches."""
    was_training = model.training
    model.eval()
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
) -> torch.Tensor:
    """Maximise cross-entropy over the L2 ball of radius ``eps`` around ``x``.

    ``step_size`` and ``random_start`` are absolute L2 lengths under ``convention``: every
    step has length exactly ``step_size`` (per image, or for the batch) wherever the
    gradient is nonzero, however small it is, and is zero where the gradient is zero.
    The loss is the sum of the per-example cross-entropies, so an image's gradient does
    not depend on the batch size. Adversarial images stay in the image domain [0, 1].
    """
    if eps <= 0:
        return x.detach()
    delta = torch.zeros_like(x)
    if random_start > 0:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        delta = random_start * unit_direction(noise, convention)
        delta = (x + delta).clamp(0, 1) - x
    with eval_mode(model):
        for _ in range(steps):
            delta.requires_grad_(True)
            loss = F.cross_entropy(model(x + delta), y, reduction="sum")
            (grad,) = torch.autograd.grad(loss, delta)
            delta = delta.detach() + step_size * unit_direction(grad, convention)
            delta = project(delta, eps, convention)
            delta = (x + delta).clamp(0, 1) - x
    return (x + delta).detach()
