"""Top-1 accuracy of a classifier: of trained models on a data split, of pretrained ones on
a stream of validation batches, compared with the published value."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .datasets import ImageSplit, to_float
from .progress import PROGRESS_SECONDS, Progress

if TYPE_CHECKING:
    from .pretrained import PretrainedFamily

log = logging.getLogger("pags.evaluate")

TOP1_TOLERANCE = 0.5  # percentage points between measured and published top-1 before a flag


def _batches(images: ImageSplit | Iterable, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(images, ImageSplit):
        for i in range(0, len(images), batch_size):
            yield images.x[i : i + batch_size], images.y[i : i + batch_size]
    else:
        yield from images


@torch.no_grad()
def accuracy(
    model: nn.Module,
    images: ImageSplit | Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device | str = "cpu",
    batch_size: int = 1000,
    progress_seconds: float | None = PROGRESS_SECONDS,
    value_range: tuple[float, float] | None = None,
) -> float:
    """Top-1 accuracy in [0, 1] of ``model`` (put in eval mode).

    ``images``: an ``ImageSplit``, read one slice of ``batch_size`` at a time (so a
    memory-mapped split is never copied whole); or an iterable of (images [B, C, H, W],
    labels int64 [B]) batches, e.g. a DataLoader. uint8 images are divided by 255
    (``to_float``). With ``value_range`` (low, high), float images outside it are a
    ``ValueError`` (already normalised ones, say); so are no images at all. Passes longer
    than ``progress_seconds`` log their progress."""
    model.eval()
    correct = total = 0
    # A DataLoader says how many images it streams; other iterables log no progress.
    n = len(images) if isinstance(images, ImageSplit) else len(getattr(images, "dataset", ()))
    progress = Progress("accuracy", n, progress_seconds)
    for x, y in _batches(images, batch_size):
        x = to_float(x.to(device))
        if value_range is not None and x.numel() and (x.min() < value_range[0] or x.max() > value_range[1]):
            low, high = value_range
            raise ValueError(f"images must lie in [{low:g}, {high:g}], got values in [{x.min():.3g}, {x.max():.3g}]")
        correct += (model(x).argmax(1).cpu() == y.cpu()).sum().item()
        total += len(y)
        progress.update(len(y))
    if total == 0:
        raise ValueError("accuracy got no images")
    return correct / total


def top1_row(
    family: PretrainedFamily, eps: float, measured: float, tolerance: float = TOP1_TOLERANCE
) -> dict[str, Any]:
    """Measured vs published top-1 (%) of ``family`` at ``eps``: a row with columns
    family, eps, published_top1, measured_top1, difference (measured - published,
    points) and flagged (|difference| > ``tolerance``). A flag is logged as a warning,
    not raised: a different preprocessing or subset of ImageNet val shifts top-1 too."""
    published = family.published(eps)
    difference = measured - published
    flagged = abs(difference) > tolerance + 1e-9
    if flagged:
        log.warning(
            "%s at %s %g: measured top-1 %.2f%% differs from the published %.2f%% by %+.2f points (more than %.2f): "
            "check the preprocessing (Resize 256, CenterCrop 224, [0, 1]), the labels' class order and the file",
            family.name,
            family.strength,
            eps,
            measured,
            published,
            difference,
            tolerance,
        )
    return {
        "family": family.name,
        "eps": float(eps),
        "published_top1": published,
        "measured_top1": float(measured),
        "difference": difference,
        "flagged": flagged,
    }
