"""Reading and writing data splits, with the checks that catch broken files early."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import DataError
from ..io import load_torch, save_torch


SPLIT_STREAMS = {"train": 0, "test": 1}


def split_generator(seed: int, split: str) -> torch.Generator:
    """Independent, reproducible random streams for the train and test splits of a
    synthesized data set."""
    state = np.random.SeedSequence([seed, SPLIT_STREAMS[split]]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def to_float(x: torch.Tensor) -> torch.Tensor:
    """Images as models see them: uint8 pixels scaled to [0, 1]; float images as stored."""
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


@dataclass
class ImageSplit:
    x: torch.Tensor  # uint8 [N, C, H, W] (pixels), or float32 (synthetic data, no quantisation)
    y: torch.Tensor  # int64 [N]
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self):
        if self.x.dtype not in (torch.uint8, torch.float32) or self.x.ndim != 4:
            raise DataError(f"images must be uint8 or float32 [N, C, H, W], got {self.x.dtype} {tuple(self.x.shape)}")
        if self.y.dtype != torch.int64 or self.y.shape != (self.x.shape[0],):
            raise DataError(f"labels must be int64 [N] with N = {self.x.shape[0]}, got {self.y.dtype} {tuple(self.y.shape)}")
        for name, value in self.extras.items():
            if value.shape[0] != self.x.shape[0]:
                raise DataError(f"'{name}' has {value.shape[0]} rows for {self.x.shape[0]} images")

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1

    def floats(self) -> torch.Tensor:
        return to_float(self.x)


def save_split(split: ImageSplit, path: str | os.PathLike) -> None:
    save_torch({"x": split.x, "y": split.y, **split.extras}, path)


def load_split(path: str | os.PathLike) -> ImageSplit:
    data = load_torch(path, what="data split")
    if not isinstance(data, dict) or not {"x", "y"} <= data.keys():
        raise DataError(f"data split '{path}' lacks 'x' and 'y': delete it and rerun the rule that makes it.")
    extras = {k: v for k, v in data.items() if k not in ("x", "y")}
    try:
        return ImageSplit(data["x"], data["y"], extras)
    except DataError as e:
        raise DataError(f"data split '{path}' is malformed: {e}. Delete it and rerun the rule that makes it.") from e
