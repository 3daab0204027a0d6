"""One model's manifold metrics as a tidy table, one row per (tangent space, step size).

Columns: ``tangent`` (``autoencoder``, or ``true`` on synthetic data), ``step_size``, the
mean softmax-L1 change along a random unit on-manifold / off-manifold direction
(``on_change``, ``off_change``, with standard errors), and per model: the fraction of
the input gradient's squared norm in the tangent space and, where known, in the signal
space, and the off-manifold small-noise ratio of appendix Theorem 3 (which tends to
1 - tangent fraction as the noise shrinks). The gradient is that of the predicted
class's logit, the scalar the Theorem 3 ratio is measured on.
"""

from __future__ import annotations

import copy

import pandas as pd
import torch
from torch import nn

from ..gradients import input_gradient
from ..stats import mean_and_sem
from .robustness import on_off_manifold_change, small_noise_ratio, tangent_fraction

TABLE_METRICS = [
    "on_change",
    "on_sem",
    "off_change",
    "off_sem",
    "gradient_tangent_fraction",
    "gradient_signal_fraction",
    "small_noise_ratio",
]


def manifold_table(
    model: nn.Module,
    x: torch.Tensor,
    tangents: dict[str, torch.Tensor],
    signal_basis: torch.Tensor | None,
    step_sizes: list[float],
    sigma: float,
    draws: int,
    seed: int,
) -> pd.DataFrame:
    model.eval()
    grad = input_gradient(model, x, target="predicted").flatten(1)
    signal = float("nan")
    if signal_basis is not None:
        signal = mean_and_sem(tangent_fraction(grad, signal_basis.expand(len(x), *signal_basis.shape)))[0]
    rows = []
    for name, basis in tangents.items():
        # The same random directions for every tangent space: differences are the spaces'.
        generator = torch.Generator(device=x.device).manual_seed(seed)
        change = on_off_manifold_change(model, x, basis, step_sizes, generator)
        on, off = change["on"], change["off"]
        fraction = mean_and_sem(tangent_fraction(grad, basis))[0]
        # f(x + u) - f(x) at tiny sigma is a difference of close numbers: float64.
        ratio = small_noise_ratio(copy.deepcopy(model).double(), x.double(), basis, sigma, draws, generator)
        ratio = mean_and_sem(ratio)[0]
        for j, step in enumerate(step_sizes):
            on_mean, on_sem = mean_and_sem(on[j])
            off_mean, off_sem = mean_and_sem(off[j])
            rows.append(
                {
                    "tangent": name,
                    "step_size": float(step),
                    "on_change": on_mean,
                    "on_sem": on_sem,
                    "off_change": off_mean,
                    "off_sem": off_sem,
                    "gradient_tangent_fraction": fraction,
                    "gradient_signal_fraction": signal,
                    "small_noise_ratio": ratio,
                }
            )
    return pd.DataFrame(rows)
