"""trades: l(f(x), y) + beta * KL(f(x) || f(x_adv)) (Zhang et al. 2019, "Theoretically
Principled Trade-off between Robustness and Accuracy", ICML), beta = strength, with x_adv
the L2 maximiser of that KL in the eps ball around x (their L2 variant)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F

from ..attacks import attack_mode, pgd_l2
from .spec import GRID, LR_THRESHOLD, POSITIVE_NUMBER, ObjectiveSpec, draw


def kl_from(log_p: torch.Tensor, logits: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """sum over the batch of KL(p || softmax(logits)), ``log_p`` [B, K] fixed log-probabilities.
    ``y`` is unused: the signature of an attack loss (``attacks.AttackLoss``)."""
    return F.kl_div(F.log_softmax(logits, 1), log_p, log_target=True, reduction="sum")


@dataclass
class Trades:
    """TRADES: cross-entropy at x plus beta times the batch mean of KL(f(x) || f(x_adv)),
    both softmax distributions of the logits.

    The inner maximisation is ``attacks.pgd_l2`` on KL(f(x) || f(x + delta)) with f(x) held
    fixed, per-example L2 balls of radius ``eps``, the model in eval mode (as Zhang et al.'s
    code), ``steps`` steps of ``step_size * eps``, from a random start of norm
    ``random_start * eps``: KL has zero gradient at delta = 0, so a start is needed (theirs
    is 0.001 per pixel, a norm of 0.055 on CIFAR-10, 0.11 eps at their eps 0.5). The clean
    and adversarial batches then go through the model in one pass, so BatchNorm sees one
    batch. beta = 0 is plain cross-entropy (the attack is skipped)."""

    strengths: list[float]  # beta
    eps: float
    steps: int
    step_size: float  # as a fraction of eps
    random_start: float  # as a fraction of eps

    def __call__(self, model, x, y, generator):
        beta = draw(self.strengths, generator)
        if beta == 0:
            return F.cross_entropy(model(x), y)
        with torch.no_grad(), attack_mode(model, "eval"):
            log_p = F.log_softmax(model(x), 1)
        x_adv = pgd_l2(
            model,
            x,
            y,
            self.eps,
            self.steps,
            self.step_size * self.eps,
            self.random_start * self.eps,
            "per_example",
            generator,
            mode="eval",
            loss=partial(kl_from, log_p),
        )
        logits, adversarial = model(torch.cat([x, x_adv])).chunk(2)
        kl = kl_from(F.log_softmax(logits, 1), adversarial) / len(x)
        return F.cross_entropy(logits, y) + beta * kl


SPEC = ObjectiveSpec(
    name="trades",
    label="TRADES",
    symbol="β",
    color="#e08214",
    build=lambda values, options: Trades(
        values,
        eps=float(options["eps"]),
        steps=int(options["steps"]),
        step_size=float(options["step_size"]),
        random_start=float(options["random_start"]),
    ),
    # the clean pass for the attack's target, each attack step a forward and a backward,
    # and the clean and adversarial batch in one training pass
    step_cost=lambda options: float(options["steps"]) + 2 + 1 / 3,
    options={
        "grid": GRID,
        "eps": {"description": "Radius of each image's L2 ball (pixels in [0, 1]).", **POSITIVE_NUMBER},
        "steps": {"type": "integer", "minimum": 1, "default": 10},
        "step_size": {"description": "Attack step length as a fraction of eps.", **POSITIVE_NUMBER, "default": 0.2},
        "random_start": {
            "description": "Norm of the attack's random start as a fraction of eps (KL has no gradient at x).",
            **POSITIVE_NUMBER,
            "default": 0.1,
        },
        "lr_threshold": LR_THRESHOLD,
    },
    required=("grid", "eps"),
    description="TRADES (Zhang et al. 2019): l + beta * KL(f(x) || f(x_adv)), x_adv maximising it in the "
    "L2 eps ball; the strength is beta.",
)
