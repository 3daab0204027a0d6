"""ImageNet at 64 x 64 (Chrabaszcz, Loshchilov & Hutter 2017) from ``data.root``.

``load_imagenet64(split, root, download)`` returns ``train`` (1,281,167 images in the
published release) or ``test`` (the ILSVRC-2012 validation set, 50,000 images) as uint8
[N, 3, 64, 64] RGB images and int64 labels 0-999 in torchvision's class order. It takes
the first of these layouts that is present under ``root``:

1. The published NumPy archives (the ``*_npz.zip`` downloads of image-net.org,
   unpacked): ``train_data_batch_1.npz`` ... ``train_data_batch_10.npz`` for ``train``
   and ``val_data.npz`` for ``test``, all in ``{root}/imagenet64/`` or directly in
   ``{root}`` (looked for in that order; all files of a split must be in one folder),
   with the class map ``map_clsloc.txt`` in that same folder. Each archive holds
   ``data``: uint8 [n, 12288], one image per row laid out channel-planar (the 4096 red
   values, then green, then blue, each plane 64 x 64 row-major), which is [n, 3, 64, 64]
   in C order; and ``labels``: integers 1..1000. Other keys (the train batches'
   ``mean``) are ignored. Batches are concatenated in batch order.
2. An image folder ``{root}/imagenet64/{folder}/{class}/*.png`` with ``folder`` =
   ``train`` for ``train`` and ``val`` (or else ``test``) for ``test``, each image a
   64 x 64 PNG read with Pillow and converted to RGB. Class folders are named either all
   by label (decimal integers 0..999, taken as labels in torchvision's class order, the
   order the archives are relabelled to) or all by WordNet id (``n01440764``...): then
   labels are the ranks of the wnids present in sorted order, torchvision's
   ``ImageFolder`` and ``ImageNet`` convention, which equals torchvision's class index
   when all 1000 are there, as they must be: a folder with fewer class folders is
   refused. Images come in label order, then sorted file-name order.

Class order: every label this module returns is torchvision's class index, the rank of
the class's WordNet id among the 1000 sorted wnids (0 is n01440764, tench). That is the
output order of torchvision's and the ``robustness`` library's pretrained ImageNet
classifiers and the label order of EDM's ``edm-imagenet-64x64-cond-adm`` (EDM's dataset
tool numbers the sorted class folders). The archives number classes otherwise: label k
is line k of the ILSVRC localisation devkit's ``map_clsloc.txt`` (lines ``n02119789 1
kit_fox``: label 1 is n02119789, kit fox), the file the release's own scripts
(github.com/PatrykChrabaszcz/Imagenet32_Scripts) number classes by. So the archives'
labels are relabelled by that file: label k becomes the sorted rank of the wnid the map
gives k. The file comes with the ILSVRC2014 (and later) devkit as
``data/map_clsloc.txt``; without it the archives are not read (``DataError``), because
a class-conditional score or a pretrained classifier would silently get the wrong
classes.

ImageNet cannot be downloaded without an image-net.org login, so ``download`` changes
nothing: absent data (the class map included) is a ``DataError`` naming ``data.root``
and the files expected.
``check_imagenet64(root, split)`` says, from file names only, whether the loader finds
a layout it reads, with the loader's own error where not (the config's pre-flight check
calls it).

Memory: the training split is 15.7 GB. It is preallocated once (``store.empty_images``:
a memory-mapped scratch file in ``scratch_dir``, default ``$TMPDIR``, beyond 1 GiB) and
each archive's pixels are decompressed straight into it, 16 MB at a time, so no batch
is held besides it; no float copy is ever made.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .spec import DatasetSpec, RawEntry, stat_entry
from .store import MEMMAP_BYTES, ImageSplit, empty_images

SPLITS = ("train", "test")
SIDE = 64
ROW = 3 * SIDE * SIDE  # 12288 bytes per image in the archives
NUM_CLASSES = 1000
TRAIN_FILES = tuple(f"train_data_batch_{i}.npz" for i in range(1, 11))
TEST_FILES = ("val_data.npz",)
ARCHIVES = {"train": TRAIN_FILES, "test": TEST_FILES}
CLASS_MAP = "map_clsloc.txt"  # the devkit's class numbering of the archives, beside them
FOLDER_NAMES = {"train": ("train",), "test": ("val", "test")}
WNID = re.compile(r"^n\d{8}$")
# what to put under data.root, for config checks' messages ({root} is filled in)
LAYOUT = (
    "{root}/imagenet64/ (or {root}/) with train_data_batch_1.npz .. train_data_batch_10.npz, val_data.npz "
    "(the downsampled ImageNet 64x64 NumPy release) and map_clsloc.txt (the ILSVRC devkit's class map), "
    "or {root}/imagenet64/<train|val>/<class>/*.png"
)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def archive_folders(root: str | os.PathLike) -> list[Path]:
    """The folders searched for the archives, in order of preference."""
    root = Path(root)
    return [root / "imagenet64", root]


def _archive_folder(root: Path, split: str) -> Path | None:
    """The first folder holding every archive of ``split``; ``None`` if none does."""
    return next((f for f in archive_folders(root) if all((f / n).is_file() for n in ARCHIVES[split])), None)


def _partial_archives(root: Path, split: str) -> tuple[Path, list[str]] | None:
    """A folder holding some but not all archives of ``split``, with the missing names."""
    for folder in archive_folders(root):
        present = [n for n in ARCHIVES[split] if (folder / n).is_file()]
        if present:
            return folder, [n for n in ARCHIVES[split] if n not in present]
    return None


def _image_folder(root: Path, split: str) -> Path | None:
    for name in FOLDER_NAMES[split]:
        folder = root / "imagenet64" / name
        if folder.is_dir() and any(p.is_dir() for p in folder.iterdir()):
            return folder
    return None


def _layout(root: Path, split: str) -> tuple[str, Path]:
    """The layout ``load_imagenet64`` reads ``split`` from, as ("archives" or
    "image_folder", folder), from file and folder names only. Raises ``DataError`` (naming
    data.root and the fix) where the loader would refuse: no layout, an incomplete set of
    archives, archives without their class map, an image folder with misnamed class
    folders or no PNG."""
    folder = _archive_folder(root, split)
    if folder is not None:  # the archives are read first, and need their class map
        if not (folder / CLASS_MAP).is_file():
            raise DataError(_missing_map_message(root, folder))
        return "archives", folder
    partial = _partial_archives(root, split)
    if partial is not None:  # an incomplete download is an error, not a reason to look elsewhere
        folder, missing = partial
        raise DataError(
            f"ImageNet-64 ({split} split) under data.root='{root}' is incomplete: '{folder}' lacks "
            f"{', '.join(missing)}. Fix: unpack the missing archives of the downsampled ImageNet 64x64 "
            "NumPy release there (all of one split in one folder)."
        )
    images = _image_folder(root, split)
    if images is None:
        raise DataError(absent_message(root, split))
    if not any(next(cls.glob("*.png"), None) for _, cls in _class_folders(images)):
        raise DataError(
            f"ImageNet-64 image folder '{images}' holds no .png images in its class folders. "
            f"Fix: put the images in '{images}/<class>/*.png', or delete the folder and use the archives."
        )
    return "image_folder", images


def check_imagenet64(root: str | os.PathLike, split: str, download: bool = False) -> None:
    """Raise ``DataError`` if ``load_imagenet64`` would find nothing to read for ``split``
    under ``root`` (``_layout``: file and folder names only, no pixels); ``download``
    changes nothing, ImageNet cannot be downloaded. The config's pre-flight check."""
    _check_split(split)
    _layout(Path(root), split)


def raw_imagenet64(root: str | os.PathLike, split: str, download: bool = False) -> list[RawEntry]:
    """The files ``load_imagenet64`` reads for ``split`` (``pags.datasets.spec.Raw``), by
    size and time: the archives and their class map, or the images; [] where it finds
    none (the pre-flight check says so)."""
    _check_split(split)
    root = Path(root)
    try:
        kind, folder = _layout(root, split)
    except DataError:
        return []
    if kind == "archives":
        return [stat_entry(folder / name, root) for name in (*ARCHIVES[split], CLASS_MAP)]
    return [stat_entry(path, root) for _, cls in _class_folders(folder) for path in sorted(cls.glob("*.png"))]


def _missing_map_message(root: Path, folder: Path) -> str:
    return (
        f"ImageNet-64 under data.root='{root}': the archives in '{folder}' lack the class map "
        f"'{CLASS_MAP}' beside them. The downsampled ImageNet release numbers its classes 1..1000 by "
        "that file of the ILSVRC localisation devkit (the order of the release's own scripts, "
        "github.com/PatrykChrabaszcz/Imagenet32_Scripts), not by torchvision's sorted WordNet ids, which "
        "pretrained ImageNet classifiers and EDM's conditional ImageNet-64 network use; without it the "
        f"labels would silently name the wrong classes. Fix: copy data/{CLASS_MAP} of the ILSVRC2014 (or "
        f"later) devkit from image-net.org into '{folder}' (ImageNet cannot be downloaded automatically)."
    )


def _bad_map(path: Path, problem: str) -> DataError:
    return DataError(
        f"ImageNet-64 class map '{path}' is malformed: {problem}. It must have 1000 lines '<wnid> <label> "
        f"<name>' with 1000 distinct WordNet ids (n01440764 ...) and the labels 1..1000, as the ILSVRC "
        f"devkit's data/{CLASS_MAP}. Fix: replace it with the devkit's file (under data.root)."
    )


def read_class_map(path: str | os.PathLike) -> np.ndarray:
    """The relabelling the devkit's ``map_clsloc.txt`` at ``path`` defines: int64 [1000]
    whose entry k - 1 is torchvision's class index (the rank among the sorted wnids) of
    the wnid the map gives archive label k. Raises ``DataError`` if the file is absent
    or is not 1000 distinct wnids with the labels 1..1000."""
    path = Path(path)
    try:
        lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise _bad_map(path, f"it could not be read ({e})") from e
    for fields in lines:
        if len(fields) < 2 or not WNID.match(fields[0]) or not fields[1].isdigit():
            raise _bad_map(path, f"the line '{' '.join(fields)[:60]}' is not '<wnid> <label> <name>'")
    wnids, labels = [f[0] for f in lines], [int(f[1]) for f in lines]
    if len(lines) != NUM_CLASSES:
        raise _bad_map(path, f"it has {len(lines)} lines")
    if len(set(wnids)) != NUM_CLASSES:
        raise _bad_map(path, f"it names {len(set(wnids))} distinct wnids")
    if sorted(labels) != list(range(1, NUM_CLASSES + 1)):
        raise _bad_map(path, "its labels are not 1..1000, each once")
    rank = {wnid: i for i, wnid in enumerate(sorted(wnids))}
    relabel = np.empty(NUM_CLASSES, dtype=np.int64)
    for wnid, label in zip(wnids, labels):
        relabel[label - 1] = rank[wnid]
    return relabel


def _malformed(path: Path, problem: str) -> DataError:
    return DataError(
        f"ImageNet-64 archive '{path}' is malformed: {problem}. Each archive of the downsampled ImageNet "
        f"release must hold 'data': uint8 [n, {ROW}] (channel-planar 3 x 64 x 64 rows) and 'labels': "
        f"integers 1..{NUM_CLASSES}. Fix: replace it with the file of the release (Imagenet64_*_npz.zip) "
        "under data.root."
    )


def _open_array(archive: zipfile.ZipFile, key: str, path: Path):
    """The open .npy member ``key`` of an npz, positioned after its header, with the
    header's (shape, fortran_order, dtype)."""
    name = f"{key}.npy"
    if name not in archive.namelist():
        keys = sorted(n.removesuffix(".npy") for n in archive.namelist())
        raise _malformed(path, f"it lacks '{key}' (it has {keys})")
    member = archive.open(name)
    version = np.lib.format.read_magic(member)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return member, read(member)


def _read_header(archive: zipfile.ZipFile, key: str, path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of array ``key`` of an npz, from its .npy header only."""
    member, (shape, _, dtype) = _open_array(archive, key, path)
    member.close()
    return shape, dtype


def _read_labels(path: Path) -> tuple[np.ndarray, int]:
    """The archive's labels 0..999 (its own 1..1000 less one, still in the devkit's
    order), after checking its ``data`` header."""
    try:
        with zipfile.ZipFile(path) as archive:
            shape, dtype = _read_header(archive, "data", path)
            _read_header(archive, "labels", path)
        with np.load(path, allow_pickle=False) as archive:
            labels = np.asarray(archive["labels"])
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # not a zip, damaged member
        raise _malformed(path, f"it could not be read as a NumPy archive ({e})") from e
    if dtype != np.uint8 or len(shape) != 2 or shape[1] != ROW:
        raise _malformed(path, f"'data' is {dtype} {tuple(shape)}")
    if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (shape[0],):
        raise _malformed(path, f"'labels' is {labels.dtype} {tuple(labels.shape)} for {shape[0]} images")
    if shape[0] == 0:
        raise _malformed(path, "it holds no images")
    if labels.min() < 1 or labels.max() > NUM_CLASSES:
        raise _malformed(path, f"labels range over {int(labels.min())}..{int(labels.max())}")
    return labels.astype(np.int64) - 1, shape[0]


def _read_data_into(path: Path, out: np.ndarray) -> None:
    """Decompress the archive's ``data`` straight into ``out`` (uint8 [n, 3, 64, 64], C
    contiguous), a few MB at a time: no copy of the batch is held besides ``out``."""
    try:
        with zipfile.ZipFile(path) as archive:
            member, (shape, fortran, dtype) = _open_array(archive, "data", path)
            with member:
                if shape != (len(out), ROW) or dtype != np.uint8:  # changed since its header was read
                    raise _malformed(path, f"'data' is {dtype} {tuple(shape)}")
                if fortran:  # column-major rows: read whole, then transpose into place
                    out[...] = np.lib.format.read_array(archive.open("data.npy")).reshape(out.shape)
                    return
                view, filled = memoryview(out).cast("B"), 0  # a view: raises if ``out`` is not contiguous
                while filled < len(view):
                    got = member.readinto(view[filled : filled + (1 << 24)])
                    if not got:
                        raise _malformed(path, f"'data' ends after {filled} of {len(view)} bytes")
                    filled += got
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # damaged member, bad CRC
        raise _malformed(path, f"its 'data' could not be read ({e})") from e


def _load_archives(root: Path, folder: Path, split: str, scratch_dir, memmap_bytes: int) -> ImageSplit:
    relabel = read_class_map(folder / CLASS_MAP)
    paths = [folder / name for name in ARCHIVES[split]]
    labels, counts = zip(*(_read_labels(p) for p in paths))  # labels and headers first: no pixels yet
    images = empty_images(sum(counts), (3, SIDE, SIDE), scratch_dir, memmap_bytes)
    start = 0
    for path, n in zip(paths, counts):
        _read_data_into(path, images[start : start + n])  # channel-planar rows are CHW in C order
        start += n
    return ImageSplit(torch.from_numpy(images), torch.from_numpy(relabel[np.concatenate(labels)]))


def _class_folders(folder: Path) -> list[tuple[int, Path]]:
    """(label, class folder) pairs in label order; see the module docstring. Raises
    ``DataError`` unless all 1000 classes have their folder: a wnid's rank among fewer
    would not be its class index, and a missing class is a partial data set."""
    names = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if all(WNID.match(n) for n in names):
        _check_all_classes(folder, names, "")
        return list(enumerate(folder / n for n in names))
    if all(n.isdigit() and int(n) < NUM_CLASSES for n in names):
        labels = sorted(int(n) for n in names)
        missing = sorted(set(range(NUM_CLASSES)) - set(labels))
        _check_all_classes(
            folder, names, f": labels {', '.join(map(str, missing[:10]))}{' ...' if len(missing) > 10 else ''}"
        )
        return sorted((int(n), folder / n) for n in names)
    odd = [n for n in names if not WNID.match(n)][:5]
    raise DataError(
        f"ImageNet-64 image folder '{folder}' mixes or misnames class folders (e.g. {odd}). "
        f"Fix: name every class folder by its label 0..{NUM_CLASSES - 1} or every one by its WordNet id (n01440764)."
    )


def _check_all_classes(folder: Path, names: list[str], missing: str) -> None:
    if len(set(names)) == NUM_CLASSES:
        return
    raise DataError(
        f"ImageNet-64 image folder '{folder}' has {len(set(names))} of the {NUM_CLASSES} class folders{missing}. "
        "Labels would not be the classes' index (for WordNet-id folders, a rank among those present), and "
        f"the data set would lack classes. Fix: supply every class folder, or use the NumPy archives."
    )


def _load_image_folder(folder: Path, scratch_dir, memmap_bytes: int) -> ImageSplit:
    from PIL import Image

    files = [(label, path) for label, cls in _class_folders(folder) for path in sorted(cls.glob("*.png"))]
    images = empty_images(len(files), (3, SIDE, SIDE), scratch_dir, memmap_bytes)
    for i, (_, path) in enumerate(files):
        try:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
        except Exception as e:  # truncated or not an image
            raise DataError(f"ImageNet-64 image '{path}' could not be read: {e}. Fix: replace or delete it.") from e
        if pixels.shape != (SIDE, SIDE, 3):
            raise DataError(
                f"ImageNet-64 image '{path}' is {pixels.shape[1]} x {pixels.shape[0]} pixels, not 64 x 64. "
                "Fix: replace or delete it."
            )
        images[i] = pixels.transpose(2, 0, 1)
    labels = torch.tensor([label for label, _ in files], dtype=torch.int64)
    return ImageSplit(torch.from_numpy(images), labels)


def absent_message(root: Path, split: str) -> str:
    names = ", ".join(ARCHIVES[split])
    folders = " or ".join(f"'{root / 'imagenet64' / n}/<class>/*.png'" for n in FOLDER_NAMES[split])
    return (
        f"ImageNet-64 ({split} split) was not found under data.root='{root}'. It cannot be downloaded "
        "automatically (image-net.org requires a login), so data.download does not help. "
        "Fix: download the downsampled ImageNet 64x64 NumPy release (Imagenet64_train_part1_npz.zip, "
        "Imagenet64_train_part2_npz.zip, Imagenet64_val_npz.zip) from image-net.org, unpack it and put "
        f"{names} in '{root / 'imagenet64'}' (or directly in data.root) together with {CLASS_MAP} of the "
        "ILSVRC2014 (or later) devkit, which numbers the release's classes, or provide an image folder "
        f"{folders}."
    )


def load_imagenet64(
    split: str,
    root: str,
    download: bool,
    scratch_dir: str | os.PathLike | None = None,
    memmap_bytes: int = MEMMAP_BYTES,
) -> ImageSplit:
    """One split of ImageNet-64: uint8 [N, 3, 64, 64] RGB, int64 labels 0-999 in
    torchvision's class order (layouts, class order and memory use in the module
    docstring). Splits over ``memmap_bytes`` are assembled in a memory-mapped scratch
    file in ``scratch_dir`` (default ``$TMPDIR``). Raises ``DataError`` if the split is
    absent (``download`` cannot help), incomplete (naming the missing archives), lacks or
    has a malformed class map, or is malformed (naming the file and the problem)."""
    _check_split(split)
    base = Path(root)
    kind, folder = _layout(base, split)
    if kind == "archives":
        return _load_archives(base, folder, split, scratch_dir, memmap_bytes)
    return _load_image_folder(folder, scratch_dir, memmap_bytes)


# behind a login: no download, its files must be under data.root
SPEC = DatasetSpec(
    name="imagenet64",
    shape=(3, SIDE, SIDE),
    num_classes=NUM_CLASSES,
    train_size=1_281_167,
    test_size=50_000,
    load=load_imagenet64,
    check=check_imagenet64,
    raw=raw_imagenet64,
    large=True,
)
