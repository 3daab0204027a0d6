"""Paper appendix Fig. 6: random noise split into its tangent-space part and the rest."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from .style import apply_style


def as_image(x: torch.Tensor) -> torch.Tensor:
    """[C, H, W] -> [H, W, C] (or [H, W]) for imshow, clipped to [0, 1]."""
    x = x.clamp(0, 1)
    return x[0] if x.shape[0] == 1 else x.permute(1, 2, 0)


def signed_image(v: torch.Tensor) -> torch.Tensor:
    """A signed pattern shown around mid-grey, scaled by its own largest magnitude."""
    return as_image(0.5 + 0.5 * v / v.abs().max().clamp_min(1e-12))


def plot_tangent_noise(examples: dict[str, dict[str, torch.Tensor]]):
    """``examples[dataset]`` holds ``images``, ``noise``, ``on`` and ``off`` [n, C, H, W].
    One row per image: the image, the noise, its tangent-space part, its orthogonal part."""
    apply_style()
    rows = [(name, i) for name, ex in examples.items() for i in range(len(ex["images"]))]
    titles = ["image", "random noise", "on-manifold part", "off-manifold part"]
    fig, axes = plt.subplots(len(rows), 4, figsize=(6.0, 1.5 * len(rows)), squeeze=False, constrained_layout=True)
    for r, (name, i) in enumerate(rows):
        ex = examples[name]
        panels = [
            as_image(ex["images"][i]),
            signed_image(ex["noise"][i]),
            signed_image(ex["on"][i]),
            signed_image(ex["off"][i]),
        ]
        for c, panel in enumerate(panels):
            axes[r, c].imshow(panel, cmap="gray" if panel.ndim == 2 else None, vmin=0, vmax=1)
            axes[r, c].axis("off")
        axes[r, 0].text(
            -0.1, 0.5, name, transform=axes[r, 0].transAxes, rotation=90, va="center", ha="right", fontsize=7
        )
    for c, title in enumerate(titles):
        axes[0, c].set_title(title, fontsize=8)
    return fig
