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
    lambda equals ours with penalty_scale = 1e5 / B^2 (6.1 at B = 128).

    Their B is each batch's own size, so their scale grows on a partial last batch (2.56x
    on CIFAR-10's last batch of 80 at B = 128). ``scale_batch`` (the paper is silent): None,
    ``penalty_scale`` on every batch; a batch size B, ``penalty_scale`` holds at B and a
    batch of b examples gets ``penalty_scale * (B / b)^2`` (their convention with
    ``penalty_scale`` = 1e5 / B^2)."""

    strengths: list[float]
    penalty_scale: float
    scale_batch: int | None = None

    def scale(self, batch: int) -> float:
        """The factor on the mean squared gradient norm for a batch of ``batch`` examples."""
        if self.scale_batch is None:
            return self.penalty_scale
        return self.penalty_scale * (self.scale_batch / batch) ** 2

    def __call__(self, model, x, y, generator):
        x = x.detach().requires_grad_(True)
        losses = F.cross_entropy(model(x), y, reduction="none")
        (grad,) = torch.autograd.grad(losses.sum(), x, create_graph=True)
        penalty = grad.flatten(1).pow(2).sum(1).mean()
        return losses.mean() + draw(self.strengths, generator) * self.scale(len(x)) * penalty


SPEC = ObjectiveSpec(
    name="gnorm",
    label="gradient norm",
    symbol="λ",
    color="#4393c3",
    # optional, so that models trained before the option keep their params
    build=lambda values, options: GradNorm(values, float(options["penalty_scale"]), options.get("penalty_scale_batch")),
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
        "penalty_scale_batch": {
            "description": "Where the batch is partial (the last of an epoch), the paper is silent. Omitted: "
            "penalty_scale on every batch. A batch size B: penalty_scale holds at B and a batch of b examples "
            "gets penalty_scale * (B / b)^2, the authors' 1e5 / b^2 with penalty_scale = 1e5 / B^2.",
            "type": "integer",
            "minimum": 1,
        },
        "lr_threshold": LR_THRESHOLD,
    },
    description="Input-gradient norm penalty: l + lambda * penalty_scale * mean ||grad_x l||^2.",
    absent={"penalty_scale_batch": None},  # added after models were trained: left out, a fixed scale
)
