"""Paper Fig. 12: distractor images, noise on each half, and input gradients."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from .style import GRADIENT_CMAP, apply_style


def plot_distractor(
    images: torch.Tensor,
    noisy_signal: torch.Tensor,
    noisy_distractor: torch.Tensor,
    gradients: dict[str, torch.Tensor],
    noise_std: float,
):
    """One row per example: the image, noise on the signal half, noise on the distractor
    half (shown clipped to [0, 1]), then each model's input gradient on a symmetric
    colour scale of its own (red positive, blue negative)."""
    apply_style()
    columns = [
        ("image", images),
        (f"noise on signal (σ={noise_std:g})", noisy_signal),
        (f"noise on distractor (σ={noise_std:g})", noisy_distractor),
    ]
    n, ncol = images.shape[0], 3 + len(gradients)
    fig, axes = plt.subplots(n, ncol, figsize=(1.25 * ncol, 2.2 * n), squeeze=False, constrained_layout=True)
    for j, (title, batch) in enumerate(columns):
        for i in range(n):
            axes[i, j].imshow(batch[i, 0].clamp(0, 1), cmap="gray", vmin=0, vmax=1)
        axes[0, j].set_title(title, fontsize=7)
    for j, (label, grad) in enumerate(gradients.items(), start=3):
        for i in range(n):
            g = grad[i].sum(0)
            limit = g.abs().max().clamp_min(1e-12).item()
            axes[i, j].imshow(g, cmap=GRADIENT_CMAP, vmin=-limit, vmax=limit)
        axes[0, j].set_title(f"gradient:\n{label}", fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    return fig
