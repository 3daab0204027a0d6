"""Paper Fig. 4: top-1 accuracy and perceptual alignment against the PGD budget on
ImageNet, for the authors' own ImageNet-64 models and for pretrained robust families."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .alignment import metric_label, reference_band, regime_legend, shade_regimes
from .style import apply_style, color_for, figure_legend
from .sweep import band, log_strength_axis, over_seeds

PUBLISHED_STYLE = {"marker": "x", "ls": "none", "color": "black", "ms": 6}


def plot_imagenet(panels: dict[str, dict]):
    """One column per model family: top-1 accuracy (%) above, alignment below, against
    the PGD-L2 eps on a log axis; means over seeds with min-max bands, the standard
    model (eps 0) dotted with its noise band, regimes shaded.

    ``panels[title]``: ``alignment`` (an alignment table), ``regimes`` (its regime table),
    ``metric`` and ``score`` (which alignment rows are drawn), and optionally ``top1``
    (a top-1 table with ``eps`` and ``published_top1``), whose published values are
    marked with crosses beside the measured ones."""
    apply_style()
    fig, axes = plt.subplots(
        2, len(panels), figsize=(3.6 * len(panels), 5.0), squeeze=False, constrained_layout=True, sharex="col"
    )
    drawn = set()
    for col, (title, panel) in enumerate(panels.items()):
        table = panel["alignment"]
        rows = table[(table["score"] == panel["score"]) & (table["metric"] == panel["metric"])]
        rows = rows.assign(top1=100 * rows["test_accuracy"])
        robust, standard = rows[rows["objective"] == "pgd"], rows[rows["objective"] == "standard"]
        regimes = panel["regimes"][panel["regimes"]["objective"] == "pgd"]
        for k, (column, ylabel) in enumerate(
            (("top1", "top-1 accuracy (%)"), ("similarity", metric_label(panel["metric"], panel["score"])))
        ):
            ax = axes[k, col]
            drawn |= shade_regimes(ax, regimes)
            if k == 1:
                drawn |= reference_band(ax, regimes)
            summary = over_seeds(robust, column)
            band(ax, summary["strength_value"], summary, color=color_for("pgd"))
            if len(standard) and np.isfinite(standard[column].mean()):
                drawn.add("standard")
                ax.axhline(standard[column].mean(), color="black", ls=":", lw=0.8)
            if k == 0 and panel.get("top1") is not None:
                published = panel["top1"]
                robust_published = published[published["eps"] > 0]
                ax.plot(robust_published["eps"], robust_published["published_top1"], **PUBLISHED_STYLE)
                drawn.add("published")
            log_strength_axis(ax)
            ax.set_ylabel(ylabel if col == 0 or k == 0 else "")
        axes[0, col].set_title(title + resize_note(table))
        axes[0, col].set_xlabel("")
        axes[1, col].set_xlabel("PGD-L2 ε")
    handles, labels = regime_legend(drawn, "standard model (ε = 0)")
    if "published" in drawn:
        handles.append(plt.Line2D([], [], **PUBLISHED_STYLE))
        labels.append("published top-1")
    figure_legend(fig, handles, labels)
    return fig


def resize_note(alignment: pd.DataFrame) -> str:
    """How the gradients were resized to the score's side (the alignment table's
    ``gradient_resize``), as a second title line; "" where they were not."""
    if "gradient_resize" not in alignment:
        return ""
    return "\ngradients " + " / ".join(sorted(alignment["gradient_resize"].dropna().unique())) + " to the score's side"


def imagenet_panels(inputs: dict[str, str], metrics: dict[str, str], scores: dict[str, str]) -> dict[str, dict]:
    """The panels of ``plot_imagenet`` from fig_imagenet's input files (keys as
    ``imagenet_figure_inputs`` in the workflow: own_* for the ImageNet-64 sweep,
    pretrained_* and top1 for the pretrained family) and the metric and score per family."""
    read = lambda key: pd.read_csv(inputs[key], dtype={"strength": str})  # noqa: E731
    panels = {}
    for family, title in (("own", "ImageNet-64, own models"), ("pretrained", "ImageNet, pretrained")):
        if f"{family}_alignment" in inputs:
            panels[title] = {
                "alignment": read(f"{family}_alignment"),
                "regimes": read(f"{family}_regimes"),
                "metric": metrics[family],
                "score": scores[family],
                "top1": read("top1") if family == "pretrained" else None,
            }
    return panels
