"""smooth: l(f(x), y) + lambda * mean_i ||f(x_i + e_i) - f(x_i)||^2, e ~ N(0, s^2), s fixed."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .spec import GRID, LR_THRESHOLD, POSITIVE_NUMBER, ObjectiveSpec, draw, gaussian_like


@dataclass
class Smooth:
    """Output smoothness: penalise the squared L2 change of the logits under noise."""

    strengths: list[float]
    noise_std: float

    def __call__(self, model, x, y, generator):
        # One forward pass over clean and noisy copies, so BatchNorm sees one batch.
        logits, noisy = model(torch.cat([x, x + gaussian_like(x, self.noise_std, generator)])).chunk(2)
        penalty = (noisy - logits).pow(2).sum(1).mean()
        return F.cross_entropy(logits, y) + draw(self.strengths, generator) * penalty


SPEC = ObjectiveSpec(
    name="smooth",
    label="smoothness",
    symbol="λ",
    color="#5aae61",
    build=lambda values, options: Smooth(values, float(options["noise_std"])),
    step_cost=lambda options: 2.0,  # the clean and the noisy batch in one pass
    options={"grid": GRID, "noise_std": {**POSITIVE_NUMBER, "default": 0.1}, "lr_threshold": LR_THRESHOLD},
    description="Output smoothness: l + lambda * mean ||f(x + e) - f(x)||^2, e ~ N(0, noise_std^2).",
)
