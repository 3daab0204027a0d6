"""Accuracy of a trained classifier on a data split."""

from __future__ import annotations

import torch
from torch import nn

from .datasets import ImageSplit, to_float
from .progress import PROGRESS_SECONDS, Progress


def accuracy(
    model: nn.Module,
    split: ImageSplit,
    device: torch.device,
    batch_size: int = 1000,
    progress_seconds: float | None = PROGRESS_SECONDS,
) -> float:
    """Top-1 accuracy in [0, 1] of ``model`` (put in eval mode) on ``split``. Reads the
    images one slice of ``batch_size`` at a time, so a memory-mapped split is never copied
    whole; passes longer than ``progress_seconds`` log their progress."""
    model.eval()
    correct = 0
    progress = Progress("accuracy", len(split), progress_seconds)
    with torch.no_grad():
        for i in range(0, len(split), batch_size):
            x = to_float(split.x[i : i + batch_size].to(device))
            correct += (model(x).argmax(1).cpu() == split.y[i : i + batch_size]).sum().item()
            progress.update(len(x))
    return correct / len(split)
