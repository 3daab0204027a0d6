"""The galleries of paper Figs. 1, 2 and 6-9: test images, the score, and input gradients
across strengths, each panel with its regime and its per-image alignment."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch

from ..alignment import METRIC_NAMES
from ..labels import objective_name, strength_symbol
from .alignment import REGIME_COLORS
from .style import apply_style
from .tangent_noise import as_image, signed_image


def gallery_title(objective: str, strength: str) -> str:
    """'λ=0.07279' from the canonical strength string (the one in the config's grid and in
    the model's path); 'ε∈{1, 4, 8}' for a strength drawn per batch; 'standard'."""
    if objective == "standard":
        return "standard"
    symbol = strength_symbol(objective)
    parts = strength.split("_")
    if len(parts) > 1:
        return f"{symbol}∈{{{', '.join(parts)}}}"
    return f"{symbol}={strength}"


def similarity_text(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2f}"


def plot_gallery(
    images: torch.Tensor,
    score: torch.Tensor,
    columns: list[dict],
    score_name: str,
    metric: str,
    title: str = "",
    image_labels: list[str] | None = None,
):
    """One row per image: the image, the score, then one gradient per model. ``columns``:
    dicts with title, regime ('' for none), gradients [n, C, H, W] and similarity [n]
    (NaN where there is none, e.g. a diverged model), printed above each panel, whose
    title is shaded by its regime. ``image_labels`` (e.g. the test-set indices) are
    written beside the rows."""
    apply_style()
    n, width = len(images), len(columns) + 2
    fig, axes = plt.subplots(n, width, figsize=(1.25 * width, 1.35 * n + 0.8), squeeze=False, constrained_layout=True)
    for i in range(n):
        panels = [("image", as_image(images[i]), None), (score_name, signed_image(score[i]), None)]
        panels += [(c["title"], signed_image(c["gradients"][i]), c) for c in columns]
        panels = [(name, picture.numpy(), column) for name, picture, column in panels]
        for j, (name, picture, column) in enumerate(panels):
            ax = axes[i, j]
            ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([]), ax.grid(False)
            text = similarity_text(float(column["similarity"][i])) if column is not None else ""
            if i == 0:
                text = f"{name}\n{text}" if column is None else f"{name}\n{column['regime'] or ' '}\n{text}"
            color = REGIME_COLORS.get(column["regime"], "white") if column is not None else "none"
            ax.set_title(text, fontsize=7, backgroundcolor=color)
        if image_labels is not None:
            axes[i, 0].set_ylabel(image_labels[i], fontsize=7)
    subtitle = f"input gradients (numbers: {METRIC_NAMES[metric]} with the {score_name}, per image)"
    fig.suptitle(f"{title}\n{subtitle}" if title else subtitle, fontsize=9)
    return fig


def gallery_heading(dataset: str, objective: str, gradient_resize: str | None = None, side: int | None = None) -> str:
    """The gallery's title; where the gradients were resized to the score's ``side`` for
    the numbers, how (alignment.gradient_resize)."""
    heading = f"{dataset}: {objective_name(objective)}"
    return heading if gradient_resize is None else f"{heading} (gradients {gradient_resize} to {side} px)"
