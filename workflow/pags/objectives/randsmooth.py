"""randsmooth: l(f(x + e), y), e ~ N(0, sigma^2), sigma = strength."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from .spec import GRID, LR_THRESHOLD, ObjectiveSpec, draw, gaussian_like


@dataclass
class RandSmooth:
    """Gaussian noise augmentation with std = strength (randomized smoothing training)."""

    strengths: list[float]

    def __call__(self, model, x, y, generator):
        return F.cross_entropy(model(x + gaussian_like(x, draw(self.strengths, generator), generator)), y)


SPEC = ObjectiveSpec(
    name="randsmooth",
    label="randomized smoothing",
    symbol="σ",
    color="#9970ab",
    build=lambda values, options: RandSmooth(values),
    step_cost=lambda options: 1.0,
    options={"grid": GRID, "lr_threshold": LR_THRESHOLD},
    description="Gaussian noise augmentation with std = strength.",
)
