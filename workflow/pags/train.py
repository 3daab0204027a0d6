"""One training loop for every objective: SGD with a multistep schedule, seeded,
checkpointed each epoch and on a stop signal, resumable (``pags.optim.run_epochs``), and
stopped with an error if the loss diverges.

All randomness of a run (shuffling, augmentation, noise and eps draws) comes from one
generator whose state is checkpointed, so a resumed run ends with the same weights as
an uninterrupted one on the CPU.

A step reads nothing back from the device (``TrainStep``): the losses are summed there
and read every ``optim.CHECK_EVERY`` batches and at the end of each epoch, when a NaN or
infinite loss stops training with ``TrainingDiverged`` naming the epoch and the batch
where it first appeared; an epoch with such a loss is never checkpointed.

Data of any size: the training split may be memory-mapped (``load_split(path,
mmap=True)``); ``batches.BatchFeed`` puts it on the device when it fits and streams
batches from pinned host memory when not, in the order drawn from the run's generator,
so where the data live never changes the result. Long epochs report their progress
(images done, images/s, time left) in the job's log every ``progress_seconds``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .augment import AUGMENTATIONS
from .batches import BatchFeed
from .checkpoint import Checkpoint
from .datasets import ImageSplit, to_float
from .evaluate import accuracy
from .models import build_model
from .objectives import Objective, make_objective, scaled_lr
from .optim import descend, run_epochs
from .progress import PROGRESS_SECONDS
from .runtime import log


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    milestones: tuple[int, ...]
    gamma: float
    augment: str
    amp: bool

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainSettings:
        return cls(**{**d, "milestones": tuple(d["milestones"])})


DIVERGED_FIX = "lower training.lr or the strength, or check the data"


class TrainStep:
    """One SGD step of ``train_loop`` on a batch as ``BatchFeed`` yields it (images uint8
    or float32 [B, C, H, W] and labels int64 [B], on ``device``): pixels scaled to [0, 1],
    the augmentation of ``settings``, the objective's loss (in bfloat16 autocast with
    ``settings.amp`` on CUDA), backward and the optimizer's step. Returns the loss (0-dim,
    on the device, not read back: the step never waits for the device).

    The model and batches are put in ``memory_format`` (channels-last unless a benchmark
    compares), and on CUDA cuDNN picks its fastest convolution algorithms by timing them
    on the first batches (``cudnn.benchmark``; GPU results were not bit-reproducible
    before either). Also the benchmark's step (``benchmarks/train_step.py``), so what it
    times is what training runs."""

    def __init__(
        self,
        model: nn.Module,
        objective: Objective,
        optimizer: torch.optim.Optimizer,
        settings: TrainSettings,
        device: torch.device,
        memory_format: torch.memory_format = torch.channels_last,
    ) -> None:
        self.model, self.objective, self.optimizer = model, objective, optimizer
        self.augment = AUGMENTATIONS[settings.augment]
        self.amp = settings.amp and device.type == "cuda"
        self.device_type = device.type
        # channels_last is the fast layout of cuDNN's convolutions and of oneDNN's on a CPU
        # (1.2-1.5x a step there: benchmarks/train_step.py compares the two)
        self.memory_format = memory_format
        model.to(memory_format=memory_format)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = to_float(images)
        if self.augment is not None:
            x = self.augment(x, generator)
        x = x.contiguous(memory_format=self.memory_format)
        with torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.amp):
            loss = self.objective(self.model, x, labels, generator)
        descend(self.optimizer, loss)
        return loss.detach()


def train_loop(
    model: nn.Module,
    objective: Objective,
    data: ImageSplit,
    settings: TrainSettings,
    generator: torch.Generator,
    checkpoint: Checkpoint | None,
    device: torch.device,
    progress_seconds: float | None = PROGRESS_SECONDS,
    feed_mode: str | None = None,
) -> tuple[list[dict[str, float]], int]:
    """Train in place; returns the per-epoch history and the epoch it resumed after. Saves its state to ``checkpoint``
    after each epoch and on a stop signal, and resumes from it if the same job wrote it (``pags.optim.run_epochs``);
    the caller deletes it once the model is saved. ``data`` may be memory-mapped; ``feed_mode`` forces a ``BatchFeed``
    mode (None: chosen by size and device). Epochs longer than ``progress_seconds`` log their progress (None: never)."""
    optimizer = torch.optim.SGD(
        model.parameters(), lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
    )
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(settings.milestones), settings.gamma)
    step = TrainStep(model, objective, optimizer, settings, device)
    feed = BatchFeed(data.x, data.y, device, mode=feed_mode)
    log.info("training on %d images (%s), fed in mode '%s'", len(data), device, feed.mode)

    def end_epoch() -> dict[str, float]:
        lr = optimizer.param_groups[0]["lr"]
        schedule.step()
        return {"lr": lr}

    return run_epochs(
        lambda batch: (step(*batch, generator), 1),
        lambda order: feed.batches(order, settings.batch_size),
        len(data),
        settings.epochs,
        settings.batch_size,
        generator,
        {"model": model, "optimizer": optimizer, "schedule": schedule},
        checkpoint,
        "the training loss",
        DIVERGED_FIX,
        end_epoch=end_epoch,
        progress_seconds=progress_seconds,
    )


def fit(
    hparams: dict[str, Any],
    train: ImageSplit,
    test: ImageSplit,
    checkpoint: Checkpoint | None,
    device: torch.device,
    progress_seconds: float | None = PROGRESS_SECONDS,
    num_classes: int | None = None,
) -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
    """Train the model ``hparams`` describes, resuming ``checkpoint`` if the same job wrote it
    (``train_loop``). Returns (model, model spec, train record).
    ``num_classes``: the data set's classes (the model's outputs); default the largest
    training label + 1, which a subset that lacks the last class gets wrong.
    ``train`` and ``test`` may be memory-mapped (``load_split(path, mmap=True)``)."""
    lr = scaled_lr(hparams["training"]["lr"], hparams["strength"], hparams["objective_options"].get("lr_threshold"))
    settings = TrainSettings.from_dict({**hparams["training"], "lr": lr})
    spec = {
        "arch": hparams["arch"],
        "in_channels": int(train.x.shape[1]),
        "num_classes": num_classes or train.num_classes,
        "options": hparams.get("arch_options", {}),
    }
    torch.manual_seed(hparams["seed"])
    model = build_model(spec["arch"], spec["in_channels"], spec["num_classes"], **spec["options"]).to(device)
    objective = make_objective(hparams["objective"], hparams["strength"], hparams["objective_options"])
    generator = torch.Generator(device=device).manual_seed(hparams["seed"])
    started = time.perf_counter()
    history, resumed_after = train_loop(
        model, objective, train, settings, generator, checkpoint, device, progress_seconds
    )
    model = model.to(memory_format=torch.contiguous_format)
    record = {
        "status": "ok",
        "hparams": hparams,
        "history": history,
        "epochs": settings.epochs,
        "lr": settings.lr,
        "final_loss": history[-1]["loss"] if history else math.nan,
        "train_accuracy": accuracy(model, train, device, progress_seconds=progress_seconds),
        "test_accuracy": accuracy(model, test, device, progress_seconds=progress_seconds),
        "wall_seconds": time.perf_counter() - started,
        "train_seconds": sum(h["seconds"] for h in history),
        "resumed_after_epoch": resumed_after,
        "device": str(device),
    }
    return model, spec, record


def diverged_record(hparams: dict[str, Any], error: str) -> dict[str, Any]:
    """train.json of a run whose loss diverged: its accuracy and metrics are NaN."""
    return {
        "status": "diverged",
        "error": error,
        "hparams": hparams,
        "test_accuracy": math.nan,
        "train_accuracy": math.nan,
    }
