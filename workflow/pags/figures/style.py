"""One look for every figure: fonts, colours per model, and saving as PDF and PNG."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from ..io import atomic_path, no_space_reported  # noqa: E402
from ..objectives import OBJECTIVES  # noqa: E402

RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 150,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
}
GRADIENT_CMAP = "RdBu_r"


def mark_diverged(ax, strengths, color: str = "black") -> None:
    """Crosses along the bottom of ``ax`` at strengths whose training diverged, so missing
    points are shown as missing rather than silently dropped."""
    if len(strengths):
        ax.scatter(
            strengths,
            [0.03] * len(strengths),
            transform=ax.get_xaxis_transform(),
            marker="x",
            color=color,
            s=30,
            zorder=5,
            clip_on=False,
        )
        # Autoscaling ignores points placed in axes coordinates: widen the x range to them.
        low, high = ax.get_xlim()
        ax.set_xlim(min(low, min(strengths)), max(high, max(strengths)))


DIVERGED_HANDLE_STYLE = {"color": "black", "marker": "x", "ls": "none", "label": "diverged in training"}


def figure_legend(fig, handles: list, labels: list[str]):
    """A legend below the panels with as many columns as fit in the figure's width (one
    row if they all fit, else several), so the legend never widens the saved figure
    beyond its panels. Returns the legend, or None when there is nothing to explain."""
    if not handles:
        return None
    renderer = fig.canvas.get_renderer()
    for ncols in range(len(handles), 0, -1):
        legend = fig.legend(handles, labels, loc="outside lower center", ncols=ncols, frameon=False)
        if ncols == 1 or legend.get_window_extent(renderer).width <= fig.bbox.width:
            return legend
        legend.remove()


def apply_style() -> None:
    """Matplotlib's built-in defaults, then ``RC``: what a figure looks like depends on its
    data and on these alone, not on a ``matplotlibrc`` of the user's (``text.usetex: True``
    fails on a node without LaTeX; ``image.interpolation`` changes the pixels of every image
    panel) nor on what the process drew before. Every figure function calls it first."""
    matplotlib.rcdefaults()
    plt.rcParams.update(RC)


def color_for(objective: str) -> str:
    """An objective's colour (its spec's); black for the references (the Bayes-optimal model)."""
    return OBJECTIVES[objective].color if objective in OBJECTIVES else "#000000"


def save_figure(fig, pdf: str | os.PathLike, png: str | os.PathLike) -> None:
    for path, fmt in ((pdf, "pdf"), (png, "png")):
        with no_space_reported(path), atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt)
    plt.close(fig)
