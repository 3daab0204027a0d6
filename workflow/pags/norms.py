"""L2 norms, peaks and unit directions that are right at any scale, per image or for the
whole batch (the two eps conventions of ``pags.attacks``).

``per_example``: one value per image of a batch [B, ...]; ``batch``: one value for the
batch's tensor flattened into one vector (the authors' PGD code).
"""

from __future__ import annotations

import torch

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
