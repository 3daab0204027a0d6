"""pgd: l(f(x_adv), y), x_adv from L2 PGD in the eps ball (``attacks.pgd_l2``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from ..attacks import ATTACK_MODES, START_NOISES, ParameterGradientSum, pgd_l2
from .spec import GRID, LR_THRESHOLD, POSITIVE_NUMBER, ObjectiveSpec, draw


@dataclass
class PGD:
    """Adversarial training: cross-entropy at the L2-PGD adversarial example.

    ``attack_mode`` is the model's mode during the attack. ``eval`` (the default): the
    attack never touches the BatchNorm statistics. ``train`` (the authors' code, in all
    three of its trainings): the attack's forward passes normalise with the adversarial
    batches' own statistics and update the running statistics, so these see every attack
    step besides the training step's forward pass.

    ``start_noise``, ``clamp`` and ``accumulate`` are ``attacks.pgd_l2``'s ``start``,
    ``clamp`` and its parameter-gradient sum: the defaults are the standard attack and the
    paper's loss (appendix C.1), ``uniform``, False and True the authors' code."""

    strengths: list[float]  # eps
    steps: int
    step_size: float  # as a fraction of eps (the authors: 2/steps on CIFAR, 2.5/steps on MNIST)
    random_start: float  # norm of the random start, as a fraction of eps
    eps_convention: str
    attack_mode: str = "eval"
    start_noise: str = "gaussian"
    clamp: bool = True
    accumulate: bool = False

    def __post_init__(self):
        if self.attack_mode not in ATTACK_MODES:
            raise ValueError(f"pgd attack_mode must be one of {list(ATTACK_MODES)}, got {self.attack_mode!r}")
        if self.start_noise not in START_NOISES:
            raise ValueError(f"pgd random_start_noise must be one of {list(START_NOISES)}, got {self.start_noise!r}")

    def __call__(self, model, x, y, generator):
        eps = draw(self.strengths, generator)
        attack_gradients = ParameterGradientSum(model) if self.accumulate and eps > 0 else None
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
            start=self.start_noise,
            clamp=self.clamp,
            accumulate=attack_gradients,
        )
        loss = F.cross_entropy(model(x_adv), y)
        return loss if attack_gradients is None else loss + attack_gradients.surrogate()


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
        attack_mode=options["attack_mode"],
        start_noise=options["random_start_noise"],
        clamp=options["clamp_pixels"],
        accumulate=options["accumulate_attack_gradients"],
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
            "description": "The model's mode while PGD attacks it (the paper is silent). eval (what omitting "
            "the key means): BatchNorm uses and keeps its running statistics. train (the authors' code, in all "
            "three of its trainings): BatchNorm normalises with each adversarial batch's own statistics and its "
            "running statistics are updated at every attack step. No default is filled in, so models trained "
            "without the key keep their params and are not retrained (as for the options below).",
            "enum": list(ATTACK_MODES),
        },
        "random_start_noise": {
            "description": "The random start's noise before it is scaled to random_start * eps (the paper is "
            "silent). gaussian (what omitting the key means): a direction uniform on the sphere. uniform (the "
            "authors' code): noise uniform in [0, 1), all positive, close to a brightness shift.",
            "enum": list(START_NOISES),
        },
        "clamp_pixels": {
            "description": "Keep x + delta in the pixel box [0, 1] at the start and after every step (the "
            "paper is silent). true (what omitting the key means); false: the authors' code, which only "
            "projects onto the eps ball.",
            "type": "boolean",
        },
        "accumulate_attack_gradients": {
            "description": "Add each attack step's parameter gradients (of its batch-mean loss) to the training "
            "step's, as the authors' released CIFAR-10 train() does (it zeroes the gradients before the "
            "attack). false (what omitting the key means): the loss at the adversarial example alone, as the "
            "paper (appendix C.1) defines it and the authors' MNIST and ImageNet-64 code train.",
            "type": "boolean",
        },
        "lr_threshold": LR_THRESHOLD,
    },
    description="Adversarial training: cross-entropy at the L2-PGD adversarial example within eps.",
    # options added after models were trained: left out, the standard attack and the paper's loss
    absent={
        "attack_mode": "eval",
        "random_start_noise": "gaussian",
        "clamp_pixels": True,
        "accumulate_attack_gradients": False,
    },
)
