"""ImageNet validation images at 224 px: layout, Resize(256) + CenterCrop(224), the seeded selection."""

import numpy as np
import pytest
import torch
from pags.datasets import BASE_DATASETS
from pags.datasets import imagenet as imagenet_module
from pags.datasets.imagenet import load_imagenet_val, select_images, val_files
from pags.errors import DataError
from PIL import Image
from workflow_helpers import present

WNIDS = ("n02119789", "n01440764", "n04592741")  # sorted: n01440764, n02119789, n04592741
SIZES = ((500, 375), (256, 256), (333, 500), (230, 224))  # width x height, landscape, square, portrait, near-crop


def pattern(width, height, seed):
    """A smooth colour ramp plus a per-image offset: survives JPEG and resizing recognisably."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 200 // width, yy * 200 // height, (xx + yy) * 100 // (width + height)], axis=-1)
    return (base + seed * 4).clip(0, 255).astype(np.uint8)


def write_val(folder):
    """3 wnids x 4 JPEGs of varied sizes under ``folder/<wnid>/``."""
    for k, wnid in enumerate(WNIDS):
        for j, (w, h) in enumerate(SIZES):
            path = folder / wnid / f"ILSVRC2012_val_{k * 4 + j:08d}.JPEG"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pattern(w, h, k * 4 + j)).save(path, quality=95)


def reference(path):
    """Resize(256) + CenterCrop(224) spelled out with Pillow."""
    with Image.open(path) as image:
        image = image.convert("RGB")
    w, h = image.size
    nw, nh = (256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256)
    image = image.resize((nw, nh), Image.BILINEAR)
    left, top = int(round((nw - 224) / 2)), int(round((nh - 224) / 2))
    return np.asarray(image.crop((left, top, left + 224, top + 224))).transpose(2, 0, 1)


@pytest.fixture
def val_root(tmp_path):
    write_val(tmp_path / "imagenet" / "val")
    return tmp_path


def test_files_are_sorted_by_wnid_then_name_and_labelled_by_wnid_rank(val_root):
    files, labels, wnids = val_files(val_root / "imagenet" / "val")
    assert wnids == sorted(WNIDS)
    assert [p.parent.name for p in files] == [w for w in sorted(WNIDS) for _ in SIZES]
    assert labels == [0] * 4 + [1] * 4 + [2] * 4
    assert [p.name for p in files[:4]] == sorted(p.name for p in files[:4])


def test_selected_images_are_resized_and_center_cropped(val_root, monkeypatch):
    decoded = []
    preprocess = imagenet_module.preprocess
    monkeypatch.setattr(imagenet_module, "preprocess", lambda path: decoded.append(path) or preprocess(path))
    split = load_imagenet_val(val_root, n_images=5, seed=3)
    assert split.x.dtype == torch.uint8 and split.x.shape == (5, 3, 224, 224) and split.y.dtype == torch.int64
    files, labels, _ = val_files(val_root / "imagenet" / "val")
    index = torch.randperm(12, generator=torch.Generator().manual_seed(3))[:5]  # the documented selection
    assert split.extras["index"].tolist() == index.tolist()
    assert decoded == [files[i] for i in index.tolist()]  # only the selected files were decoded
    assert split.y.tolist() == [labels[i] for i in index.tolist()]
    for k, i in enumerate(index.tolist()):
        assert np.array_equal(split.x[k].numpy(), reference(files[i])), files[i].name


def test_selection_is_reproducible_and_depends_on_the_seed(val_root):
    a, b = load_imagenet_val(val_root, 4, seed=0), load_imagenet_val(val_root, 4, seed=0)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert torch.equal(select_images(12, 4, 0), a.extras["index"])
    assert not torch.equal(select_images(12, 4, 1), a.extras["index"])
    everything = load_imagenet_val(val_root, 12, seed=0)
    assert sorted(everything.extras["index"].tolist()) == list(range(12))
    assert torch.equal(everything.x[:4], a.x)  # a smaller selection is a prefix of a larger one


def test_torchvision_layout_at_data_root(tmp_path):
    write_val(tmp_path / "val")
    assert present("imagenet", tmp_path, ("test",))
    assert len(load_imagenet_val(tmp_path, 2, seed=0)) == 2


def test_absent_or_too_small_set_raises_data_error(val_root, tmp_path_factory):
    empty = tmp_path_factory.mktemp("empty")
    assert present("imagenet", val_root, ("test",)) and not present("imagenet", empty, ("test",))
    with pytest.raises(DataError, match=r"data\.root.*ILSVRC2012_devkit_t12\.tar\.gz"):
        load_imagenet_val(empty, 1, seed=0)
    with pytest.raises(DataError, match="13 ImageNet validation images.*holds 12"):
        load_imagenet_val(val_root, 13, seed=0)


def test_not_a_trainable_base_data_set():
    assert "imagenet" not in BASE_DATASETS
