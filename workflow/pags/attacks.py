"""L2 projected gradient descent, under both eps conventions.

``per_example``: every image gets its own L2 ball of radius eps (the standard definition).
``batch``: the whole batch's perturbation, flattened into one vector, lies in one ball of
radius eps (the authors' code); each image then gets about eps / sqrt(batch size).

The attack runs the model in one of two ``ATTACK_MODES``: ``eval`` (BatchNorm normalises
with its running statistics, which the attack leaves untouched) or ``train`` (BatchNorm
normalises with each adversarial batch's own statistics and updates its running
statistics at every attack step, as the authors' code does in all three of its trainings).

Where the paper is silent, the authors' code (github tml-tuebingen/pags,
``utils/regularized_loss.py``, ``PGDAdversarialLoss.pgd_l2_``) chose differently from the
standard attack in three more ways, each an argument here: its random start is uniform
noise in [0, 1) (all positive, close to a brightness shift; ``START_NOISES``), it never
clamps x + delta to the pixel box [0, 1], and its CIFAR-10 ``train()`` zeroes the
parameter gradients before the attack, so the parameter gradients of every attack step
add to those of the training step (``ParameterGradientSum``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .norms import l2_norm, unit_direction

# An attack's objective: the loss to maximise, summed over the batch, from the logits at
# x + delta and the labels.
AttackLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy_sum(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, y, reduction="sum")


def project(delta: torch.Tensor, eps: float, convention: str) -> torch.Tensor:
    """``delta`` scaled onto the L2 ball of radius ``eps`` (per image, or for the batch) where
    it lies outside; unchanged inside."""
    norm = l2_norm(delta, convention)
    return delta * torch.where(norm > eps, eps / norm, 1)


ATTACK_MODES = ("eval", "train")
# The random start's noise before it is scaled to its norm: a Gaussian direction, or the
# authors' uniform noise in [0, 1) (``torch.rand``).
START_NOISES = ("gaussian", "uniform")


def start_noise(x: torch.Tensor, kind: str, generator: torch.Generator | None) -> torch.Tensor:
    """Noise shaped like ``x`` for the random start: standard normal (``gaussian``) or
    uniform in [0, 1) (``uniform``, the authors' ``torch.rand_like``). ``ValueError`` for
    another ``kind``."""
    if kind not in START_NOISES:
        raise ValueError(f"random start noise must be one of {list(START_NOISES)}, got {kind!r}")
    draw = torch.randn if kind == "gaussian" else torch.rand
    return draw(x.shape, generator=generator, device=x.device, dtype=x.dtype)


class ParameterGradientSum:
    """The sum, over an attack's steps, of the parameter gradients of each step's
    batch-mean loss: what the authors' CIFAR-10 ``train()`` adds to a training step's
    gradient, as it zeroes the gradients before the attack, whose every step calls
    ``backward()``. ``surrogate()`` hands the sum to the training step's backward pass."""

    def __init__(self, model: nn.Module) -> None:
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.sums = [torch.zeros_like(p) for p in self.params]

    def add(self, grads: tuple[torch.Tensor | None, ...], scale: float) -> None:
        """Add ``scale`` times ``grads`` (one per parameter, None for an unused one)."""
        for total, grad in zip(self.sums, grads):
            if grad is not None:
                total.add_(grad, alpha=scale)

    def surrogate(self) -> torch.Tensor:
        """A 0-dim tensor of value 0 whose gradient with respect to each parameter is the
        sum: added to a loss, its backward pass adds the attack's parameter gradients."""
        dot = sum((p * total.to(p.dtype)).sum() for p, total in zip(self.params, self.sums))
        return dot - dot.detach()


@contextlib.contextmanager
def attack_mode(model: nn.Module, mode: str):
    """Run the block with ``model`` in ``mode`` (``eval`` or ``train``, see the module
    docstring), then restore the mode it had."""
    if mode not in ATTACK_MODES:
        raise ValueError(f"attack mode must be one of {list(ATTACK_MODES)}, got {mode!r}")
    was_training = model.training
    model.train(mode == "train")
    try:
        yield
    finally:
        model.train(was_training)


def pgd_l2(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int,
    step_size: float,
    random_start: float,
    convention: str,
    generator: torch.Generator | None = None,
    mode: str = "eval",
    loss: AttackLoss = cross_entropy_sum,
    start: str = "gaussian",
    clamp: bool = True,
    accumulate: ParameterGradientSum | None = None,
) -> torch.Tensor:
    """Maximise ``loss`` (cross-entropy by default) over the L2 ball of radius ``eps``
    around ``x``.

    ``step_size`` and ``random_start`` are absolute L2 lengths under ``convention``: every
    step has length exactly ``step_size`` (per image, or for the batch) wherever the
    gradient is nonzero, however small it is, and is zero where the gradient is zero.
    The loss is a sum over examples (the cross-entropies by default), so an image's
    gradient does not depend on the batch size. With ``clamp`` (the default) adversarial
    images stay in the image domain [0, 1]; without it (the authors' code) only the ball
    bounds them.

    The random start is ``start`` noise (``START_NOISES``: ``gaussian``, a direction drawn
    uniformly on the sphere, or ``uniform``, the authors' noise in [0, 1)^D, all positive)
    scaled to L2 length ``random_start`` under ``convention``. With ``accumulate``, each
    step's parameter gradients of the batch-mean loss (the loss / B) are added to it (the
    authors' released CIFAR-10 training; ``ParameterGradientSum``).

    ``mode`` is the model's mode during the attack (``ATTACK_MODES``); the model's own
    mode is restored afterwards. In ``eval`` the BatchNorm running statistics are left
    as they were; in ``train`` every attack step's forward pass normalises with the
    adversarial batch's statistics and moves the running statistics towards them (the
    authors' ImageNet-64 training). ``eps`` <= 0 returns ``x`` without running the model.
    """
    if mode not in ATTACK_MODES:
        raise ValueError(f"attack mode must be one of {list(ATTACK_MODES)}, got {mode!r}")
    if eps <= 0:
        return x.detach()

    def in_box(delta: torch.Tensor) -> torch.Tensor:
        return (x + delta).clamp(0, 1) - x if clamp else delta

    delta = torch.zeros_like(x)
    if random_start > 0:
        delta = in_box(random_start * unit_direction(start_noise(x, start, generator), convention))
    params = accumulate.params if accumulate is not None else []
    with attack_mode(model, mode):
        for _ in range(steps):
            delta.requires_grad_(True)
            grad, *param_grads = torch.autograd.grad(
                loss(model(x + delta), y), [delta, *params], allow_unused=bool(params)
            )
            if accumulate is not None:
                accumulate.add(tuple(param_grads), 1 / len(x))
            delta = delta.detach() + step_size * unit_direction(grad, convention)
            delta = in_box(project(delta, eps, convention))
    return (x + delta).detach()
