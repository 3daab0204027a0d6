"""ImageNet-64: the published npz batches relabelled to torchvision's class order by the
devkit's class map, the image folder, the errors, and the store's memory mapping."""

import os
import shutil

import numpy as np
import pytest
import torch
from pags.datasets import BASE_DATASETS, load_split, save_base, save_split
from pags.datasets.imagenet64 import (
    CLASS_MAP,
    LAYOUT,
    TEST_FILES,
    TRAIN_FILES,
    absent_message,
    load_imagenet64,
    read_class_map,
)
from pags.errors import DataError
from workflow_helpers import present

# A devkit-style class map with a known permutation: archive label k (1..1000) is the
# wnid n<7k mod 1000>, whose rank among the sorted fake wnids is 7k mod 1000 (7 and
# 1000 are coprime, so this is a permutation).
DEVKIT_WNIDS = [f"n{7 * k % 1000:08d}" for k in range(1, 1001)]


def sorted_rank(label):
    """torchvision's class index of archive label ``label`` (1..1000) under ``DEVKIT_WNIDS``."""
    return 7 * label % 1000


def write_class_map(folder, wnids=DEVKIT_WNIDS, labels=None, order=None):
    """``map_clsloc.txt`` as the devkit writes it: '<wnid> <label> <name>', label k on line k
    unless ``order`` (indices into the lines) says otherwise."""
    labels = list(range(1, len(wnids) + 1)) if labels is None else labels
    lines = [f"{w} {k} class_{k}" for w, k in zip(wnids, labels)]
    lines = lines if order is None else [lines[i] for i in order]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CLASS_MAP).write_text("\n".join(lines) + "\n")


def planar_rows(first: int, n: int) -> np.ndarray:
    """Rows laid out as the release does (all R, then G, then B; each 64x64 row-major) for
    images whose pixel (c, r, q) of image i is ``(i + 50 c + 3 r + 5 q) % 256``."""
    i = np.arange(first, first + n).reshape(n, 1, 1, 1)
    c, r, q = np.arange(3).reshape(1, 3, 1, 1), np.arange(64).reshape(1, 1, 64, 1), np.arange(64).reshape(1, 1, 1, 64)
    chw = ((i + 50 * c + 3 * r + 5 * q) % 256).astype(np.uint8)
    return np.concatenate([chw[:, 0].reshape(n, -1), chw[:, 1].reshape(n, -1), chw[:, 2].reshape(n, -1)], axis=1)


def write_release(folder, train_sizes=(3, 2, 3, 1, 2, 3, 2, 1, 2, 3), val_size=4, save=np.savez):
    """All ten train batches (sizes as given) and the val batch, labels 1..1000 as published,
    with the class map ``DEVKIT_WNIDS`` beside them."""
    write_class_map(folder)
    start = 0
    for name, n in zip(TRAIN_FILES, train_sizes):
        labels = [(start + k) * 97 % 1000 + 1 for k in range(n)]
        save(folder / name, data=planar_rows(start, n), labels=labels, mean=np.zeros(12288))
        start += n
    save(folder / TEST_FILES[0], data=planar_rows(1000, val_size), labels=[1, 1000, 5, 17][:val_size])
    return start


def expected_pixel(i, c, r, q):
    return (i + 50 * c + 3 * r + 5 * q) % 256


def test_imagenet64_is_registered():
    assert BASE_DATASETS["imagenet64"].load is load_imagenet64


@pytest.mark.parametrize("where", ["imagenet64", "."])
def test_archives_give_channel_planar_pixels_and_torchvision_order_labels(tmp_path, where):
    n = write_release(tmp_path / where)
    train = load_imagenet64("train", str(tmp_path), False)
    assert train.x.dtype == torch.uint8 and train.x.shape == (n, 3, 64, 64)
    assert train.y.dtype == torch.int64
    assert train.y.tolist() == [sorted_rank(k * 97 % 1000 + 1) for k in range(n)]
    x = train.x.numpy()
    i, c, r, q = np.meshgrid(np.arange(n), np.arange(3), np.arange(64), np.arange(64), indexing="ij")
    assert np.array_equal(x, expected_pixel(i, c, r, q).astype(np.uint8))
    assert x[7, 2, 5, 9] == (7 + 100 + 15 + 45) % 256  # one pixel spelled out: image 7, blue, row 5, column 9
    test = load_imagenet64("test", str(tmp_path), False)
    assert test.y.tolist() == [7, 0, 35, 119] and test.x[1, 0, 0, 1].item() == 1001 % 256 + 5  # labels 1, 1000, 5, 17


def test_class_map_relabels_devkit_label_k_to_the_sorted_rank_of_its_wnid(tmp_path):
    rng = np.random.default_rng(0)
    # 1000 distinct 8-digit wnids in random order: line k - 1 names label k's wnid
    wnids = [f"n{i:08d}" for i in rng.choice(10**8, size=1000, replace=False)]
    write_class_map(tmp_path, wnids, order=rng.permutation(1000))  # lines in any order
    relabel = read_class_map(tmp_path / CLASS_MAP)
    ranks = {w: i for i, w in enumerate(sorted(wnids))}
    assert relabel.dtype == np.int64 and relabel.tolist() == [ranks[w] for w in wnids]
    assert sorted(relabel.tolist()) == list(range(1000))


def test_archive_labels_follow_the_class_map(tmp_path):
    # The devkit's first lines: label 1 is n02119789 (kit fox), label 2 n02100735, label 3
    # n02110185; with 997 later wnids these rank 2, 0, 1 among the sorted wnids.
    wnids = ["n02119789", "n02100735", "n02110185", *(f"n0300{i:04d}" for i in range(997))]
    write_class_map(tmp_path, wnids)
    np.savez(tmp_path / "val_data.npz", data=planar_rows(0, 4), labels=[1, 2, 3, 1000])
    assert load_imagenet64("test", str(tmp_path), False).y.tolist() == [2, 0, 1, 999]


def test_missing_class_map_raises_one_data_error(tmp_path):
    write_release(tmp_path / "imagenet64")
    (tmp_path / "imagenet64" / CLASS_MAP).unlink()
    with pytest.raises(DataError, match=r"data\.root.*map_clsloc\.txt.*devkit") as error:
        load_imagenet64("test", str(tmp_path), False)
    assert str(tmp_path / "imagenet64") in str(error.value)
    assert not present("imagenet64", str(tmp_path), ("test",)) and not present("imagenet64", str(tmp_path))
    message = absent_message(tmp_path, "train")
    assert "data.root" in message and CLASS_MAP in message and "devkit" in message
    assert CLASS_MAP in LAYOUT


def test_class_map_in_another_folder_than_the_archives_does_not_count(tmp_path):
    write_release(tmp_path / "imagenet64")
    (tmp_path / "imagenet64" / CLASS_MAP).rename(tmp_path / CLASS_MAP)
    assert not present("imagenet64", str(tmp_path), ("test",))
    with pytest.raises(DataError, match="lack the class map"):
        load_imagenet64("test", str(tmp_path), False)


def bad_map(folder, case):
    wnids = list(DEVKIT_WNIDS)
    if case == "999 lines":
        write_class_map(folder, wnids[:999])
    elif case == "repeated wnid":
        write_class_map(folder, [wnids[0], *wnids[:999]])
    elif case == "repeated label":
        write_class_map(folder, wnids, labels=[1, *range(1, 1000)])
    elif case == "label 0":
        write_class_map(folder, wnids, labels=list(range(1000)))
    elif case == "not a wnid":
        write_class_map(folder, ["kit_fox", *wnids[1:]])
    elif case == "no label":
        (folder / CLASS_MAP).write_text("\n".join(wnids) + "\n")


@pytest.mark.parametrize("case", ["999 lines", "repeated wnid", "repeated label", "label 0", "not a wnid", "no label"])
def test_malformed_class_map_raises_one_data_error(tmp_path, case):
    np.savez(tmp_path / "val_data.npz", data=planar_rows(0, 2), labels=[1, 2])
    bad_map(tmp_path, case)
    with pytest.raises(DataError, match=r"map_clsloc\.txt' is malformed.*data\.root"):
        load_imagenet64("test", str(tmp_path), False)


def test_compressed_archives_give_the_same_split(tmp_path):
    write_release(tmp_path / "plain")
    write_release(tmp_path / "compressed", save=np.savez_compressed)
    plain, compressed = (load_imagenet64("train", str(tmp_path / name), False) for name in ("plain", "compressed"))
    assert torch.equal(plain.x, compressed.x) and torch.equal(plain.y, compressed.y)


def test_column_major_archive_gives_the_same_images(tmp_path):
    write_class_map(tmp_path)
    np.savez(tmp_path / "val_data.npz", data=np.asfortranarray(planar_rows(0, 3)), labels=[1, 2, 3])
    x = load_imagenet64("test", str(tmp_path), False).x.numpy()
    i, c, r, q = np.meshgrid(np.arange(3), np.arange(3), np.arange(64), np.arange(64), indexing="ij")
    assert np.array_equal(x, expected_pixel(i, c, r, q).astype(np.uint8))


def test_large_split_is_assembled_in_a_scratch_file_that_disappears(tmp_path):
    write_release(tmp_path / "data")
    scratch = tmp_path / "scratch"
    in_ram = load_imagenet64("train", str(tmp_path / "data"), False)
    mapped = load_imagenet64("train", str(tmp_path / "data"), False, scratch_dir=scratch, memmap_bytes=0)
    assert torch.equal(mapped.x, in_ram.x) and torch.equal(mapped.y, in_ram.y)
    assert os.listdir(scratch) == []  # unlinked as soon as it was mapped


def test_save_base_writes_a_memory_mappable_split(tmp_path):
    write_release(tmp_path / "data" / "imagenet64")
    out = tmp_path / "results" / "imagenet64" / "data" / "train.pt"
    save_base("imagenet64", "train", str(tmp_path / "data"), False, out)
    assert sorted(os.listdir(out.parent)) == ["train.pt"]
    mapped, read = load_split(out, mmap=True), load_split(out)
    assert torch.equal(mapped.x, read.x) and torch.equal(mapped.y, read.y)
    assert torch.equal(read.x, load_imagenet64("train", str(tmp_path / "data"), False).x)


def test_a_split_backed_by_a_memmap_saves_and_maps(tmp_path):
    write_release(tmp_path / "data")
    split = load_imagenet64("train", str(tmp_path / "data"), False, scratch_dir=tmp_path, memmap_bytes=0)
    save_split(split, tmp_path / "train.pt")
    loaded = torch.load(tmp_path / "train.pt", mmap=True, weights_only=True)
    assert torch.equal(loaded["x"], split.x)


def test_missing_batch_names_data_root_and_the_file(tmp_path):
    write_release(tmp_path / "imagenet64")
    (tmp_path / "imagenet64" / "train_data_batch_7.npz").unlink()
    with pytest.raises(DataError, match=r"data\.root.*train_data_batch_7\.npz"):
        load_imagenet64("train", str(tmp_path), True)
    assert len(load_imagenet64("test", str(tmp_path), False)) == 4  # the other split is complete
    assert not present("imagenet64", str(tmp_path)) and present("imagenet64", str(tmp_path), ("test",))


def bad_val(path, case):
    good = planar_rows(0, 2)
    arrays = {
        "short rows": {"data": good[:, :-1], "labels": [1, 2]},
        "float data": {"data": good.astype(np.float32), "labels": [1, 2]},
        "image-shaped data": {"data": good.reshape(2, 3, 64, 64), "labels": [1, 2]},
        "zero label": {"data": good, "labels": [0, 2]},
        "label 1001": {"data": good, "labels": [1, 1001]},
        "label count": {"data": good, "labels": [1, 2, 3]},
        "no labels": {"data": good},
    }[case]
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    "case", ["short rows", "float data", "image-shaped data", "zero label", "label 1001", "label count", "no labels"]
)
def test_malformed_archive_raises_one_data_error(tmp_path, case):
    write_class_map(tmp_path)
    bad_val(tmp_path / "val_data.npz", case)
    with pytest.raises(DataError, match=r"val_data\.npz' is malformed.*data\.root"):
        load_imagenet64("test", str(tmp_path), False)


def test_unreadable_archive_raises_data_error(tmp_path):
    write_class_map(tmp_path)
    (tmp_path / "val_data.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="could not be read"):
        load_imagenet64("test", str(tmp_path), False)


def test_absent_data_cannot_be_downloaded_and_names_root_and_files(tmp_path):
    with pytest.raises(DataError) as error:
        load_imagenet64("train", str(tmp_path), True)
    message = str(error.value)
    assert "data.root" in message and "train_data_batch_10.npz" in message and "login" in message
    assert not present("imagenet64", str(tmp_path))


def write_png(path, pixels_hwc):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels_hwc).save(path)


def every_class(folder, names, filler):
    """A link to the PNG ``filler`` in each class folder of ``names`` that has no image yet."""
    for name in names:
        if not (folder / name).is_dir():
            (folder / name).mkdir(parents=True)
            (folder / name / "filler.png").symlink_to(filler)


@pytest.mark.parametrize("folder", ["val", "test"])
def test_image_folder_named_by_label(tmp_path, folder):
    rng = np.random.default_rng(0)
    images = {
        (label, name): rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for label in (3, 999, 12) for name in "ba"
    }
    for (label, name), pixels in images.items():
        write_png(tmp_path / "imagenet64" / folder / str(label) / f"{name}.png", pixels)
    filler = tmp_path / "filler.png"
    write_png(filler, np.zeros((64, 64, 3), np.uint8))
    every_class(tmp_path / "imagenet64" / folder, map(str, range(1000)), filler)
    assert present("imagenet64", str(tmp_path), ("test",)) and not present("imagenet64", str(tmp_path))
    split = load_imagenet64("test", str(tmp_path), False)
    order = sorted(images)  # label order, then file name
    mine = [k for k, label in enumerate(split.y.tolist()) if label in (3, 12, 999)]
    assert [split.y[k] for k in mine] == [label for label, _ in order]
    for k, key in zip(mine, order):
        assert np.array_equal(split.x[k].numpy(), images[key].transpose(2, 0, 1))


def test_image_folder_named_by_wnid_uses_sorted_wnids(tmp_path):
    folder = tmp_path / "imagenet64" / "train"
    for wnid in ("n09999999", "n01440764", "n02119789"):
        write_png(folder / wnid / "x.png", np.full((64, 64, 3), int(wnid[-2:]), np.uint8))
    write_png(tmp_path / "filler.png", np.zeros((64, 64, 3), np.uint8))
    every_class(folder, [f"n0{k:07d}" for k in range(1, 998)], tmp_path / "filler.png")
    split = load_imagenet64("train", str(tmp_path), False, memmap_bytes=0, scratch_dir=tmp_path / "scratch")
    wnids = sorted(p.name for p in folder.iterdir())
    for wnid, value in (("n01440764", 64), ("n02119789", 89), ("n09999999", 99)):
        assert split.x[split.y == wnids.index(wnid), 0, 0, 0].tolist() == [value]


def test_image_folder_missing_a_class_is_refused(tmp_path):
    """By WordNet id, 999 folders would give every later class the label of the next."""
    folder = tmp_path / "imagenet64" / "val"
    write_png(tmp_path / "filler.png", np.zeros((64, 64, 3), np.uint8))
    every_class(folder, [f"n0{k:07d}" for k in range(999)], tmp_path / "filler.png")
    assert not present("imagenet64", str(tmp_path), ("test",))
    with pytest.raises(DataError, match="999 of the 1000 class folders"):
        load_imagenet64("test", str(tmp_path), False)
    shutil.rmtree(folder)
    every_class(folder, [str(k) for k in range(1000) if k != 17], tmp_path / "filler.png")
    with pytest.raises(DataError, match="999 of the 1000 class folders: labels 17"):
        load_imagenet64("test", str(tmp_path), False)


@pytest.mark.parametrize("names", [("n01440764", "12"), ("cat",), ("1000",)])
def test_image_folder_rejects_mixed_or_unknown_class_names(tmp_path, names):
    for name in names:
        write_png(tmp_path / "imagenet64" / "train" / name / "x.png", np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(DataError, match="class folder"):
        load_imagenet64("train", str(tmp_path), False)


def test_image_folder_rejects_wrong_size(tmp_path):
    write_png(tmp_path / "imagenet64" / "train" / "0" / "x.png", np.zeros((32, 64, 3), np.uint8))
    write_png(tmp_path / "filler.png", np.zeros((64, 64, 3), np.uint8))
    every_class(tmp_path / "imagenet64" / "train", map(str, range(1000)), tmp_path / "filler.png")
    with pytest.raises(DataError, match="not 64 x 64"):
        load_imagenet64("train", str(tmp_path), False)
