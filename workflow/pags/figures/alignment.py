"""Paper Fig. 3 (bottom): accuracy and perceptual alignment vs strength, regimes shaded.
The galleries (Figs. 1, 2 and 6-9) are in ``gallery``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..alignment import METRIC_NAMES
from ..labels import objective_name, strength_symbol
from ..score.backends import get_backend
from .style import DIVERGED_HANDLE_STYLE, apply_style, color_for, figure_legend, mark_diverged
from .sweep import ACC_COLOR, band, diverged_strengths, log_strength_axis, over_seeds, swept_objectives

REGIME_COLORS = {
    "weak": "#f4a582",
    "Bayes-aligned": "#92c5de",
    "excessive": "#bababa",
    "undefined": "#ffffff",
    "diverged": "#ffffff",
}
UNDEFINED_HATCH = "////"  # a strength without a reference: hatched, no colour of a regime
BAND_COLOR = "black"


def shade_regimes(ax, regimes: pd.DataFrame) -> set[str]:
    """Background spans per regime, split at the geometric midpoints between strengths.
    Returns the regimes shaded."""
    rows = regimes.sort_values("strength_value")
    x = rows["strength_value"].to_numpy(float)
    if not len(x):
        return set()
    mids = np.sqrt(x[1:] * x[:-1])
    edges = np.concatenate([[x[0] / 1.5], mids, [x[-1] * 1.5]])
    for left, right, regime in zip(edges[:-1], edges[1:], rows["regime"]):
        if regime == "undefined":
            ax.axvspan(left, right, facecolor="none", edgecolor="#999999", hatch=UNDEFINED_HATCH, lw=0, zorder=0)
        else:
            ax.axvspan(left, right, color=REGIME_COLORS[regime], alpha=0.35, lw=0, zorder=0)
    return set(rows["regime"])


def reference_band(ax, regimes: pd.DataFrame) -> set[str]:
    """The standard model's alignment ± noise_k standard errors, the band within which a
    gain is no gain (``pags.regimes``); where the standard model diverged, a note instead.
    Returns what was drawn ("noise band", "reference diverged") for the legend."""
    if regimes.empty or "reference_alignment" not in regimes:
        return set()
    first = regimes.iloc[0]
    if first.get("reference_status") == "diverged":
        ax.text(
            0.5,
            0.5,
            "standard model diverged:\nno reference, regimes undefined",
            transform=ax.transAxes,
            ha="center",
            va="center",
            fontsize=7,
            color="#b2182b",
        )
        return {"reference diverged"}
    mean, half = first["reference_alignment"], first["noise_k"] * np.nan_to_num(first["reference_se"])
    if not (np.isfinite(mean) and half > 0):
        return set()
    ax.axhspan(mean - half, mean + half, color=BAND_COLOR, alpha=0.1, lw=0, zorder=0.5)
    return {"noise band"}


def regime_legend(drawn: set[str], standard_label: str) -> tuple[list, list[str]]:
    """Legend handles and labels for the regimes shaded and, if drawn, the standard
    model's dotted line (``drawn`` holds regime names and "standard")."""
    # A diverged strength is shaded white (no regime): its cross explains it.
    shaded = [r for r in REGIME_COLORS if r not in ("diverged", "undefined") and r in drawn]
    handles = [plt.Rectangle((0, 0), 1, 1, color=REGIME_COLORS[r], alpha=0.35) for r in shaded]
    labels = list(shaded)
    if "undefined" in drawn:
        handles.append(plt.Rectangle((0, 0), 1, 1, facecolor="none", edgecolor="#999999", hatch=UNDEFINED_HATCH, lw=0))
        labels.append("undefined (no reference)")
    if "standard" in drawn:
        handles.append(plt.Line2D([], [], color="black", ls=":", lw=0.8))
        labels.append(standard_label)
    if "noise band" in drawn:
        handles.append(plt.Rectangle((0, 0), 1, 1, color=BAND_COLOR, alpha=0.1, lw=0))
        labels.append("standard ± noise (no gain within)")
    return handles, labels


def metric_label(metric: str, score: str) -> str:
    return f"{METRIC_NAMES[metric]} of the gradient\nwith the {get_backend(score).label}"


def plot_score_alignment(panels: dict[str, dict]):
    """``panels[dataset]``: alignment (the alignment table), regimes (the regime table),
    metric and score (what the alignment rows show). Two rows per data set (test
    accuracy; alignment), one column per objective; mean over seeds with a min-max band,
    the standard model dotted with its noise band (``reference_band``), regimes shaded."""
    apply_style()
    ncols = max(len(swept_objectives(p["alignment"])) for p in panels.values())
    fig, axes = plt.subplots(
        2 * len(panels),
        ncols,
        figsize=(3.0 * ncols, 4.6 * len(panels)),
        squeeze=False,
        constrained_layout=True,
        sharex="col",
    )
    drawn = set()  # regimes shaded and lines drawn, so that the legend explains only those
    for row, (dataset, panel) in enumerate(panels.items()):
        table = panel["alignment"]
        rows = table[(table["score"] == panel["score"]) & (table["metric"] == panel["metric"])]
        standard = rows[rows["objective"] == "standard"]
        for col, objective in enumerate(swept_objectives(rows)):
            ours = rows[rows["objective"] == objective]
            regimes = panel["regimes"][panel["regimes"]["objective"] == objective]
            for k, (column, ylabel) in enumerate(
                (("test_accuracy", "test accuracy"), ("similarity", metric_label(panel["metric"], panel["score"])))
            ):
                ax = axes[2 * row + k, col]
                drawn |= shade_regimes(ax, regimes)
                if k == 1:
                    drawn |= reference_band(ax, regimes)
                summary = over_seeds(ours, column)
                band(ax, summary["strength_value"], summary, color=ACC_COLOR if k == 0 else color_for(objective))
                if np.isfinite(standard[column].mean()):
                    drawn.add("standard")
                    ax.axhline(standard[column].mean(), color="black", ls=":", lw=0.8, label="standard")
                if diverged_strengths(ours):
                    drawn.add("diverged in training")
                log_strength_axis(ax)
                mark_diverged(ax, diverged_strengths(ours))
                ax.set_ylabel(ylabel if col == 0 else "")
                if k == 0:
                    symbol = strength_symbol(objective)
                    ax.set_title(f"{dataset}: {objective_name(objective)} ({symbol})")
                    ax.set_xlabel("")
        for col in range(len(swept_objectives(rows)), ncols):  # a data set with fewer objectives
            axes[2 * row, col].set_visible(False)
            axes[2 * row + 1, col].set_visible(False)
    handles, labels = regime_legend(drawn, "standard model")
    if "diverged in training" in drawn:
        handles.append(plt.Line2D([], [], **DIVERGED_HANDLE_STYLE))
        labels.append(DIVERGED_HANDLE_STYLE["label"])
    figure_legend(fig, handles, labels)
    return fig
