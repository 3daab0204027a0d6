"""pgd: l(f(x_adv), y), x_adv from L2 PGD in the eps ball (``attacks.pgd_l2``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from ..attacks import ATTACK_MODES, pgd_l2
from .spec import GRID, LR_THRESHOLD, POSITIVE_NUMBER, ObjectiveSpec, draw


@dataclass
class PGD:
    """Adversarial training: cross-entropy at the L2-PGD adversarial example.

    ``attack_mode`` is the model's mode during the attack. ``eval`` (the default): the
    attack never touches the BatchNorm statistics. ``train`` (the authors' ImageNet-64
    code): the attack's forward passes normalise with the adversarial batches' own
    statistics and update the running statistics, so these see every attack step besides
    the training step's forward pass."""

    strengths: list[float]  # eps
    steps: int
    step_size: float  # as a fraction of eps (the authors: 2/steps on CIFAR, 2.5/steps on MNIST)
    random_start: float  # norm of the random start, as a fraction of eps
    eps_convention: str
    attack_mode: str = "eval"

    def __post_init__(self):
        if self.attack_mode not in ATTACK_MODES:
            raise ValueError(f"pgd attack_mode must be one of {list(ATTACK_MODES)}, got {self.attack_mode!r}")

    def __call__(self, model, x, y, generator):
        eps = draw(self.strengths, generator)
        x_adv = pgd_l2(
            model,
            x,
            y,
            eps,
            self.steps,
            self.step_size * eps,
            self.random_start * eps,
            self.eps_convention,
            generator,
            mode=self.attack_mode,
        )
        return F.cross_entropy(model(x_adv), y)


SPEC = ObjectiveSpec(
    name="pgd",
    label="PGD-L2",
    symbol="ε",
    color="#d6604d",
    build=lambda values, options: PGD(
        values,
        steps=int(options["steps"]),
        step_size=float(options["step_size"]),
        random_start=float(options["random_start"]),
        eps_convention=options["eps_convention"],
        attack_mode=options.get("attack_mode", "eval"),  # optional: absent from older models' params
    ),
    step_cost=lambda options: float(options["steps"]) + 1,  # each attack step a forward and a backward
    options={
        "grid": GRID,
        "steps": {"type": "integer", "minimum": 1, "default": 10},
        "step_size": {"description": "Attack step length as a fraction of eps.", **POSITIVE_NUMBER, "default": 0.2},
        "random_start": {
            "description": "Norm of the random start as a fraction of eps (0 for none).",
            "type": "number",
            "minimum": 0,
            "default": 0.5,
        },
        "eps_convention": {
            "description": "per_example: each image has its own L2 ball of radius eps. batch: the whole "
            "batch's perturbation lies in one ball of radius eps (the authors' code).",
            "enum": ["per_example", "batch"],
        },
        "attack_mode": {
            "description": "The model's mode while PGD attacks it. eval (what omitting the key means): "
            "BatchNorm uses and keeps its running statistics. train (the authors' ImageNet-64 code): "
            "BatchNorm normalises with each adversarial batch's own statistics and its running statistics "
            "are updated at every attack step. No default is filled in, so models trained without the key "
            "keep their params and are not retrained.",
            "enum": list(ATTACK_MODES),
        },
        "lr_threshold": LR_THRESHOLD,
    },
    description="Adversarial training: cross-entropy at the L2-PGD adversarial example within eps.",
)
