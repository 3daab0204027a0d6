"""Paper Fig. 3 (bottom): accuracy and perceptual alignment vs strength, regimes shaded;
and the galleries of Figs. 1, 2 and 6-9: images, score and gradients across strengths."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..alignment import METRIC_NAMES
from ..labels import OBJECTIVE_NAMES, STRENGTH_SYMBOLS
from .style import DIVERGED_HANDLE_STYLE, apply_style, color_for, mark_diverged
from .sweep import ACC_COLOR, band, diverged_strengths, log_strength_axis, over_seeds, swept_objectives
from .tangent_noise import as_image, signed_image

REGIME_COLORS = {"weak": "#f4a582", "Bayes-aligned": "#92c5de", "excessive": "#bababa", "diverged": "#ffffff"}
SCORE_NAMES = {
    "edm": "EDM score", "trained": "trained score", "analytic": "exact score", "posterior": "Bayes-optimal gradient",
}  # fmt: skip


def shade_regimes(ax, regimes: pd.DataFrame) -> None:
    """Background spans per regime, split at the geometric midpoints between strengths."""
    rows = regimes.sort_values("strength_value")
    x = rows["strength_value"].to_numpy(float)
    if not len(x):
        return
    mids = np.sqrt(x[1:] * x[:-1])
    edges = np.concatenate([[x[0] / 1.5], mids, [x[-1] * 1.5]])
    for left, right, regime in zip(edges[:-1], edges[1:], rows["regime"]):
        ax.axvspan(left, right, color=REGIME_COLORS[regime], alpha=0.35, lw=0, zorder=0)


def metric_label(metric: str, score: str) -> str:
    return f"{METRIC_NAMES[metric]} of the gradient\nwith the {SCORE_NAMES[score]}"


def plot_score_alignment(panels: dict[str, dict]):
    """``panels[dataset]``: alignment (the alignment table), regimes (the regime table),
    metric and score (what the alignment rows show). Two rows per data set (test
    accuracy; alignment), one column per objective; mean over seeds with a min-max band,
    the standard model dotted, regimes shaded."""
    apply_style()
    ncols = max(len(swept_objectives(p["alignment"])) for p in panels.values())
    fig, axes = plt.subplots(2 * len(panels), ncols, figsize=(3.0 * ncols, 4.6 * len(panels)),
                             squeeze=False, constrained_layout=True, sharex="col")  # fmt: skip
    for row, (dataset, panel) in enumerate(panels.items()):
        table = panel["alignment"]
        rows = table[(table["score"] == panel["score"]) & (table["metric"] == panel["metric"])]
        standard = rows[rows["objective"] == "standard"]
        for col, objective in enumerate(swept_objectives(rows)):
            ours = rows[rows["objective"] == objective]
            regimes = panel["regimes"][panel["regimes"]["objective"] == objective]
            for k, (column, ylabel) in enumerate((("test_accuracy", "test accuracy"),
                                                  ("similarity", metric_label(panel["metric"], panel["score"])))):  # fmt: skip
                ax = axes[2 * row + k, col]
                shade_regimes(ax, regimes)
                summary = over_seeds(ours, column)
                band(ax, summary["strength_value"], summary, color=ACC_COLOR if k == 0 else color_for(objective))
                if not standard.empty:
                    ax.axhline(standard[column].mean(), color="black", ls=":", lw=0.8, label="standard")
                mark_diverged(ax, diverged_strengths(ours))
                log_strength_axis(ax)
                ax.set_ylabel(ylabel if col == 0 else "")
                if k == 0:
                    symbol = STRENGTH_SYMBOLS.get(objective, "λ")
                    ax.set_title(f"{dataset}: {OBJECTIVE_NAMES.get(objective, objective)} ({symbol})")
                    ax.set_xlabel("")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.35) for r, c in REGIME_COLORS.items() if r != "diverged"]
    labels = [r for r in REGIME_COLORS if r != "diverged"]
    handles += [plt.Line2D([], [], color="black", ls=":", lw=0.8), plt.Line2D([], [], **DIVERGED_HANDLE_STYLE)]
    labels += ["standard model", DIVERGED_HANDLE_STYLE["label"]]
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False)
    return fig


def plot_gallery(images: torch.Tensor, score: torch.Tensor, columns: list[dict], score_name: str, metric: str):
    """One row per image: the image, the score, then one gradient per model. ``columns``:
    dicts with title, regime, gradients [n, C, H, W] and similarity [n] (printed above
    each panel). Titles are coloured by regime."""
    apply_style()
    n, width = len(images), len(columns) + 2
    fig, axes = plt.subplots(n, width, figsize=(1.25 * width, 1.35 * n + 0.6), squeeze=False, constrained_layout=True)
    for i in range(n):
        panels = [("image", as_image(images[i]), None), (score_name, signed_image(score[i]), None)]
        panels += [(c["title"], signed_image(c["gradients"][i]), c) for c in columns]
        for j, (title, picture, column) in enumerate(panels):
            ax = axes[i, j]
            ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([]), ax.grid(False)
            text = f"{column['similarity'][i]:.2f}" if column is not None else ""
            if i == 0:
                text = f"{title}\n{text}" if column is None else f"{title}\n{column['regime'] or ' '}\n{text}"
            color = REGIME_COLORS.get(column["regime"], "white") if column is not None else "white"
            ax.set_title(text, fontsize=7, backgroundcolor=color if column is not None else "none")
    fig.suptitle(f"input gradients (numbers: {METRIC_NAMES[metric]} with the {score_name}, per image)", fontsize=9)
    return fig


def gallery_title(objective: str, strength_value: float) -> str:
    if objective == "standard":
        return "standard"
    exponent = math.floor(math.log10(strength_value)) if strength_value > 0 else 0
    value = f"{strength_value:.2g}" if -2 <= exponent <= 2 else f"{strength_value:.1e}"
    return f"{STRENGTH_SYMBOLS.get(objective, 'λ')}={value}"
