"""Summaries of per-image measurements, and the table of a model that has none."""

from __future__ import annotations

import math

import torch


def mean_and_sem(values: torch.Tensor) -> tuple[float, float]:
    """Mean and its standard error (NaN for fewer than two values)."""
    values = values.detach().double().cpu().flatten()
    sem = (values.std(unbiased=True) / math.sqrt(len(values))).item() if len(values) > 1 else float("nan")
    return values.mean().item(), sem


def nan_metrics(index, columns: list[str]):
    """The rows ``index`` (a DataFrame) with every metric column NaN: a diverged model's table."""
    return index.assign(**{column: float("nan") for column in columns})
