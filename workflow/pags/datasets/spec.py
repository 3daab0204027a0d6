"""What a data set is to the workflow: one ``DatasetSpec`` in the module that loads it.

Every module of ``pags.datasets`` that defines ``SPEC`` is a data set (``registry``
finds them): its name becomes a key of the config's ``sweep:`` (and, for 1 x 28 x 28
images, a choice of ``distractor.dataset``), its facts size the compute bill and check
the config before any job, and its loader and presence check are what the data jobs and
the pre-flight check call.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .store import ImageSplit

# loader(split, root, download, **options) -> ImageSplit, ``split`` "train" or "test"
Loader = Callable[..., ImageSplit]
# check(root, split, download): raises DataError naming data.root and the fix if the
# loader, called so, would find nothing to read (file names only)
Check = Callable[[str, str, bool], None]
# fetch(root): downloads what is missing into root, in the layout the loader reads
Fetch = Callable[[str], None]
# One raw file the loader reads: [its path relative to data.root, its state]: [size in
# bytes, modification time in ns] (``stat_entry``), or "md5:<hex>" for a file its loader
# or download checks against that published checksum.
RawEntry = list[Any]
# raw(root, split, download): the files the loader, called so, reads, sorted, [] if none
Raw = Callable[[str, str, bool], list[RawEntry]]


def stat_entry(path: str | os.PathLike, root: str | os.PathLike) -> RawEntry:
    """[``path`` relative to ``root``, [size, mtime in ns]]: what the checkpoints' data
    digest stats (``pags.checkpoint.data_digest``), but relative, so that moving
    ``data.root`` (with the files' times, ``mv``, ``rsync -a``, ``cp -a``) changes nothing."""
    st = os.stat(path)
    return [Path(path).relative_to(root).as_posix(), [st.st_size, st.st_mtime_ns]]


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the workflow knows about one data set, in one place.

    - ``name``: its key in the config and its folder under ``results/``.
    - ``shape``: image shape [C, H, W] as models see it; ``num_classes``: labels 0..n-1.
    - ``train_size``, ``test_size``: images in each split (None for a data set that is only
      evaluated on, as ImageNet's validation set is by the pretrained families).
    - ``load``: the loader (None where a rule of its own reads it, as ImageNet's
      validation images); ``large``: the loader takes ``scratch_dir`` and assembles big
      splits in a memory-mapped file there.
    - ``check``: the loader's own presence check under ``data.root`` (None for a data set
      with no files, as scikit-learn's digits); ``fetch``: its download (None where no
      download can get it: the pre-flight check then asks for its files).
    - ``raw``: the files under ``data.root`` its loader reads (``Raw``; None for a data
      set with no files): their state is a param of the jobs that read them, so that a
      changed raw file reruns its data set and what follows.

    Raises ``ValueError`` for a malformed spec when the module that defines it is imported."""

    name: str
    shape: tuple[int, int, int]
    num_classes: int
    train_size: int | None
    test_size: int
    load: Loader | None
    check: Check | None = None
    fetch: Fetch | None = None
    large: bool = False
    raw: Raw | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name) or self.name.endswith("_distractor"):
            raise ValueError(f"data set name {self.name!r}: use lower-case letters, digits and '_'")
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise ValueError(f"data set {self.name!r}: shape {self.shape} is not [C, H, W]")
        if self.num_classes < 2 or self.test_size < 1:
            raise ValueError(f"data set {self.name!r}: needs at least 2 classes and a test image")
        if (self.train_size is None) != (self.load is None):
            raise ValueError(f"data set {self.name!r}: a data set with a loader has a train_size, and only it")
        if self.fetch is not None and self.check is None:
            raise ValueError(f"data set {self.name!r}: a downloadable data set needs its presence check")
        if (self.raw is None) != (self.check is None):
            raise ValueError(f"data set {self.name!r}: a data set with files under data.root lists them (raw)")

    @property
    def trainable(self) -> bool:
        """Whether models can be trained on it (it has a loader and a training split)."""
        return self.load is not None

    @property
    def needs_files(self) -> bool:
        """Whether it must be under ``data.root`` before its jobs, no download fetching it."""
        return self.check is not None and self.fetch is None
