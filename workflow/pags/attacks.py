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


def _check(convention: str) -> None:
    if convention not in EPS_CONVENTIONS:
        raise ValueError(f"eps convention must be one of {EPS_CONVENTIONS}, got {convention!r}")


def max_abs(delta: torch.Tensor, convention: str) -> torch.Tensor:
    """Max |.| that broadcasts against ``delta`` [B, ...]: one per image, or one for the batch."""
    _check(convention)
    if convention == "per_example":
        return delta.flatten(1).abs().amax(1).view(-1, *([1] * (delta.ndim - 1)))
    return delta.abs().amax()


def _rescaled(delta: torch.Tensor, convention: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(peak, delta / peak) with peak = ``max_abs``; where the peak is 0, delta stays 0."""
    peak = max_abs(delta, convention)
    return peak, delta / torch.where(peak > 0, peak, 1)


def _plain_norm(delta: torch.Tensor, convention: str) -> torch.Tensor:
    if convention == "per_example":
        return delta.flatten(1).norm(dim=1).view(-1, *([1] * (delta.ndim - 1)))
    return delta.norm()


def l2_norm(delta: torch.Tensor, convention: str) -> torch.Tensor:
    """Norms that broadcast against ``delta``: one per image, or one for the batch.

    Taken of delta / max |delta| and scaled back, so that no square under- or overflows:
    right for any finite delta (a plain float32 norm is 0 once every entry is below ~1e-19).
    """
    peak, scaled = _rescaled(delta, convention)
    return peak * _plain_norm(scaled, convention)


def unit_direction(delta: torch.Tensor, convention: str) -> torch.Tensor:
    """``delta`` scaled to L2 length 1 per image (``per_example``) or for the whole batch
    (``batch``), however small or large it is; a zero delta (per image, or the whole batch)
    stays zero.

    Scale-invariant: delta is first divided by its max |.|, so the norm it is then divided
    by is in [1, sqrt(size)] and any nonzero delta, even one of subnormal entries, comes
    out of length 1 up to rounding. (An absolute floor, delta / max(||delta||, 1e-12),
    would shrink every step whose gradient is below the floor, to length 0 in practice.)
    """
    _, scaled = _rescaled(delta, convention)
    norm = _plain_norm(scaled, convention)
    return scaled / torch.where(norm > 0, norm, 1)


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
