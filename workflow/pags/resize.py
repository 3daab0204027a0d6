"""Resizing between the classifiers' side and the score's: images for a score network of
another resolution (ImageNet's 224 px for EDM's 64 px), and the classifiers' input
gradients to the score's side, to align them with it (config keys ``score.image_side``
and ``alignment.gradient_resize``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

SCORE_SIDE = 64  # px: the EDM ImageNet denoiser's resolution (edm-imagenet-64x64-cond-adm)


def _check_batch(v: torch.Tensor, what: str) -> None:
    if v.ndim != 4 or not v.is_floating_point():
        raise ValueError(f"{what} must be a float tensor [B, C, H, W], got {v.dtype} {tuple(v.shape)}")


# alignment.gradient_resize: how gradients are shrunk to the score's side. scaled_aliased
# is the authors' order (notebooks/Imagenet.ipynb): each map divided by its max |.| at its
# own side, then plain bilinear sampling, and not rescaled after (``RESCALED_AFTER``).
GRADIENT_RESIZE = ("antialiased", "aliased", "scaled_aliased")
RESCALED_AFTER = {"antialiased": True, "aliased": True, "scaled_aliased": False}


def resize(v: torch.Tensor, side: int, antialias: bool = True) -> torch.Tensor:
    """Batches [B, C, H, W] (float) resized to [B, C, side, side] by bilinear interpolation
    (``align_corners=False``), with antialiasing unless asked otherwise: when shrinking,
    ``F.interpolate(..., antialias=True)`` widens the bilinear filter to the scale factor
    (torchvision's ``Resize`` on tensors with ``antialias=True``), so every input pixel
    counts, rather than sampling four of each 3.5 x 3.5 block, which makes the result
    jump with a 1 px shift of a fine-grained map. Enlarging is the same either way.
    Convex weights: constant maps stay constant, the range is kept. A batch already at
    ``side`` is returned as a copy. ``ValueError`` for anything but a float 4-d tensor."""
    _check_batch(v, "images or gradients")
    if tuple(v.shape[-2:]) == (side, side):
        return v.clone()
    return F.interpolate(v, size=(side, side), mode="bilinear", align_corners=False, antialias=antialias)


def images_for_score(x: torch.Tensor, side: int = SCORE_SIDE) -> torch.Tensor:
    """Images [B, C, H, W] (float in [0, 1], or uint8) resized to [B, C, side, side]
    with antialiasing (``resize``), for a score network of that resolution (64 px for
    ``edm-imagenet-64x64-cond-adm``); the result stays in [0, 1]. Float32 out."""
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    return resize(x, side).clamp(0, 1)


def gradient_for_alignment(grad: torch.Tensor, side: int = SCORE_SIDE, how: str = "antialiased") -> torch.Tensor:
    """Input gradients [B, C, H, W] (of 224 px models) resized to [B, C, side, side], to
    compare them with a score computed at ``side`` px: ``how`` is config key
    ``alignment.gradient_resize``, ``antialiased`` (as the images are resized for the
    score) or ``aliased`` (plain bilinear sampling, what torchvision's ``Resize`` did on
    tensors before its antialias default changed); units are unchanged (the alignment
    metrics divide each map by its max |.| anyway). ``scaled_aliased`` (the authors' Fig. 4
    right): each map divided by its max |.| first, then sampled as ``aliased``; its peak
    then lies below 1 (averaging neighbours of opposite sign), and the metrics are to take
    it as it is (``RESCALED_AFTER``). ``ValueError`` for an unknown ``how``."""
    if how not in GRADIENT_RESIZE:
        raise ValueError(f"gradient resizing must be one of {GRADIENT_RESIZE}, got {how!r}")
    if how == "scaled_aliased":
        peak = grad.flatten(1).abs().amax(1).view(-1, 1, 1, 1)
        grad = grad / torch.where(peak > 0, peak, 1)
    return resize(grad, side, antialias=how == "antialiased")
