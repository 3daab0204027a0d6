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

EPS_CONVENTIONS = ("per_example", "batch")


def l2_norm(delta: torch.Tensor, convention: str) -> torch.Tensor:
    """Norms that broadcast against ``delta``: one per image, or one for the batch."""
    if convention == "per_example":
        return delta.flatten(1).norm(dim=1).view(-1, *([1] * (delta.ndim - 1)))
    if convention == "batch":
        return delta.norm()
    raise ValueError(f"eps convention must be one of {EPS_CONVENTIONS}, got {convention!r}")


def project(delta: torch.Tensor, eps: float, convention: str) -> torch.Tensor:
    norm = l2_norm(delta, convention)
    return delta * torch.clamp(eps / norm.clamp_min(1e-12), max=1.0)


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

    ``step_size`` and ``random_start`` are absolute L2 lengths under ``convention``.
    Adversarial images stay in the image domain [0, 1].
    """
    if eps <= 0:
        return x.detach()
    delta = torch.zeros_like(x)
    if random_start > 0:
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        delta = noise * (random_start / l2_norm(noise, convention).clamp_min(1e-12))
        delta = (x + delta).clamp(0, 1) - x
    with eval_mode(model):
        for _ in range(steps):
            delta.requires_grad_(True)
            loss = F.cross_entropy(model(x + delta), y)
            (grad,) = torch.autograd.grad(loss, delta)
            delta = delta.detach() + step_size * grad / l2_norm(grad, convention).clamp_min(1e-12)
            delta = project(delta, eps, convention)
            delta = (x + delta).clamp(0, 1) - x
    return (x + delta).detach()
