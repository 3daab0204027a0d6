"""The optimisation steps every network of the workflow shares: one step, the losses'
running sum with the divergence check, and the Adam loop of the auxiliary networks
(autoencoder, denoiser).

Nothing here reads a value back from the device at each step: a step only queues work,
and ``LossSum`` keeps the losses' sum and the first non-finite loss on the device, read
back when ``check`` or ``mean`` is called (every ``CHECK_EVERY`` steps and at the end of
an epoch), so a GPU never waits for the host between steps.

Apart from the classifiers' training loop (``pags.train``), so that the auxiliary
networks' jobs do not run, and are not rerun for, the objectives' code.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
from torch import nn

from .errors import TrainingDiverged
from .progress import PROGRESS_SECONDS, Progress
from .runtime import log


# Steps between two reads of the losses from the device: a diverged run is stopped within
# this many steps of its first non-finite loss, and reads cost one host synchronisation each.
CHECK_EVERY = 50


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One optimizer step on ``loss`` (0-dim). Reads nothing back from the device."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


class LossSum:
    """The weighted sum of a loop's losses, kept on ``device`` in float64 (exactly the sum
    of the Python floats ``loss.item() * weight`` would give), and the first loss that
    was NaN or infinite, with its step number (1-based, counted from construction).

    ``check(where, fix)`` reads them back and raises ``TrainingDiverged``
    ("<where(step)> became <value>. Fix: <fix>.") if a loss was not finite; ``mean`` checks
    and returns the sum over the total weight."""

    def __init__(self, device: torch.device) -> None:
        self.total = torch.zeros((), dtype=torch.float64, device=device)
        self.first_bad = torch.zeros((), dtype=torch.int64, device=device)  # 0: none yet
        self.bad_value = torch.zeros((), dtype=torch.float32, device=device)
        self.steps, self.weight = 0, 0

    def add(self, loss: torch.Tensor, weight: int = 1) -> None:
        """Add one step's ``loss`` (0-dim, any device and float dtype) times ``weight``."""
        self.steps += 1
        self.weight += weight
        loss = loss.detach()
        new = torch.isfinite(loss).logical_not() & (self.first_bad == 0)
        self.first_bad = torch.where(new, self.steps, self.first_bad)
        self.bad_value = torch.where(new, loss.float(), self.bad_value)
        self.total += loss.double() * weight

    def check(self, where: Callable[[int], str], fix: str) -> None:
        step = int(self.first_bad)
        if step:
            raise TrainingDiverged(f"{where(step)} became {float(self.bad_value)}. Fix: {fix}.")

    def mean(self, where: Callable[[int], str], fix: str) -> float:
        self.check(where, fix)
        return float(self.total) / self.weight


def minimise_with_adam(
    model: nn.Module, n: int, batch_loss, epochs: int, batch_size: int, lr: float, generator: torch.Generator,
    name: str, fix: str, progress_seconds: float | None = PROGRESS_SECONDS,
) -> list[dict[str, float]]:  # fmt: skip
    """Adam on ``batch_loss(indices)`` over shuffled batches of ``range(n)`` (the order drawn
    from ``generator``), for the auxiliary networks (autoencoder, denoiser). A NaN or
    infinite loss stops it with ``TrainingDiverged`` naming ``fix``. Epochs longer than
    ``progress_seconds`` log their progress (None: never). Returns per-epoch history."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[dict[str, float]] = []
    for epoch in range(epochs):
        started, losses = time.perf_counter(), LossSum(generator.device)
        progress = Progress(f"{name} epoch {epoch + 1}/{epochs}", n, progress_seconds, unit="items")
        order = torch.randperm(n, generator=generator, device=generator.device)

        def where(step: int, epoch: int = epoch) -> str:
            return f"the {name}'s loss, at epoch {epoch + 1}, batch {step},"

        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            loss = batch_loss(idx)
            descend(optimizer, loss)
            losses.add(loss, len(idx))
            progress.update(len(idx))
            if losses.steps % CHECK_EVERY == 0:
                losses.check(where, fix)
        history.append({"epoch": epoch + 1, "loss": losses.mean(where, fix), "seconds": time.perf_counter() - started})
        log.info("%s epoch %d/%d loss %.5g (%.1fs)", name, epoch + 1, epochs, history[-1]["loss"], history[-1]["seconds"])
    return history
