"""gnorm: l(f(x), y) + lambda * scale * mean_i ||grad_x l(f(x_i), y_i)||^2 (double backprop)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .spec import GRID, LR_THRESHOLD, POSITIVE_NUMBER, ObjectiveSpec, draw


@dataclass
class GradNorm:
    """Input-gradient norm penalty. The penalty is the batch mean of each example's
    squared gradient norm, times ``penalty_scale``. The authors' code penalises
    1e5 * ||grad_x of the batch-mean loss||^2 / B = (1e5 / B^2) * that mean, so their
    lambda equals ours with penalty_scale = 1e5 / B^2 (6.1 at B = 128)."""

    strengths: list[float]
    penalty_scale: float

    def __call__(self, model, x, y, generator):
        x = x.detach().requires_grad_(True)
        losses = F.cross_entropy(model(x), y, reduction="none")
        (grad,) = torch.autograd.grad(losses.sum(), x, create_graph=True)
        penalty = grad.flatten(1).pow(2).sum(1).mean()
        return losses.mean() + draw(self.strengths, generator) * self.penalty_scale * penalty


SPEC = ObjectiveSpec(
    name="gnorm",
    label="gradient norm",
    symbol="λ",
    color="#4393c3",
    build=lambda values, options: GradNorm(values, float(options["penalty_scale"])),
    # forward, backward with its graph, and the backward of that backward
    step_cost=lambda options: 3.0,
    options={
        "grid": GRID,
        "penalty_scale": {
            "description": "Factor on the per-example mean squared gradient norm. 1e5 / B^2 (6.1035 at "
            "batch 128) reproduces the authors' convention, so lambda matches their axis.",
            **POSITIVE_NUMBER,
            "default": 1.0,
        },
        "lr_threshold": LR_THRESHOLD,
    },
    description="Input-gradient norm penalty: l + lambda * penalty_scale * mean ||grad_x l||^2.",
)
