"""Summaries of per-image measurements, and the table of a model that has none."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # tensor methods only: the table jobs that use this module run without torch
    import torch


def mean_and_sem(values: torch.Tensor) -> tuple[float, float]:
    """Mean and its standard error (NaN for fewer than two values)."""
    values = values.detach().double().cpu().flatten()
    sem = (values.std(unbiased=True) / math.sqrt(len(values))).item() if len(values) > 1 else float("nan")
    return values.mean().item(), sem


def nan_metrics(index, columns: list[str]):
    """The rows ``index`` (a DataFrame) with every metric column NaN: a diverged model's table."""
    return index.assign(**{column: float("nan") for column in columns})


def seed_average(frame: pd.DataFrame, keys: list[str], value: str, sem: str | None = None) -> pd.DataFrame:
    """Per group of ``keys``: the mean of ``value`` over seeds (rows) and its standard
    error ``<value>_se``, with ``seeds`` (rows) and ``status`` ("diverged" if any seed
    diverged, else "ok"; "ok" where ``frame`` has no status column).

    The standard error adds the spread over seeds (std / sqrt(seeds), 0 for one seed) and
    the per-image error ``sem`` of the rows (their mean, not their root-mean-square over
    sqrt(seeds): every seed is measured on the same images, so that error does not average
    out). A ``sem`` that cannot be estimated (NaN: one image) counts as 0. NaN values of
    diverged seeds are left out of the mean; a group with no finite value has mean NaN."""
    frame = frame.assign(status=frame["status"] if "status" in frame else "ok")
    grouped = frame.groupby(keys, sort=False, dropna=False)
    out = grouped[value].agg(["mean", "std", "count"]).rename(columns={"mean": value})
    seed_se = (out["std"] / np.sqrt(out["count"])).where(out["count"] > 1, 0.0)
    image_se = grouped[sem].mean().fillna(0.0) if sem is not None else 0.0
    out[f"{value}_se"] = np.sqrt(seed_se**2 + image_se**2)
    out["seeds"] = grouped.size()
    out["status"] = grouped["status"].agg(lambda s: "diverged" if (s == "diverged").any() else "ok")
    return pd.DataFrame(out.drop(columns=["std", "count"])).reset_index()
