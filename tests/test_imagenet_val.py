"""ImageNet validation images at 224 px: layout, Resize(256) + CenterCrop(224), the seeded selection."""

import numpy as np
import pytest
import torch
from pags.datasets import BASE_DATASETS
from pags.datasets import imagenet as imagenet_module
from pags.datasets.imagenet import (
    check_complete,
    check_imagenet,
    load_imagenet_val,
    raw_imagenet,
    select_images,
    val_files,
)
from pags.errors import DataError
from PIL import Image
from workflow_helpers import present, whole_imagenet_val

WNIDS = ("n02119789", "n01440764", "n04592741")  # sorted: n01440764, n02119789, n04592741
SIZES = ((500, 375), (256, 256), (333, 500), (230, 224))  # width x height, landscape, square, portrait, near-crop


def pattern(width, height, seed):
    """A smooth colour ramp plus a per-image offset: survives JPEG and resizing recognisably."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 200 // width, yy * 200 // height, (xx + yy) * 100 // (width + height)], axis=-1)
    return (base + seed * 4).clip(0, 255).astype(np.uint8)


def write_sources(folder):
    """3 wnids x 4 JPEGs of varied sizes, ``folder/<wnid>/<k>.JPEG``: wnid -> files."""
    sources = {}
    for k, wnid in enumerate(WNIDS):
        sources[wnid] = []
        for j, (w, h) in enumerate(SIZES):
            path = folder / wnid / f"{k * 4 + j:08d}.JPEG"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pattern(w, h, k * 4 + j)).save(path, quality=95)
            sources[wnid].append(path)
    return sources


def write_val(folder, sources):
    """The whole validation set: the 3 wnids hold their 4 JPEGs (repeated to 50), 997 others
    links to one of them."""
    return whole_imagenet_val(folder, sources)


def reference(path):
    """Resize(256) + CenterCrop(224) spelled out with Pillow."""
    with Image.open(path) as image:
        image = image.convert("RGB")
    w, h = image.size
    nw, nh = (256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256)
    image = image.resize((nw, nh), Image.BILINEAR)
    left, top = int(round((nw - 224) / 2)), int(round((nh - 224) / 2))
    return np.asarray(image.crop((left, top, left + 224, top + 224))).transpose(2, 0, 1)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return write_sources(tmp_path_factory.mktemp("sources"))


@pytest.fixture(scope="module")
def val_root(tmp_path_factory, sources):
    root = tmp_path_factory.mktemp("val_root")
    write_val(root / "imagenet" / "val", sources)
    return root


@pytest.mark.slow  # the whole 50,000-file layout: seconds to write
def test_files_are_sorted_by_wnid_then_name_and_labelled_by_wnid_rank_among_the_1000(val_root):
    files, labels, wnids = val_files(val_root / "imagenet" / "val")
    assert len(wnids) == 1000 and wnids == sorted(wnids) and set(WNIDS) <= set(wnids)
    assert len(files) == len(labels) == 50_000
    assert [p.parent.name for p in files] == [w for w in wnids for _ in range(50)]
    for wnid in WNIDS:
        assert {labels[i] for i, p in enumerate(files) if p.parent.name == wnid} == {wnids.index(wnid)}
    assert [p.name for p in files[:50]] == sorted(p.name for p in files[:50])
    assert len(raw_imagenet(val_root)) == 50_000  # the raw param of its jobs sees each file


@pytest.mark.slow  # the whole 50,000-file layout: seconds to write
def test_selected_images_are_resized_and_center_cropped(val_root, monkeypatch):
    decoded = []
    preprocess = imagenet_module.preprocess
    monkeypatch.setattr(imagenet_module, "preprocess", lambda path: decoded.append(path) or preprocess(path))
    split = load_imagenet_val(val_root, n_images=5, seed=3)
    assert split.x.dtype == torch.uint8 and split.x.shape == (5, 3, 224, 224) and split.y.dtype == torch.int64
    files, labels, _ = val_files(val_root / "imagenet" / "val")
    index = torch.randperm(50_000, generator=torch.Generator().manual_seed(3))[:5]  # the documented selection
    assert split.extras["index"].tolist() == index.tolist()
    assert decoded == [files[i] for i in index.tolist()]  # only the selected files were decoded
    assert split.y.tolist() == [labels[i] for i in index.tolist()]
    for k, i in enumerate(index.tolist()):
        assert np.array_equal(split.x[k].numpy(), reference(files[i])), files[i].name


@pytest.mark.slow  # the whole 50,000-file layout: seconds to write
def test_selection_is_reproducible_and_depends_on_the_seed(val_root):
    a, b = load_imagenet_val(val_root, 4, seed=0), load_imagenet_val(val_root, 4, seed=0)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert torch.equal(select_images(50_000, 4, 0), a.extras["index"])
    assert not torch.equal(select_images(50_000, 4, 1), a.extras["index"])
    more = load_imagenet_val(val_root, 8, seed=0)
    assert torch.equal(more.x[:4], a.x)  # a smaller selection is a prefix of a larger one


@pytest.mark.slow  # the whole 50,000-file layout: seconds to write
def test_torchvision_layout_at_data_root(tmp_path, val_root):
    (tmp_path / "val").symlink_to(val_root / "imagenet" / "val")
    assert present("imagenet", tmp_path, ("test",))
    assert len(load_imagenet_val(tmp_path, 2, seed=0)) == 2


@pytest.mark.slow  # the whole 50,000-file layout: seconds to write
def test_absent_set_or_too_many_images_raise_data_error(val_root, tmp_path_factory):
    empty = tmp_path_factory.mktemp("empty")
    assert present("imagenet", val_root, ("test",)) and not present("imagenet", empty, ("test",))
    with pytest.raises(DataError, match=r"data\.root.*ILSVRC2012_devkit_t12\.tar\.gz"):
        load_imagenet_val(empty, 1, seed=0)
    with pytest.raises(DataError, match="50001 ImageNet validation images.*holds 50000"):
        load_imagenet_val(val_root, 50_001, seed=0)


@pytest.mark.slow  # the whole 50,000-file layout: seconds to write
def test_a_missing_class_folder_is_refused_before_any_label_shifts(val_root, tmp_path):
    """999 class folders would give every class after the missing one the label of the
    next: the pre-flight check and the loader refuse, naming what is missing."""
    val = val_root / "imagenet" / "val"
    wnid = sorted(p.name for p in val.iterdir())[1]
    (val / wnid).rename(tmp_path / wnid)
    try:
        with pytest.raises(DataError, match=r"999 of the 1000 class folders.*49950 of 50000 images"):
            check_imagenet(val_root)
        with pytest.raises(DataError, match="not whole"):
            load_imagenet_val(val_root, 5, seed=0)
    finally:
        (tmp_path / wnid).rename(val / wnid)


def test_what_is_missing_is_named(tmp_path):
    """The wnids of absent folders where torchvision's meta.bin lists the 1000, and the
    folders that do not hold 50 images."""
    wnids = [f"n{k:08d}" for k in range(1000)]
    counts = {w: 50 for w in wnids[1:]}
    counts[wnids[7]] = 49
    with pytest.raises(DataError, match=r"999 of the 1000 class folders \(<wnid>/\) are there; .*n00000007 has 49"):
        check_complete(tmp_path / "val", counts)
    torch.save(({w: (w,) for w in wnids}, []), tmp_path / "meta.bin")
    with pytest.raises(DataError, match=r"are there: n00000000;"):
        check_complete(tmp_path / "val", counts)
    check_complete(tmp_path / "val", {w: 50 for w in wnids})  # the whole set passes


def test_not_a_trainable_base_data_set():
    assert "imagenet" not in BASE_DATASETS
