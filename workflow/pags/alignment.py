"""Perceptual alignment: how similar a model's input gradient is to the score, per image.

Every metric first divides each map by its max |.| (the paper's normalisation, which
makes all of them invariant to the maps' scale) and returns one similarity per image,
higher meaning more aligned:

- ``lpips``: 1 - LPIPS (AlexNet, v0.1), the paper's measure; the normalised maps are
  images in [-1, 1], as LPIPS expects.
- ``cosine``: cosine similarity of the flattened maps, in [-1, 1].
- ``ssim``: SSIM (scikit-image; Gaussian window of std 1.5, as Wang et al.) of the
  normalised maps shown as images, (v + 1) / 2 in [0, 1]. SSIM assumes non-negative
  intensities: on the signed maps a map and its sign flip would look alike.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F

from .norms import max_abs
from .weights import verify

METRIC_NAMES = {"lpips": "1 - LPIPS", "cosine": "cosine similarity", "ssim": "SSIM"}
LPIPS_MIN_SIZE = 32  # AlexNet's strided convs and pools leave nothing of smaller images


def max_normalise(v: torch.Tensor) -> torch.Tensor:
    """Each map [B, ...] divided by its max |.|, so its peak is exactly 1 however small the
    map (subnormal entries included); an all-zero map stays zero."""
    peak = max_abs(v, "per_example")
    return v / torch.where(peak > 0, peak, 1)


def cosine(a: torch.Tensor, b: torch.Tensor, rescale_a: bool = True) -> torch.Tensor:
    """Cosine similarity of the max-normalised maps: their norms are >= 1, so ``eps`` only
    guards all-zero maps (similarity 0), whatever the maps' scale. ``rescale_a`` has no
    effect (cosine is scale-invariant); it is the metrics' common signature."""
    return F.cosine_similarity(max_normalise(a).flatten(1), max_normalise(b).flatten(1), dim=1, eps=1e-30)


def ssim(a: torch.Tensor, b: torch.Tensor, rescale_a: bool = True) -> torch.Tensor:
    """SSIM of the maps shown as images; ``a`` taken as it is (in [-1, 1]) without ``rescale_a``."""
    from skimage.metrics import structural_similarity

    a = max_normalise(a) if rescale_a else a
    a, b = ((v + 1).div(2).double().cpu().numpy() for v in (a, max_normalise(b)))
    side = min(a.shape[-2:])
    window = min(11, side if side % 2 else side - 1)  # 11 px covers the Gaussian to 3.5 std
    values = [
        structural_similarity(
            x,
            y,
            data_range=1.0,
            channel_axis=0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            win_size=window,
        )
        for x, y in zip(a, b)
    ]
    return torch.tensor(values, dtype=torch.float32)


def alexnet_features_to_lpips(
    state_dict: dict[str, torch.Tensor], lpips_net: torch.nn.Module
) -> dict[str, torch.Tensor]:
    """torchvision AlexNet's ``features.{i}.*`` keys renamed to lpips's ``slice{k}.{i}.*``.

    lpips splits ``features`` into slices but keeps each layer's index as its name."""
    where = {}
    for name in lpips_net.state_dict():
        match = re.fullmatch(r"slice\d+\.(\d+)\.(weight|bias)", name)
        if match:
            where[f"features.{match[1]}.{match[2]}"] = name
    missing = sorted(set(where) - set(state_dict))
    if missing:
        raise ValueError(f"not a torchvision AlexNet state dict: it lacks {missing}")
    return {where[k]: state_dict[k] for k in where}


def load_lpips(backbone: str | os.PathLike, sha256: str | None, key: str) -> torch.nn.Module:
    """LPIPS (AlexNet, v0.1) with the backbone from ``backbone``, a torchvision AlexNet
    state dict whose sha256 must match. lpips's linear heads ship with the package; its
    own backbone download is switched off, so nothing is fetched here."""
    import lpips

    path = verify(backbone, sha256, key)
    with warnings.catch_warnings():  # lpips still calls torchvision's deprecated `pretrained=`
        warnings.simplefilter("ignore", UserWarning)
        metric = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
    state = torch.load(path, map_location="cpu", weights_only=True)
    metric.net.load_state_dict(alexnet_features_to_lpips(state, metric.net))
    return metric.eval().requires_grad_(False)


def lpips_similarity(metric: torch.nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """1 - LPIPS of the max-normalised maps (``a`` as it is, in [-1, 1], without
    ``rescale_a``); grey images get 3 channels, small ones are upsampled to 32 px."""

    def similarity(a: torch.Tensor, b: torch.Tensor, rescale_a: bool = True) -> torch.Tensor:
        a, b = max_normalise(a) if rescale_a else a, max_normalise(b)
        if a.shape[1] == 1:
            a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
        if min(a.shape[-2:]) < LPIPS_MIN_SIZE:
            scale = LPIPS_MIN_SIZE / min(a.shape[-2:])
            a, b = (F.interpolate(v, scale_factor=scale, mode="bilinear", align_corners=False) for v in (a, b))
        with torch.no_grad():
            return 1 - metric(a, b).flatten()

    return similarity


def similarities(
    metrics: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]],
    a: torch.Tensor,
    b: torch.Tensor,
    batch_size: int = 256,
) -> dict[str, torch.Tensor]:
    """Every metric per image of the pairs (a[i], b[i]), in batches."""
    out = {}
    for name, fn in metrics.items():
        out[name] = torch.cat(
            [fn(a[i : i + batch_size], b[i : i + batch_size]).cpu() for i in range(0, len(a), batch_size)]
        )
    return out


def metric_functions(names, lpips_metric: torch.nn.Module | None = None, rescale_a: bool = True):
    """The similarity functions named in ``names`` (``lpips`` needs the loaded metric).
    Without ``rescale_a`` they take their first map (the gradient) as it is, not divided
    by its max |.| (the authors' Fig. 4 right, ``resize.RESCALED_AFTER``)."""
    table = {"cosine": cosine, "ssim": ssim}
    if "lpips" in names:
        if lpips_metric is None:
            raise ValueError("the lpips metric needs its loaded network")
        table["lpips"] = lpips_similarity(lpips_metric)
    return {name: partial(table[name], rescale_a=rescale_a) for name in names}
