"""smooth: l(f(x), y) + lambda * mean_i ||f(x_i + e_i) - f(x_i)||^2, e ~ N(0, s^2), s fixed."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .spec import GRID, LR_THRESHOLD, POSITIVE_NUMBER, ObjectiveSpec, draw, gaussian_like

BATCHNORM_PASSES = (1, 2)


@dataclass
class Smooth:
    """Output smoothness: penalise the squared L2 change of the logits under noise.

    ``batchnorm_passes`` (the paper is silent): 1, the clean and the noisy batch in one
    forward pass, so BatchNorm normalises both with the statistics of the two together and
    updates its running statistics once; 2 (the authors' ``NoiseRegularizedLoss``), one
    pass each, so in train mode each batch is normalised with its own statistics and the
    running statistics are updated twice, by the clean batch and then by the noisy one."""

    strengths: list[float]
    noise_std: float
    batchnorm_passes: int = 1

    def __post_init__(self):
        if self.batchnorm_passes not in BATCHNORM_PASSES:
            raise ValueError(
                f"smooth batchnorm_passes must be one of {list(BATCHNORM_PASSES)}, got {self.batchnorm_passes!r}"
            )

    def __call__(self, model, x, y, generator):
        noisy_x = x + gaussian_like(x, self.noise_std, generator)
        if self.batchnorm_passes == 1:
            logits, noisy = model(torch.cat([x, noisy_x])).chunk(2)
        else:
            logits, noisy = model(x), model(noisy_x)
        penalty = (noisy - logits).pow(2).sum(1).mean()
        return F.cross_entropy(logits, y) + draw(self.strengths, generator) * penalty


SPEC = ObjectiveSpec(
    name="smooth",
    label="smoothness",
    symbol="λ",
    color="#5aae61",
    build=lambda values, options: Smooth(values, float(options["noise_std"]), options["batchnorm_passes"]),
    step_cost=lambda options: 2.0,  # the clean and the noisy batch
    options={
        "grid": GRID,
        "noise_std": {**POSITIVE_NUMBER, "default": 0.1},
        "batchnorm_passes": {
            "description": "Forward passes over the clean and the noisy batch (the paper is silent). 1 (what "
            "omitting the key means): one pass over both, so BatchNorm sees one batch. 2 (the authors' code): "
            "one pass each, so BatchNorm normalises each with its own statistics and updates its running "
            "statistics twice.",
            "enum": list(BATCHNORM_PASSES),
        },
        "lr_threshold": LR_THRESHOLD,
    },
    description="Output smoothness: l + lambda * mean ||f(x + e) - f(x)||^2, e ~ N(0, noise_std^2).",
    absent={"batchnorm_passes": 1},  # added after models were trained: left out, one pass
)
