"""ImageNet-64: the published npz batches and the image folder, the errors, and the store's memory mapping."""

import os

import numpy as np
import pytest
import torch

from pags.datasets import load_split, loader, save_base, save_split
from pags.datasets.imagenet64 import TEST_FILES, TRAIN_FILES, imagenet64_present, load_imagenet64
from pags.errors import DataError


def planar_rows(first: int, n: int) -> np.ndarray:
    """Rows laid out as the release does (all R, then G, then B; each 64x64 row-major) for
    images whose pixel (c, r, q) of image i is ``(i + 50 c + 3 r + 5 q) % 256``."""
    i = np.arange(first, first + n).reshape(n, 1, 1, 1)
    c, r, q = np.arange(3).reshape(1, 3, 1, 1), np.arange(64).reshape(1, 1, 64, 1), np.arange(64).reshape(1, 1, 1, 64)
    chw = ((i + 50 * c + 3 * r + 5 * q) % 256).astype(np.uint8)
    return np.concatenate([chw[:, 0].reshape(n, -1), chw[:, 1].reshape(n, -1), chw[:, 2].reshape(n, -1)], axis=1)


def write_release(folder, train_sizes=(3, 2, 3, 1, 2, 3, 2, 1, 2, 3), val_size=4, save=np.savez):
    """All ten train batches (sizes as given) and the val batch, labels 1..1000 as published."""
    folder.mkdir(parents=True, exist_ok=True)
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
    assert loader("imagenet64") is load_imagenet64


@pytest.mark.parametrize("where", ["imagenet64", "."])
def test_archives_give_channel_planar_pixels_and_zero_based_labels(tmp_path, where):
    n = write_release(tmp_path / where)
    train = load_imagenet64("train", str(tmp_path), False)
    assert train.x.dtype == torch.uint8 and train.x.shape == (n, 3, 64, 64)
    assert train.y.dtype == torch.int64 and train.y.tolist() == [k * 97 % 1000 for k in range(n)]
    x = train.x.numpy()
    i, c, r, q = np.meshgrid(np.arange(n), np.arange(3), np.arange(64), np.arange(64), indexing="ij")
    assert np.array_equal(x, expected_pixel(i, c, r, q).astype(np.uint8))
    assert x[7, 2, 5, 9] == (7 + 100 + 15 + 45) % 256  # one pixel spelled out: image 7, blue, row 5, column 9
    test = load_imagenet64("test", str(tmp_path), False)
    assert test.y.tolist() == [0, 999, 4, 16] and test.x[1, 0, 0, 1].item() == 1001 % 256 + 5


def test_compressed_archives_give_the_same_split(tmp_path):
    write_release(tmp_path / "plain")
    write_release(tmp_path / "compressed", save=np.savez_compressed)
    plain, compressed = (load_imagenet64("train", str(tmp_path / name), False) for name in ("plain", "compressed"))
    assert torch.equal(plain.x, compressed.x) and torch.equal(plain.y, compressed.y)


def test_column_major_archive_gives_the_same_images(tmp_path):
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
    assert not imagenet64_present(str(tmp_path)) and imagenet64_present(str(tmp_path), ("test",))


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
    bad_val(tmp_path / "val_data.npz", case)
    with pytest.raises(DataError, match=r"val_data\.npz' is malformed.*data\.root"):
        load_imagenet64("test", str(tmp_path), False)


def test_unreadable_archive_raises_data_error(tmp_path):
    (tmp_path / "val_data.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="could not be read"):
        load_imagenet64("test", str(tmp_path), False)


def test_absent_data_cannot_be_downloaded_and_names_root_and_files(tmp_path):
    with pytest.raises(DataError) as error:
        load_imagenet64("train", str(tmp_path), True)
    message = str(error.value)
    assert "data.root" in message and "train_data_batch_10.npz" in message and "login" in message
    assert not imagenet64_present(str(tmp_path))


def write_png(path, pixels_hwc):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels_hwc).save(path)


@pytest.mark.parametrize("folder", ["val", "test"])
def test_image_folder_named_by_label(tmp_path, folder):
    rng = np.random.default_rng(0)
    images = {(label, name): rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for label in (3, 999, 12) for name in "ba"}
    for (label, name), pixels in images.items():
        write_png(tmp_path / "imagenet64" / folder / str(label) / f"{name}.png", pixels)
    assert imagenet64_present(str(tmp_path), ("test",)) and not imagenet64_present(str(tmp_path))
    split = load_imagenet64("test", str(tmp_path), False)
    order = sorted(images)  # label order, then file name
    assert split.y.tolist() == [label for label, _ in order]
    for k, key in enumerate(order):
        assert np.array_equal(split.x[k].numpy(), images[key].transpose(2, 0, 1))


def test_image_folder_named_by_wnid_uses_sorted_wnids(tmp_path):
    for wnid in ("n09999999", "n01440764", "n02119789"):
        write_png(tmp_path / "imagenet64" / "train" / wnid / "x.png", np.full((64, 64, 3), int(wnid[-2:]), np.uint8))
    split = load_imagenet64("train", str(tmp_path), False, memmap_bytes=0, scratch_dir=tmp_path / "scratch")
    assert split.y.tolist() == [0, 1, 2] and split.x[:, 0, 0, 0].tolist() == [64, 89, 99]


@pytest.mark.parametrize("names", [("n01440764", "12"), ("cat",), ("1000",)])
def test_image_folder_rejects_mixed_or_unknown_class_names(tmp_path, names):
    for name in names:
        write_png(tmp_path / "imagenet64" / "train" / name / "x.png", np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(DataError, match="class folder"):
        load_imagenet64("train", str(tmp_path), False)


def test_image_folder_rejects_wrong_size(tmp_path):
    write_png(tmp_path / "imagenet64" / "train" / "0" / "x.png", np.zeros((32, 64, 3), np.uint8))
    with pytest.raises(DataError, match="not 64 x 64"):
        load_imagenet64("train", str(tmp_path), False)
