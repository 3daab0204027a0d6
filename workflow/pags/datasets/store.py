"""Reading and writing data splits, with the checks that catch broken files early.

Large splits (ImageNet-64's training set is 1,281,167 x 3 x 64 x 64 uint8 = 15.7 GB) are
never held twice in host memory: ``empty_images`` preallocates them once, as a
memory-mapped scratch file when they are large, ``save_split`` writes the tensor's
storage straight from that mapping, and ``load_split(path, mmap=True)`` maps the
workflow's copy instead of reading it, so a job touches only the pages it uses.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

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
            raise DataError(
                f"labels must be int64 [N] with N = {self.x.shape[0]}, got {self.y.dtype} {tuple(self.y.shape)}"
            )
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


# splits larger than this are preallocated as a memory-mapped scratch file, not in RAM
MEMMAP_BYTES = 1 << 30


def empty_images(
    n: int, shape: tuple[int, int, int], scratch_dir: str | os.PathLike | None = None, memmap_bytes: int = MEMMAP_BYTES
) -> np.ndarray:
    """An uninitialised uint8 array [n, *shape] (shape = (C, H, W)) to fill in place.

    Up to ``memmap_bytes`` it lives in RAM. Larger, it is a ``numpy.memmap`` on a scratch
    file in ``scratch_dir`` (default: the system's temporary folder, ``$TMPDIR``), which
    is unlinked as soon as it is mapped: it needs as much free disk as the array, holds
    no anonymous memory (its pages are written back to the file under memory pressure)
    and disappears when the array is freed, even if the process is killed. Raises
    ``DataError`` if the scratch file cannot be made (the message names the folder).
    """
    nbytes = n * int(np.prod(shape))
    if nbytes <= memmap_bytes or n == 0:
        return np.empty((n, *shape), dtype=np.uint8)
    folder = Path(scratch_dir) if scratch_dir is not None else Path(tempfile.gettempdir())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(prefix=".images.", suffix=".scratch", dir=folder) as handle:
            handle.truncate(nbytes)  # sparse: disk blocks are taken as pages are written
            return np.memmap(handle.name, dtype=np.uint8, mode="r+", shape=(n, *shape))
    except OSError as e:
        raise DataError(
            f"could not make a {nbytes / 1e9:.1f} GB scratch file in '{folder}' to assemble the images: {e}. "
            "Fix: free that much disk there, or point TMPDIR at a folder with room."
        ) from e


def save_split(split: ImageSplit, path: str | os.PathLike) -> None:
    """Write ``split`` to ``path`` atomically (``pags.io.save_torch``, torch's zip format,
    whose tensor data are stored uncompressed and aligned, so ``load_split(path,
    mmap=True)`` can map them). A tensor backed by a ``numpy.memmap`` is written straight
    from the mapping: no second copy is made in memory."""
    save_torch({"x": split.x, "y": split.y, **split.extras}, path)


def _load_mapped(path: str | os.PathLike) -> dict:
    """``torch.load`` with ``mmap=True`` (copy-on-write private mapping), with the
    messages of ``pags.io.load_torch``."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except FileNotFoundError:
        raise DataError(f"data split '{path}' does not exist; rerun the rule that makes it.") from None
    except Exception as e:  # truncated, corrupted, foreign or legacy-format files
        raise DataError(
            f"data split '{path}' cannot be memory-mapped ({type(e).__name__}: {e}). It is corrupted "
            "or was not written by this workflow: delete it and rerun the rule that makes it."
        ) from e


def load_split(path: str | os.PathLike, mmap: bool = False) -> ImageSplit:
    """The split ``save_split`` wrote to ``path``.

    With ``mmap=True`` the tensors are memory-mapped from the file (private,
    copy-on-write) instead of read into memory: loading takes no time and no memory, and
    pages are read as they are indexed (they count as file-backed, reclaimable memory).
    Raises ``DataError`` (naming the file and the fix) if the file is absent, unreadable
    or not a split."""
    data = _load_mapped(path) if mmap else load_torch(path, what="data split")
    if not isinstance(data, dict) or not {"x", "y"} <= data.keys():
        raise DataError(f"data split '{path}' lacks 'x' and 'y': delete it and rerun the rule that makes it.")
    extras = {k: v for k, v in data.items() if k not in ("x", "y")}
    try:
        return ImageSplit(data["x"], data["y"], extras)
    except DataError as e:
        raise DataError(f"data split '{path}' is malformed: {e}. Delete it and rerun the rule that makes it.") from e
