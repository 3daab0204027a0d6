"""A seeded selection of the ILSVRC-2012 validation set at 224 x 224, for pretrained
ImageNet classifiers (their top-1 accuracy, input gradients and alignment).

``load_imagenet_val(root, n_images, seed)`` reads only the images it selects:

- Files: the validation images as torchvision's ``ImageNet(root, split="val")`` keeps
  them, ``{r}/val/<wnid>/*.JPEG`` (one folder per WordNet id), with ``r`` =
  ``{root}/imagenet`` or else ``root`` itself (the first that has wnid folders). Where
  only the archives are there (``ILSVRC2012_devkit_t12.tar.gz`` and
  ``ILSVRC2012_img_val.tar`` in ``r``), torchvision parses them once, which writes
  ``{r}/meta.bin`` and unpacks the 50,000 images into ``{r}/val/<wnid>/`` (6.4 GB), so
  ``r`` must be writable then. Images are ``.jpeg``, ``.jpg`` or ``.png`` files, any case.
- Classes: the sorted wnids, label = rank 0..999. This is torchvision's class index
  order (``ImageFolder``, ``ImageNet``) and the output order of torchvision's and the
  ``robustness`` library's ImageNet models. Only the whole set is read
  (``check_complete``): 1000 wnid folders of 50 images each, as ILSVRC-2012 has them. A
  folder that lacks one would shift the labels of every later class by one (a rank among
  the folders present is not the class index), and one that lacks images would select
  others: both are refused, naming what is missing.
- Selection: the file list is sorted by wnid, then by file name (the order of
  torchvision's ``ImageNet(root, "val").samples``); ``torch.randperm(N, generator=
  torch.Generator().manual_seed(seed))[:n_images]`` picks the files, in that permuted
  order, like the first ``n_images`` of a shuffled loader. The same files, seed and
  torch version give the same selection. The positions in the sorted list are kept as
  the extra ``index`` (int64 [n_images]).
- Pixels: decoded with Pillow and converted to RGB (torchvision's default loader), then
  ``Resize(256)`` (shorter side to 256, Pillow's bilinear filter, which antialiases)
  and ``CenterCrop(224)``, torchvision.transforms.v2's functional ops on the Pillow
  image, as the authors' evaluation transforms did; stored as uint8 [n_images, 3, 224,
  224] (divide by 255 for the models' [0, 1] inputs).

ImageNet cannot be downloaded without an image-net.org login: absent data is a
``DataError`` naming ``data.root`` and the files expected. ``check_imagenet(root)``
checks file and folder names only, as the loader finds its files (the config's pre-flight
check calls it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from ..runtime import log
from .spec import DatasetSpec, RawEntry, stat_entry
from .store import ImageSplit, empty_images

RESIZE = 256
CROP = 224
NUM_CLASSES = 1000
NUM_VAL_IMAGES = 50_000  # ILSVRC-2012 validation set
IMAGES_PER_CLASS = NUM_VAL_IMAGES // NUM_CLASSES
DEVKIT = "ILSVRC2012_devkit_t12.tar.gz"
VAL_TAR = "ILSVRC2012_img_val.tar"
EXTENSIONS = (".jpeg", ".jpg", ".png")
WNID = re.compile(r"^n\d{8}$")
# what to put under data.root, for config checks' messages ({root} is filled in)
LAYOUT = (
    "{root}/imagenet/val/<wnid>/*.JPEG (or {root}/val/<wnid>/*.JPEG), or ILSVRC2012_devkit_t12.tar.gz and "
    "ILSVRC2012_img_val.tar in {root}/imagenet/ or {root}/"
)


def candidate_roots(root: str | os.PathLike) -> list[Path]:
    """The folders searched, in order of preference."""
    root = Path(root)
    return [root / "imagenet", root]


def _has_wnid_folders(folder: Path) -> bool:
    return folder.is_dir() and any(WNID.match(p.name) and p.is_dir() for p in folder.iterdir())


def _has_archives(folder: Path) -> bool:
    return (folder / DEVKIT).is_file() and (folder / VAL_TAR).is_file()


def _has_images(val: Path) -> bool:
    return any(
        p.suffix.lower() in EXTENSIONS and p.is_file()
        for wnid in val.iterdir()
        if WNID.match(wnid.name) and wnid.is_dir()
        for p in wnid.iterdir()
    )


def _locate(root: Path) -> tuple[Path, bool]:
    """(r, unpacked): the folder ``load_imagenet_val`` reads, ``r / "val"`` when the
    images are unpacked there, else ``r`` holding the two archives it unpacks first. File
    and folder names only. Raises ``DataError`` (naming data.root and the fix) where the
    loader finds nothing: no wnid folders with images and no archives."""
    for r in candidate_roots(root):
        if _has_wnid_folders(r / "val") and _has_images(r / "val"):
            return r, True
    for r in candidate_roots(root):
        if _has_archives(r):
            return r, False
    raise DataError(absent_message(root))


def check_imagenet(root: str | os.PathLike, split: str = "test", download: bool = False) -> None:
    """Raise ``DataError`` if ``load_imagenet_val`` finds no validation set under ``root``
    (``_locate``), or an unpacked one that is not whole (``check_complete``); file and
    folder names only. ``split`` is ``test`` (the validation set is the test split of
    pretrained families); ``download`` changes nothing, ImageNet needs a login. The
    config's pre-flight check."""
    if split != "test":
        raise ValueError(f"only the ImageNet validation set is read, as split 'test', got {split!r}")
    r, unpacked = _locate(Path(root))
    if unpacked:
        val_files(r / "val")


def raw_imagenet(root: str | os.PathLike, split: str = "test", download: bool = False) -> list[RawEntry]:
    """The files ``load_imagenet_val`` reads (``pags.datasets.spec.Raw``), by size and
    time: the two archives where they are there (the first job unpacks them into
    ``val/``, which then follows from them), else every file of ``val/<wnid>/``; []
    where it finds neither or not the whole set (the pre-flight check says so)."""
    root = Path(root)
    try:
        r, _ = _locate(root)
        if _has_archives(r):
            return [stat_entry(r / name, root) for name in (DEVKIT, VAL_TAR)]
        return [stat_entry(path, root) for path in val_files(r / "val")[0]]
    except DataError:
        return []


def absent_message(root: Path) -> str:
    roots = " or ".join(f"'{r}'" for r in candidate_roots(root))
    return (
        f"the ImageNet validation set was not found under data.root='{root}'. It cannot be downloaded "
        "automatically (image-net.org requires a login), so data.download does not help. Fix: put in "
        f"{roots} either the unpacked images as 'val/<wnid>/*.JPEG' (one folder per WordNet id, as "
        f"torchvision's ImageNet(root, split='val') leaves them) or the archives {DEVKIT} and {VAL_TAR} "
        "from image-net.org (unpacked there on first use)."
    )


def _parse_archives(folder: Path) -> None:
    from torchvision.datasets import ImageNet

    log.info("unpacking %s and %s in %s (once)", DEVKIT, VAL_TAR, folder)
    try:
        ImageNet(str(folder), split="val")
    except Exception as e:  # bad checksums, unwritable folder, disk full
        raise DataError(
            f"the ImageNet archives in '{folder}' (under data.root) could not be unpacked: {e}. "
            f"Fix: replace {DEVKIT} and {VAL_TAR} with the files from image-net.org, make the folder "
            "writable, or unpack the images yourself into 'val/<wnid>/'."
        ) from e


def _val_folder(root: Path) -> Path:
    r, unpacked = _locate(root)
    if not unpacked:
        _parse_archives(r)
        if not (_has_wnid_folders(r / "val") and _has_images(r / "val")):
            raise DataError(
                f"unpacking the ImageNet archives in '{r}' (under data.root) left no images in '{r / 'val'}'. "
                f"Fix: replace {DEVKIT} and {VAL_TAR} with the files from image-net.org."
            )
    return r / "val"


def val_files(folder: str | os.PathLike) -> tuple[list[Path], list[int], list[str]]:
    """All images of an unpacked validation folder, sorted by wnid then file name, with
    their labels (rank of the wnid among the 1000) and the sorted wnids. Raises
    ``DataError`` if the folder is not the whole set (``check_complete``)."""
    folder = Path(folder)
    wnids = sorted(p.name for p in folder.iterdir() if p.is_dir() and WNID.match(p.name))
    per_class = {
        wnid: sorted(
            (p for p in (folder / wnid).iterdir() if p.suffix.lower() in EXTENSIONS and p.is_file()),
            key=lambda p: p.name,
        )
        for wnid in wnids
    }
    check_complete(folder, {wnid: len(files) for wnid, files in per_class.items()})
    files = [path for wnid in wnids for path in per_class[wnid]]
    labels = [label for label, wnid in enumerate(wnids) for _ in per_class[wnid]]
    return files, labels, wnids


def check_complete(folder: Path, counts: dict[str, int], example: int = 10) -> None:
    """Raise ``DataError`` naming what is missing unless ``counts`` (wnid -> images in its
    folder) is the whole ILSVRC-2012 validation set: 1000 wnids, 50 images each. The
    wnids of absent folders are named where torchvision's ``meta.bin`` (left by unpacking
    the archives) lists them."""
    short = {w: n for w, n in counts.items() if n != IMAGES_PER_CLASS}
    if len(counts) == NUM_CLASSES and not short:
        return
    problems = []
    if len(counts) != NUM_CLASSES:
        missing = sorted(set(_devkit_wnids(folder.parent)) - set(counts))
        named = f": {', '.join(missing[:example])}{' ...' if len(missing) > example else ''}" if missing else ""
        problems.append(f"{len(counts)} of the {NUM_CLASSES} class folders (<wnid>/) are there{named}")
    if short:
        listed = ", ".join(f"{w} has {n}" for w, n in sorted(short.items())[:example])
        more = f" and {len(short) - example} more" if len(short) > example else ""
        problems.append(f"{len(short)} class folder(s) do not hold {IMAGES_PER_CLASS} images ({listed}{more})")
    raise DataError(
        f"the ImageNet validation set in '{folder}' (under data.root) is not whole: {'; '.join(problems)}, "
        f"{sum(counts.values())} of {NUM_VAL_IMAGES} images. Labels are ranks among the 1000 sorted WordNet ids, "
        "so a missing class would shift every later label, and missing images would change the selection. "
        f"Fix: supply the whole validation set there (or {DEVKIT} and {VAL_TAR} in '{folder.parent}' "
        "and no val/ folder, to have it unpacked from them)."
    )


def _devkit_wnids(folder: Path) -> list[str]:
    """The 1000 wnids of torchvision's ``meta.bin`` in ``folder``, or [] without it."""
    try:
        wnid_to_classes, _ = torch.load(folder / "meta.bin", weights_only=True)
    except (OSError, RuntimeError, ValueError, TypeError):
        return []
    return sorted(wnid_to_classes)


def select_images(n_files: int, n_images: int, seed: int) -> torch.Tensor:
    """Positions (int64 [n_images]) of the selected files in the sorted list:
    the first ``n_images`` of ``torch.randperm(n_files)`` drawn from a CPU generator seeded
    with ``seed``."""
    return torch.randperm(n_files, generator=torch.Generator().manual_seed(seed))[:n_images]


def preprocess(path: Path) -> np.ndarray:
    """One image as the evaluation sees it: uint8 [3, 224, 224] RGB, after Resize(256) and
    CenterCrop(224). Raises ``DataError`` if it cannot be decoded."""
    import torchvision.transforms.v2.functional as TF
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
    except Exception as e:  # truncated or not an image
        raise DataError(
            f"ImageNet image '{path}' could not be read: {e}. Fix: replace it with the original file."
        ) from e
    image = TF.center_crop(TF.resize(image, [RESIZE], antialias=True), [CROP, CROP])
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)


def load_imagenet_val(root: str | os.PathLike, n_images: int, seed: int) -> ImageSplit:
    """``n_images`` ILSVRC-2012 validation images chosen with ``seed`` (see the module
    docstring): x uint8 [n_images, 3, 224, 224], y int64 labels in sorted-wnid order,
    extras ``index`` (int64, the files' positions in the sorted list). Only the selected
    files are decoded. Raises ``DataError`` if the set is absent, holds fewer than
    ``n_images`` images, or an image is unreadable; ``ValueError`` if ``n_images`` < 1."""
    if n_images < 1:
        raise ValueError(f"n_images must be at least 1, got {n_images}")
    base = Path(root)
    folder = _val_folder(base)
    files, labels, wnids = val_files(folder)
    if n_images > len(files):
        raise DataError(
            f"{n_images} ImageNet validation images were asked for, but '{folder}' (under data.root) holds "
            f"{len(files)}. Fix: ask for at most {len(files)} images, or supply the whole validation set."
        )
    index = select_images(len(files), n_images, seed)
    images = empty_images(n_images, (3, CROP, CROP))
    for i, position in enumerate(index.tolist()):
        images[i] = preprocess(files[position])
    y = torch.tensor([labels[p] for p in index.tolist()], dtype=torch.int64)
    return ImageSplit(torch.from_numpy(images), y, {"index": index.to(torch.int64)})


class _SelectedImages(torch.utils.data.Dataset):
    def __init__(self, files: list[Path], labels: list[int]):
        self.files, self.labels = files, labels

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(preprocess(self.files[i])), self.labels[i]


def val_batches(root: str | os.PathLike, n_images: int, seed: int, batch_size: int, workers: int = 0):
    """The same seeded selection as ``load_imagenet_val`` (its first ``n_images``), streamed
    for top-1 over up to all 50,000 images: a DataLoader of (uint8 [B, 3, 224, 224], int64
    [B]) batches, decoded by ``workers`` processes, never all in memory. Raises
    ``DataError`` as ``load_imagenet_val`` does."""
    folder = _val_folder(Path(root))
    files, labels, _ = val_files(folder)
    if n_images > len(files):
        raise DataError(
            f"top-1 on {n_images} ImageNet validation images was asked for, but '{folder}' (under data.root) holds "
            f"{len(files)}. Fix: lower top1.n_images, or supply the whole validation set."
        )
    index = select_images(len(files), n_images, seed).tolist()
    dataset = _SelectedImages([files[i] for i in index], [labels[i] for i in index])
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers, pin_memory=True)


# Evaluated on only (the pretrained families), by rule pretrained_images: no loader here.
SPEC = DatasetSpec(
    name="imagenet",
    shape=(3, CROP, CROP),
    num_classes=NUM_CLASSES,
    train_size=None,
    test_size=NUM_VAL_IMAGES,
    load=None,
    check=check_imagenet,
    raw=raw_imagenet,
)
