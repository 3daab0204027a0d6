"""The optimisation steps every network of the workflow shares: one step, the losses'
running sum with the divergence check, the resumable epochs of every training job
(``run_epochs``), and the Adam loop of the auxiliary networks (autoencoder, denoiser).

Nothing here reads a value back from the device at each step: a step only queues work,
and ``LossSum`` keeps the losses' sum and the first non-finite loss on the device, read
back when ``check`` or ``mean`` is called (every ``CHECK_EVERY`` steps and at the end of
an epoch), so a GPU never waits for the host between steps.

Apart from the classifiers' training loop (``pags.train``), so that the auxiliary
networks' jobs do not run, and are not rerun for, the objectives' code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from .checkpoint import Checkpoint
from .errors import TrainingDiverged
from .progress import PROGRESS_SECONDS, Progress
from .runtime import deferred_termination, log, stop, termination_requested

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

    def state_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "first_bad": self.first_bad,
            "bad_value": self.bad_value,
            "steps": self.steps,
            "weight": self.weight,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.total.device
        self.total, self.first_bad, self.bad_value = (state[k].to(device) for k in ("total", "first_bad", "bad_value"))
        self.steps, self.weight = state["steps"], state["weight"]


def run_epochs(
    step: Callable[[Any], tuple[torch.Tensor, int]],
    batches: Callable[[torch.Tensor], Iterable[Any]],
    n: int,
    epochs: int,
    batch_size: int,
    generator: torch.Generator,
    state: dict[str, Any],
    checkpoint: Checkpoint | None,
    what: str,
    fix: str,
    label: str = "",
    unit: str = "images",
    end_epoch: Callable[[], dict[str, float]] = dict,
    progress_seconds: float | None = PROGRESS_SECONDS,
) -> tuple[list[dict[str, float]], int]:
    """The epochs of every training job: each shuffles ``range(n)`` with ``generator`` (on
    the training device) and runs ``step(batch)`` -> (loss 0-dim, weight) on each of
    ``batches(order)``, consecutive slices of ``batch_size`` rows of the order. The epoch's
    loss is the weighted mean; a NaN or infinite loss raises ``TrainingDiverged`` ("<what>,
    at epoch e, batch b, became x. Fix: <fix>."), read back every ``CHECK_EVERY`` steps.
    ``end_epoch()`` runs after each epoch (a schedule's step) and returns more history.

    Resumable: after each epoch, ``state`` (name -> object with ``state_dict`` and
    ``load_state_dict``: model, optimizer, ...), the generator, the history and the epoch
    are saved to ``checkpoint``, and a stop signal (``pags.runtime.deferred_termination``)
    saves them after the step in progress, with the epoch's order, batches done and loss
    sum, then raises ``Terminated``. A run that finds its own checkpoint continues from
    there, to the same result as an uninterrupted run on the CPU. ``checkpoint`` None:
    nothing is saved or resumed. Returns (per-epoch history, epochs done before this run)."""
    saved = checkpoint.load() if checkpoint is not None else None
    history: list[dict[str, float]] = []
    start, position = 0, None
    if saved is not None:
        for name, thing in state.items():
            thing.load_state_dict(saved["state"][name])
        generator.set_state(saved["generator"])
        history, start, position = saved["history"], saved["epoch"], saved["position"]
        within = "" if position is None else f", batch {position['losses']['steps']} of epoch {start + 1}"
        log.info("resumed from %s after epoch %d%s", checkpoint.path, start, within)
    device = generator.device

    def save(order: torch.Tensor | None = None, losses: LossSum | None = None, seconds: float = 0.0) -> None:
        if checkpoint is None:
            return
        within = None if losses is None else {"order": order.cpu(), "losses": losses.state_dict(), "seconds": seconds}
        checkpoint.save(
            {
                "epoch": len(history),
                "history": history,
                "generator": generator.get_state(),
                "position": within,
                "state": {name: thing.state_dict() for name, thing in state.items()},
            }
        )

    with deferred_termination():
        for epoch in range(start, epochs):
            started, losses = time.perf_counter(), LossSum(device)
            progress = Progress(f"{label}epoch {epoch + 1}/{epochs}", n, progress_seconds, unit=unit)
            if position is None:
                order, before = torch.randperm(n, generator=generator, device=device), 0.0
            else:  # the epoch the last run stopped in, from the step after its last
                order, before = position["order"].to(device), position["seconds"]
                losses.load_state_dict(position["losses"])
                progress.done, position = min(losses.steps * batch_size, n), None

            def where(batch: int, epoch: int = epoch) -> str:
                return f"{what}, at epoch {epoch + 1}, batch {batch},"

            for batch in batches(order[losses.steps * batch_size :]):
                loss, weight = step(batch)
                losses.add(loss, weight)
                progress.update(min(batch_size, n - (losses.steps - 1) * batch_size))
                if losses.steps % CHECK_EVERY == 0 or termination_requested():
                    losses.check(where, fix)  # a diverged state is never saved
                if termination_requested():
                    if checkpoint is not None:
                        save(order, losses, before + time.perf_counter() - started)
                        log.warning("stop signal: state saved after batch %d of epoch %d", losses.steps, epoch + 1)
                    raise stop()
            loss = losses.mean(where, fix)  # before the checkpoint: a diverged epoch is never saved
            record = {"epoch": epoch + 1, "loss": loss, **end_epoch()}
            history.append({**record, "seconds": before + time.perf_counter() - started})
            log.info("%sepoch %d/%d loss %.5g (%.1fs)", label, epoch + 1, epochs, loss, history[-1]["seconds"])
            save()
            if termination_requested():
                raise stop()
    return history, start


def minimise_with_adam(
    model: nn.Module,
    n: int,
    batch_loss,
    epochs: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
    name: str,
    fix: str,
    progress_seconds: float | None = PROGRESS_SECONDS,
    checkpoint: Checkpoint | None = None,
    average: AveragedModel | None = None,
) -> list[dict[str, float]]:
    """Adam on ``batch_loss(indices)`` over shuffled batches of ``range(n)`` (the order drawn
    from ``generator``), for the auxiliary networks (autoencoder, denoiser); ``average``,
    if given, takes in the weights after every step. Checkpointed and resumed with
    ``checkpoint`` (``run_epochs``). A NaN or infinite loss stops it with
    ``TrainingDiverged`` naming ``fix``. Epochs longer than ``progress_seconds`` log their
    progress (None: never). Returns per-epoch history."""
    model.to(memory_format=torch.channels_last)  # 1.2x a step on a CPU too (as pags.train.TrainStep)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def step(idx: torch.Tensor) -> tuple[torch.Tensor, int]:
        loss = batch_loss(idx)
        descend(optimizer, loss)
        if average is not None:
            average.update_parameters(model)
        return loss, len(idx)

    def batches(order: torch.Tensor) -> Iterator[torch.Tensor]:
        return (order[i : i + batch_size] for i in range(0, len(order), batch_size))

    state = {"model": model, "optimizer": optimizer, **({"average": average} if average is not None else {})}
    history, _ = run_epochs(
        step,
        batches,
        n,
        epochs,
        batch_size,
        generator,
        state,
        checkpoint,
        f"the {name}'s loss",
        fix,
        label=f"{name} ",
        unit="items",
        progress_seconds=progress_seconds,
    )
    model.to(memory_format=torch.contiguous_format)
    return history
