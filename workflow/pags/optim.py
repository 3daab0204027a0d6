"""The optimisation steps every network of the workflow shares: one step with the
divergence check, and the Adam loop of the auxiliary networks (autoencoder, denoiser).

Apart from the classifiers' training loop (``pags.train``), so that the auxiliary
networks' jobs do not run, and are not rerun for, the objectives' code.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from .errors import TrainingDiverged
from .progress import PROGRESS_SECONDS, Progress
from .runtime import log


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor, where: str, fix: str) -> float:
    """One optimizer step on ``loss``; a NaN or infinite loss stops training with an error
    instead of producing a model. Returns the loss value."""
    if not torch.isfinite(loss):
        raise TrainingDiverged(f"{where} became {loss.item()}. Fix: {fix}.")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


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
        started, total, seen = time.perf_counter(), 0.0, 0
        progress = Progress(f"{name} epoch {epoch + 1}/{epochs}", n, progress_seconds, unit="items")
        order = torch.randperm(n, generator=generator, device=generator.device)
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            total += descend(optimizer, batch_loss(idx), f"the {name}'s loss, at epoch {epoch + 1},", fix) * len(idx)
            seen += len(idx)
            progress.update(len(idx))
        history.append({"epoch": epoch + 1, "loss": total / seen, "seconds": time.perf_counter() - started})
        log.info("%s epoch %d/%d loss %.5g (%.1fs)", name, epoch + 1, epochs, total / seen, history[-1]["seconds"])
    return history
