"""Paper Fig. 3 (top) and the ground-truth checks, from the manifold-robustness tables."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from ..labels import objective_name
from ..objectives import OBJECTIVES
from .style import DIVERGED_HANDLE_STYLE, apply_style, color_for, figure_legend, mark_diverged

REFERENCE_OBJECTIVES = ("standard", "bayes")  # plotted as horizontal references, not curves
ON_COLOR, OFF_COLOR, ACC_COLOR = "#2166ac", "#b2182b", "#7f7f7f"


def over_seeds(frame: pd.DataFrame, column: str, by=("objective", "strength_value")) -> pd.DataFrame:
    """Mean, min and max over seeds of ``column``, per objective and strength."""
    return frame.groupby(list(by))[column].agg(["mean", "min", "max"]).reset_index().sort_values(list(by))


def log_strength_axis(ax) -> None:
    """Log x axis labelled at decades only: minor labels collide on short grids."""
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("strength")


def band(ax, x, summary: pd.DataFrame, **style) -> None:
    """Mean line with markers (a grid of one strength still shows), min-max band."""
    line = ax.plot(x, summary["mean"], **{"marker": ".", "ms": 4, **style})[0]
    ax.fill_between(x, summary["min"], summary["max"], color=line.get_color(), alpha=0.15, lw=0)


def diverged_strengths(frame: pd.DataFrame) -> list[float]:
    return sorted(frame.loc[frame["status"] == "diverged", "strength_value"].unique())


def swept_objectives(table: pd.DataFrame) -> list[str]:
    order = list(OBJECTIVES)
    found = [o for o in table["objective"].unique() if o not in REFERENCE_OBJECTIVES]
    return sorted(found, key=lambda o: order.index(o) if o in order else len(order))


def plot_manifold_robustness(tables: dict[str, pd.DataFrame], plot_steps: dict[str, float]):
    """One row per data set, one panel per objective: the softmax-L1 change of the
    prediction along a random on-manifold (blue) and off-manifold (red) unit direction
    at the plotted step size vs strength, with test accuracy on the right axis. Solid:
    tangent spaces from the autoencoder (the paper's); dashed: the exact ones, where known."""
    apply_style()
    ncols = max(len(swept_objectives(t)) for t in tables.values())
    fig, axes = plt.subplots(
        len(tables), ncols, figsize=(3.0 * ncols, 2.6 * len(tables)), squeeze=False, constrained_layout=True
    )
    drawn = set()  # what the panels show, so that the legend explains that and nothing else
    for row, (dataset, table) in enumerate(tables.items()):
        at_step = table[np.isclose(table["step_size"], plot_steps[dataset])]
        for col, objective in enumerate(swept_objectives(table)):
            ax = axes[row, col]
            rows = at_step[at_step["objective"] == objective]
            for tangent, dash in (("autoencoder", "-"), ("true", "--")):
                part = rows[rows["tangent"] == tangent]
                if part[["on_change", "off_change"]].notna().to_numpy().any():
                    drawn.add(tangent)
                    for column, color in (("on_change", ON_COLOR), ("off_change", OFF_COLOR)):
                        summary = over_seeds(part, column)
                        band(ax, summary["strength_value"], summary, color=color, ls=dash)
            standard = at_step[at_step["objective"] == "standard"]
            if (standard["status"] == "diverged").any():  # no reference lines: say why
                ax.text(
                    0.5,
                    0.95,
                    "standard model diverged: no reference",
                    transform=ax.transAxes,
                    ha="center",
                    va="top",
                    fontsize=7,
                    color=OFF_COLOR,
                )
            for reference in standard.groupby("tangent").mean(numeric_only=True).itertuples():
                if reference.Index == "autoencoder" and np.isfinite([reference.on_change, reference.off_change]).any():
                    drawn.add("standard")
                    ax.axhline(reference.on_change, color=ON_COLOR, lw=0.6, ls=":")
                    ax.axhline(reference.off_change, color=OFF_COLOR, lw=0.6, ls=":")
            if diverged_strengths(rows):
                drawn.add("diverged")
            log_strength_axis(ax)
            mark_diverged(ax, diverged_strengths(rows))
            ax.set_title(f"{dataset}: {objective_name(objective)}")
            if col == 0:
                ax.set_ylabel(f"softmax L1 change (step {plot_steps[dataset]:g})")
            acc = ax.twinx()
            accuracy = over_seeds(rows.drop_duplicates(["objective", "strength_value", "seed"]), "test_accuracy")
            band(acc, accuracy["strength_value"], accuracy, color=ACC_COLOR, lw=1)
            acc.set_ylim(0, 1)
            acc.grid(False)
            acc.spines["right"].set_visible(True)
            if col == len(swept_objectives(table)) - 1:  # the row's last panel drawn
                acc.set_ylabel("test accuracy", color=ACC_COLOR)
        for col in range(len(swept_objectives(table)), ncols):
            axes[row, col].set_visible(False)
    handles = []
    if drawn & {"autoencoder", "true"}:
        handles += [
            plt.Line2D([], [], color=ON_COLOR, label="on-manifold"),
            plt.Line2D([], [], color=OFF_COLOR, label="off-manifold"),
        ]
    handles.append(plt.Line2D([], [], color=ACC_COLOR, label="test accuracy"))
    if "autoencoder" in drawn:
        handles.append(plt.Line2D([], [], color="black", ls="-", label="estimated tangent space"))
    if "true" in drawn:
        handles.append(plt.Line2D([], [], color="black", ls="--", label="exact tangent space"))
    if "standard" in drawn:
        handles.append(plt.Line2D([], [], color="black", ls=":", lw=0.6, label="standard model"))
    if "diverged" in drawn:
        handles.append(plt.Line2D([], [], **DIVERGED_HANDLE_STYLE))
    figure_legend(fig, handles, [h.get_label() for h in handles])
    return fig


def plot_ground_truth(
    robustness: pd.DataFrame, quality: pd.DataFrame, score_quality: pd.DataFrame, alignment: pd.DataFrame, metric: str
):
    """Top: (a) principal angles between estimated and exact tangent spaces; (b) fraction
    of the input gradient's squared norm in the exact tangent space span(U) and (c) in the
    signal space span(U_s), vs strength, with the Bayes-optimal classifier as reference;
    (d) the appendix Theorem 3 identity: off-manifold small-noise ratio vs 1 - tangent
    fraction. Bottom, with ``metric``: (e) each estimate against the exact quantity it
    estimates, per image (a score against the exact score; posterior_trained and
    posterior_edm against the exact grad log p(y | x), column ``reference``); alignment
    of the gradients (f) with the exact score and (g) with the exact posterior gradient
    grad log p(y | x), vs strength; (h) alignment with each estimate vs with its exact
    counterpart, per model."""
    apply_style()
    fig, grid = plt.subplots(2, 4, figsize=(14, 6.6), constrained_layout=True)
    axes = grid[0]
    plot_score_checks(grid[1], score_quality, alignment, metric)

    angles = quality.groupby("index")["angle_deg"].agg(["mean", "min", "max"]).reset_index()
    band(axes[0], angles["index"] + 1, angles, color="black", marker=".")
    axes[0].set(
        xlabel="principal angle index",
        ylabel="angle (degrees)",
        ylim=(0, 90),
        title="(a) estimated vs exact tangent space",
    )

    per_model = robustness[robustness["tangent"] == "true"].drop_duplicates(["objective", "strength", "seed"])
    for ax, column, title in (
        (axes[1], "gradient_tangent_fraction", "(b) gradient in span(U)"),
        (axes[2], "gradient_signal_fraction", "(c) gradient in span(U_s)"),
    ):
        for objective in swept_objectives(per_model):
            rows = per_model[per_model["objective"] == objective]
            summary = over_seeds(rows, column)
            band(ax, summary["strength_value"], summary, color=color_for(objective), label=objective_name(objective))
            mark_diverged(ax, diverged_strengths(rows), color_for(objective))
        for name, ls in (("standard", ":"), ("bayes", "--")):
            ref = per_model.loc[per_model["objective"] == name, column]
            if not ref.empty:
                ax.axhline(ref.mean(), color="black", ls=ls, lw=0.8, label=objective_name(name))
        log_strength_axis(ax)
        ax.set(ylim=(0, 1.02), ylabel="fraction of squared norm", title=title)
    if diverged_strengths(per_model[per_model["objective"].isin(swept_objectives(per_model))]):  # crosses drawn
        axes[1].plot([], [], **DIVERGED_HANDLE_STYLE)
    axes[1].legend(frameon=False, fontsize=7)

    ax = axes[3]
    x, y = 1 - per_model["gradient_tangent_fraction"], per_model["small_noise_ratio"]
    for objective, part in per_model.groupby("objective"):
        ax.scatter(
            1 - part["gradient_tangent_fraction"],
            part["small_noise_ratio"],
            s=14,
            color=color_for(objective) if objective != "bayes" else "black",
        )
    top = max(1e-3, float(np.nanmax([x.max(), y.max()]))) if len(per_model) else 1
    ax.plot([0, top], [0, top], color="black", lw=0.6, ls=":")
    ax.set(
        xlabel="1 - gradient fraction in span(U)",
        ylabel="off-manifold small-noise ratio",
        title="(d) appendix Theorem 3",
    )
    return fig


def plot_score_checks(axes, score_quality: pd.DataFrame, alignment: pd.DataFrame, metric: str) -> None:
    from ..alignment import METRIC_NAMES

    name = METRIC_NAMES[metric]
    ax = axes[0]
    quality = score_quality[score_quality["metric"] == metric]
    for (backend, reference), rows in quality.groupby(["score", "reference"]):
        values = rows["similarity"].to_numpy()
        ax.hist(values, bins=30, alpha=0.6, label=f"{backend} vs {reference} (mean {values.mean():.2f})")
    ax.set(xlabel=f"{name}, estimate vs exact", ylabel="test images", title="(e) score estimates, per image")
    ax.legend(frameon=False, fontsize=7)

    rows = alignment[alignment["metric"] == metric]
    for ax, reference, title in (
        (axes[1], "analytic", "(f) with the exact score"),
        (axes[2], "posterior", "(g) with grad log p(y | x)"),
    ):
        exact = rows[rows["score"] == reference]
        for objective in swept_objectives(exact):
            ours = exact[exact["objective"] == objective]
            summary = over_seeds(ours, "similarity")
            band(ax, summary["strength_value"], summary, color=color_for(objective), label=objective_name(objective))
            mark_diverged(ax, diverged_strengths(ours), color_for(objective))
        standard = exact.loc[exact["objective"] == "standard", "similarity"]
        if not standard.empty:
            ax.axhline(standard.mean(), color="black", ls=":", lw=0.8, label="standard")
        log_strength_axis(ax)
        ax.set(ylabel=f"{name} with the gradient", title=title)
    axes[1].legend(frameon=False, fontsize=7)

    ax = axes[3]
    keys = ["objective", "strength", "seed"]
    references = score_quality.drop_duplicates("score").set_index("score")["reference"]
    for marker, backend in zip("os^v", sorted(set(rows["score"]) - {"analytic", "posterior"})):
        exact = rows[rows["score"] == references.get(backend, "analytic")]
        pairs = rows[rows["score"] == backend].merge(exact, on=keys, suffixes=("", "_exact"))
        ax.scatter(
            pairs["similarity_exact"],
            pairs["similarity"],
            s=14,
            marker=marker,
            label=backend,
            c=[color_for(o) for o in pairs["objective"]],
        )
    limits = ax.get_xlim() + ax.get_ylim()
    ax.plot([min(limits), max(limits)], [min(limits), max(limits)], color="black", lw=0.6, ls=":")
    ax.set(xlabel="with the exact score or gradient", ylabel="with its estimate", title=f"(h) {name}, per model")
    ax.legend(frameon=False, fontsize=7)
