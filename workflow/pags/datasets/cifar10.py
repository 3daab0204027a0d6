"""CIFAR-10 from ``data.root``, in any of three layouts, or downloaded by torchvision.

``load_cifar10(split, root, download)`` returns the split as uint8 [N, 3, 32, 32] RGB
images and int64 labels 0-9, classes in the standard order (``CLASSES``). It takes the
first of these layouts that is present under ``root`` for the split:

1. torchvision's layout: ``{root}/cifar-10-batches-py/`` with ``data_batch_1`` ...
   ``data_batch_5``, ``test_batch`` and ``batches.meta`` (what
   ``torchvision.datasets.CIFAR10(root, download=True)`` leaves there); read with
   ``download=False``, so torchvision checks every file's md5.
2. NumPy archives, looked for in this order:
   ``{root}/cifar10/{split}.npz`` then ``{root}/cifar10_{split}.npz``
   (``split`` is ``train`` or ``test``), each holding ``x``: uint8 [N, 32, 32, 3]
   (RGB, height x width x channels) and ``y``: integer [N] with values 0-9.
3. An image folder: ``{root}/cifar10/{split}/{class_name}/*.png``, one folder per class
   named as in ``CLASSES`` (all ten, with images; unknown names are refused), each
   image a 32 x 32 PNG read with Pillow and converted to RGB. Images come in class order,
   then in sorted file-name order, so that loading is deterministic.

If none is present and ``download`` is true, the official release is downloaded
(``pags.datasets.download``) into ``{root}/cifar-10-batches-py/``; otherwise a ``DataError`` names
``data.root``, the accepted layouts and ``data.download: true``.
``check_cifar10(root, split, download)`` says, without reading any pixels, whether the
loader finds a layout (the config's pre-flight check calls it).
"""

from __future__ import annotations

import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .download import fetch_verified
from .spec import DatasetSpec, RawEntry, stat_entry
from .store import ImageSplit

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SPLITS = ("train", "test")
IMAGE_SHAPE = (32, 32, 3)  # HWC, as stored in archives and PNGs

TORCHVISION_FOLDER = "cifar-10-batches-py"
# torchvision checks all of these, whichever split is asked for
TORCHVISION_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def _torchvision_present(root: Path) -> bool:
    folder = root / TORCHVISION_FOLDER
    return all((folder / name).is_file() for name in TORCHVISION_FILES)


def npz_candidates(root: str | Path, split: str) -> list[Path]:
    """The archive paths looked for, in order of preference."""
    root = Path(root)
    return [root / "cifar10" / f"{split}.npz", root / f"cifar10_{split}.npz"]


def _find_npz(root: Path, split: str) -> Path | None:
    return next((p for p in npz_candidates(root, split) if p.is_file()), None)


def _image_folder(root: Path, split: str) -> Path:
    return root / "cifar10" / split


def _image_folder_present(root: Path, split: str) -> bool:
    folder = _image_folder(root, split)
    return folder.is_dir() and any((folder / name).is_dir() for name in CLASSES)


def _image_files(folder: Path) -> list[tuple[int, Path]]:
    """(label, path) of the image folder's PNGs, in class then file-name order. Raises
    ``DataError`` if a folder is not a class name or there is no PNG."""
    unknown = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in CLASSES)
    if unknown:
        raise DataError(
            f"CIFAR-10 image folder '{folder}' has folders {unknown} that are not class names. "
            f"Fix: name the class folders from {list(CLASSES)}, or move the others out."
        )
    files = [
        (label, path)
        for label, name in enumerate(CLASSES)
        for path in (sorted((folder / name).glob("*.png")) if (folder / name).is_dir() else [])
    ]
    if not files:
        raise DataError(
            f"CIFAR-10 image folder '{folder}' holds no .png images in its class folders. "
            f"Fix: put the images in '{folder}/<class_name>/*.png', or delete the folder and use another layout."
        )
    missing = [name for label, name in enumerate(CLASSES) if label not in {lab for lab, _ in files}]
    if missing:
        raise DataError(
            f"CIFAR-10 image folder '{folder}' has no .png images of {', '.join(missing)}: a partial data set. "
            f"Fix: put every class's images in '{folder}/<class_name>/*.png', or use another layout."
        )
    return files


def _layout(root: Path, split: str) -> tuple[str, Path] | None:
    """The layout ``load_cifar10`` reads ``split`` from, as (kind, path), in order of
    preference; ``None`` if there is none. File names only; an image folder the loader
    would refuse by its names raises ``DataError``."""
    if _torchvision_present(root):
        return "torchvision", root
    npz = _find_npz(root, split)
    if npz is not None:
        return "npz", npz
    if _image_folder_present(root, split):
        _image_files(_image_folder(root, split))
        return "image_folder", _image_folder(root, split)
    return None


def check_cifar10(root: str | Path, split: str, download: bool = False) -> None:
    """Raise ``DataError`` (naming data.root, the layouts and the fix) if ``load_cifar10``
    with these arguments would find nothing to read: no layout for ``split`` and no
    ``download``, or an image folder it refuses. File names only, no pixels (checksums
    and archive contents are checked when the data are read)."""
    _check_split(split)
    if _layout(Path(root), split) is None and not download:
        raise DataError(_absent_message(Path(root), split))


def raw_cifar10(root: str | Path, split: str, download: bool = False) -> list[RawEntry]:
    """The files ``load_cifar10`` reads for ``split`` (``pags.datasets.spec.Raw``):
    torchvision's by their published md5 (torchvision checks each against it as it reads
    them, and the download gives them), an archive or the images by size and time."""
    root = Path(root)
    layout = _layout(root, split)
    if layout is None:
        return _torchvision_pins() if download else []
    kind, path = layout
    if kind == "torchvision":
        return _torchvision_pins()
    if kind == "npz":
        return [stat_entry(path, root)]
    return [stat_entry(file, root) for _, file in _image_files(path)]


def _torchvision_pins() -> list[RawEntry]:
    from torchvision.datasets import CIFAR10

    files = [*CIFAR10.train_list, *CIFAR10.test_list, [CIFAR10.meta["filename"], CIFAR10.meta["md5"]]]
    return sorted([f"{TORCHVISION_FOLDER}/{name}", f"md5:{md5}"] for name, md5 in files)


def _from_hwc(x: np.ndarray, y: np.ndarray) -> ImageSplit:
    images = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).contiguous()
    return ImageSplit(images, torch.from_numpy(np.asarray(y).astype(np.int64)))


def _load_torchvision(root: Path, split: str) -> ImageSplit:
    from torchvision.datasets import CIFAR10

    folder = root / TORCHVISION_FOLDER
    try:
        data = CIFAR10(str(root), train=split == "train", download=False)
    except Exception as e:  # bad checksums, truncated or unpicklable files
        raise DataError(
            f"CIFAR-10 in torchvision's layout at '{folder}' (under data.root='{root}') could not be read: {e}. "
            f"Fix: delete '{folder}' and set data.download: true to fetch it again, "
            "or replace it with the files of the official python release (cifar-10-python.tar.gz)."
        ) from e
    return _from_hwc(np.asarray(data.data), np.asarray(data.targets))


def _malformed(path: Path, problem: str) -> DataError:
    return DataError(
        f"CIFAR-10 archive '{path}' is malformed: {problem}. It must hold 'x': uint8 [N, 32, 32, 3] "
        "(RGB, height x width x channels) and 'y': integer [N] with values 0-9. "
        "Fix: rewrite it, or delete it and use another layout under data.root."
    )


def _load_npz(path: Path) -> ImageSplit:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise _malformed(path, f"it could not be read as a NumPy archive ({e})") from e
    if not isinstance(archive, np.lib.npyio.NpzFile):  # a bare .npy array under an .npz name
        raise _malformed(path, "it is a single array, not an archive of named arrays")
    try:
        with archive:
            missing = {"x", "y"} - set(archive.files)
            if missing:
                raise _malformed(path, f"it lacks {sorted(missing)} (it has {sorted(archive.files)})")
            x, y = archive["x"], archive["y"]
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # a damaged member
        raise _malformed(path, f"its arrays could not be read ({e})") from e
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != IMAGE_SHAPE:
        raise _malformed(path, f"'x' is {x.dtype} {tuple(x.shape)}")
    if not np.issubdtype(y.dtype, np.integer) or y.shape != (x.shape[0],):
        raise _malformed(path, f"'y' is {y.dtype} {tuple(y.shape)} for {x.shape[0]} images")
    if len(y) == 0:
        raise _malformed(path, "it holds no images")
    if y.min() < 0 or y.max() >= len(CLASSES):
        raise _malformed(path, f"labels range over {int(y.min())}..{int(y.max())}")
    return _from_hwc(x, y)


def _load_image_folder(folder: Path) -> ImageSplit:
    from PIL import Image

    images, labels = [], []
    for label, path in _image_files(folder):
        try:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
        except Exception as e:  # truncated or not a PNG
            raise DataError(f"CIFAR-10 image '{path}' could not be read: {e}. Fix: replace or delete it.") from e
        if pixels.shape != IMAGE_SHAPE:
            raise DataError(
                f"CIFAR-10 image '{path}' is {pixels.shape[1]} x {pixels.shape[0]} pixels, not 32 x 32. "
                "Fix: replace or delete it."
            )
        images.append(pixels)
        labels.append(label)
    return _from_hwc(np.stack(images), np.asarray(labels))


def fetch_cifar10(root: str | Path) -> None:
    """CIFAR-10's python release (torchvision's ``CIFAR10.url``, ``tgz_md5``), unpacked,
    in ``root/cifar-10-batches-py``."""
    from torchvision.datasets import CIFAR10

    root = Path(root)
    if (root / CIFAR10.base_folder).is_dir():
        return
    archive = root / CIFAR10.filename
    if not archive.is_file():
        fetch_verified([CIFAR10.url], archive, CIFAR10.tgz_md5, "CIFAR-10")
    # Unpacked beside its target and renamed into place: never a half-unpacked folder.
    with tempfile.TemporaryDirectory(prefix=".cifar10.", dir=root) as scratch:
        with tarfile.open(archive) as tar:
            tar.extractall(scratch, filter="data")
        (Path(scratch) / CIFAR10.base_folder).rename(root / CIFAR10.base_folder)


def _download(root: Path, split: str) -> ImageSplit:
    fetch_cifar10(root)  # a failure names the address, why, and the fix
    return _load_torchvision(root, split)


def _absent_message(root: Path, split: str) -> str:
    message = (
        f"CIFAR-10 ({split} split) was not found under data.root='{root}', and data.download is false. "
        "Fix: set data.download: true on a machine with internet, or point data.root at a folder "
        "holding one of: "
        f"(1) torchvision's layout '{root / TORCHVISION_FOLDER}/' with {', '.join(TORCHVISION_FILES)}; "
        f"(2) a NumPy archive '{npz_candidates(root, split)[0]}' or '{npz_candidates(root, split)[1]}' "
        "with 'x': uint8 [N, 32, 32, 3] (RGB, HWC) and 'y': integer [N] labels 0-9; "
        f"(3) an image folder '{_image_folder(root, split)}/<class_name>/*.png' with class folders "
        f"{', '.join(CLASSES)}."
    )
    folder = root / TORCHVISION_FOLDER
    if folder.is_dir():
        missing = [name for name in TORCHVISION_FILES if not (folder / name).is_file()]
        message += f" Note: '{folder}' exists but lacks {', '.join(missing)}."
    return message


def load_cifar10(split: str, root: str, download: bool) -> ImageSplit:
    check_cifar10(root, split, download)
    base = Path(root)
    layout = _layout(base, split)
    if layout is None:  # checked above: download is on
        return _download(base, split)
    kind, path = layout
    if kind == "torchvision":
        return _load_torchvision(path, split)
    return _load_npz(path) if kind == "npz" else _load_image_folder(path)


SPEC = DatasetSpec(
    name="cifar10",
    shape=(3, 32, 32),
    num_classes=10,
    train_size=50_000,
    test_size=10_000,
    load=load_cifar10,
    check=check_cifar10,
    fetch=fetch_cifar10,
    raw=raw_cifar10,
)
