"""CIFAR-10 loader: the .npz and image-folder layouts, the errors, and the shared test set."""

import numpy as np
import pytest
import torch
from pags.datasets import BASE_DATASETS, load_base
from pags.datasets.cifar10 import CLASSES, TORCHVISION_FILES, load_cifar10
from pags.errors import DataError
from workflow_helpers import SHARED_DATA, present

SHARED_CIFAR10 = SHARED_DATA / "CIFAR10"


def random_hwc(n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, size=n).astype(np.int64)
    return x, y


def assert_matches_hwc(split, x, y):
    assert split.x.dtype == torch.uint8 and split.x.shape == (len(x), 3, 32, 32)
    assert split.y.dtype == torch.int64 and split.y.tolist() == y.tolist()
    chw = split.x.numpy()
    for i in range(len(x)):
        for c in range(3):
            assert np.array_equal(chw[i, c], x[i, :, :, c]), (i, c)
    # and one pixel spelled out, so a transposed H and W cannot pass
    assert chw[0, 2, 5, 7] == x[0, 5, 7, 2]


def test_cifar10_is_registered():
    assert BASE_DATASETS["cifar10"].load is load_cifar10


@pytest.mark.parametrize("relative", ["cifar10/{split}.npz", "cifar10_{split}.npz"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_npz_round_trip_converts_hwc_to_chw(tmp_path, relative, split):
    x, y = random_hwc()
    path = tmp_path / relative.format(split=split)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, y=y)
    loaded = load_base("cifar10", split, str(tmp_path), False)
    assert_matches_hwc(loaded, x, y)


def test_npz_in_cifar10_folder_is_preferred(tmp_path):
    x, y = random_hwc(n=4, seed=1)
    (tmp_path / "cifar10").mkdir()
    np.savez(tmp_path / "cifar10" / "test.npz", x=x, y=y)
    np.savez(tmp_path / "cifar10_test.npz", x=x[:2], y=y[:2])
    assert len(load_cifar10("test", str(tmp_path), False)) == 4


def test_npz_accepts_other_integer_label_dtypes(tmp_path):
    x, y = random_hwc(n=3)
    np.savez(tmp_path / "cifar10_test.npz", x=x, y=y.astype(np.uint8))
    loaded = load_cifar10("test", str(tmp_path), False)
    assert loaded.y.dtype == torch.int64 and loaded.y.tolist() == y.tolist()


def write_image_folder(root, split, x, y):
    from PIL import Image

    for i, (pixels, label) in enumerate(zip(x, y)):
        folder = root / "cifar10" / split / CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{i:04d}.png")


def test_image_folder_round_trip_labels_from_class_folders(tmp_path):
    x, y = random_hwc(n=15, seed=2)
    y = np.array([3, 0, 9, 3, 1, 0, 9, 5, 3, 1, 2, 4, 6, 7, 8], dtype=np.int64)  # every class, some twice
    write_image_folder(tmp_path, "train", x, y)
    loaded = load_cifar10("train", str(tmp_path), False)
    # class order, then sorted file names within a class (file names follow the original index)
    order = sorted(range(len(y)), key=lambda i: (y[i], i))
    assert_matches_hwc(loaded, x[order], y[order])
    again = load_cifar10("train", str(tmp_path), False)
    assert torch.equal(again.x, loaded.x) and torch.equal(again.y, loaded.y)


def test_image_folder_rejects_unknown_class_folder(tmp_path):
    x, y = random_hwc(n=2)
    write_image_folder(tmp_path, "test", x, y)
    (tmp_path / "cifar10" / "test" / "aeroplane").mkdir()
    with pytest.raises(DataError, match="aeroplane"):
        load_cifar10("test", str(tmp_path), False)


def test_image_folder_rejects_wrong_image_size(tmp_path):
    from PIL import Image

    x, y = random_hwc(n=10)
    write_image_folder(tmp_path, "test", x, np.arange(10))
    Image.new("RGB", (28, 28)).save(tmp_path / "cifar10" / "test" / "cat" / "small.png")
    with pytest.raises(DataError, match="not 32 x 32"):
        load_cifar10("test", str(tmp_path), False)


def test_image_folder_missing_a_class_is_refused(tmp_path):
    """Labels come from the class names, so none shifts; but a class without images is a
    partial data set, refused by the pre-flight check as by the loader."""
    x, _ = random_hwc(n=9)
    write_image_folder(tmp_path, "test", x, np.array([c for c in range(10) if c != 3]))
    assert not present("cifar10", str(tmp_path), ("test",))
    with pytest.raises(DataError, match="no .png images of cat: a partial data set"):
        load_cifar10("test", str(tmp_path), False)


def malformed_archives():
    x, y = random_hwc(n=4)
    return {
        "missing y": {"x": x},
        "float images": {"x": x.astype(np.float32), "y": y},
        "CHW images": {"x": x.transpose(0, 3, 1, 2), "y": y},
        "label count": {"x": x, "y": y[:3]},
        "float labels": {"x": x, "y": y.astype(np.float32)},
        "label range": {"x": x, "y": y + 10},
    }


@pytest.mark.parametrize("case", list(malformed_archives()))
def test_malformed_npz_raises_data_error(tmp_path, case):
    path = tmp_path / "cifar10_test.npz"
    np.savez(path, **malformed_archives()[case])
    with pytest.raises(DataError, match="malformed") as info:
        load_cifar10("test", str(tmp_path), False)
    assert str(path) in str(info.value)


def test_unreadable_npz_raises_data_error(tmp_path):
    (tmp_path / "cifar10_test.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(DataError, match="malformed"):
        load_cifar10("test", str(tmp_path), False)


def test_absent_data_without_download_names_data_root_and_layouts(tmp_path):
    with pytest.raises(DataError) as info:
        load_cifar10("test", str(tmp_path), False)
    message = str(info.value)
    assert "data.root" in message and str(tmp_path) in message
    assert "data.download: true" in message
    for layout in ("cifar-10-batches-py", "cifar10/test.npz", "cifar10_test.npz", "<class_name>/*.png"):
        assert layout in message


def test_corrupt_torchvision_layout_raises_data_error(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in TORCHVISION_FILES:
        (folder / name).write_bytes(b"junk")
    assert present("cifar10", str(tmp_path))  # names only: the checksums are torchvision's job
    with pytest.raises(DataError, match="torchvision's layout"):
        load_cifar10("test", str(tmp_path), False)


def test_failed_download_says_why(tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(CIFAR10, "url", "http://127.0.0.1:9/cifar-10-python.tar.gz")  # nothing listens there
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(
        DataError,
        match=r"could not be downloaded: cannot download http://127.0.0.1:9/\S+: .*refused.*snakemake prefetch",
    ):
        load_cifar10("train", str(tmp_path), True)
    assert list(tmp_path.iterdir()) == []


def test_cifar10_presence_check(tmp_path):
    assert not present("cifar10", str(tmp_path / "nowhere"))
    assert not present("cifar10", str(tmp_path))
    x, y = random_hwc(n=2)
    np.savez(tmp_path / "cifar10_test.npz", x=x, y=y)
    assert present("cifar10", str(tmp_path), ("test",))
    assert not present("cifar10", str(tmp_path))  # no train split yet
    write_image_folder(tmp_path, "train", *random_hwc(n=10)[:1], np.arange(10))
    assert present("cifar10", str(tmp_path))
    # an incomplete torchvision folder does not count
    (tmp_path / "other" / "cifar-10-batches-py").mkdir(parents=True)
    (tmp_path / "other" / "cifar-10-batches-py" / "test_batch").write_bytes(b"")
    assert not present("cifar10", str(tmp_path / "other"))


@pytest.mark.skipif(
    not (SHARED_CIFAR10 / "cifar10_test.npz").exists(),
    reason=f"needs the real CIFAR-10 test set at {SHARED_CIFAR10}/cifar10_test.npz (../shared/data)",
)
def test_shared_cifar10_test_set_through_the_loader(tmp_path):
    (tmp_path / "cifar10_test.npz").symlink_to((SHARED_CIFAR10 / "cifar10_test.npz").resolve())
    assert present("cifar10", str(tmp_path), ("test",))
    split = load_base("cifar10", "test", str(tmp_path), False)
    assert split.x.shape == (10_000, 3, 32, 32) and split.x.dtype == torch.uint8
    assert split.num_classes == 10 and torch.bincount(split.y).tolist() == [1000] * 10
    assert split.y[:5].tolist() == [3, 8, 8, 0, 6]  # cat, ship, ship, airplane, frog: the official order
    # The test set's channel means are about [126.0, 123.7, 114.9] (0.4942, 0.4851, 0.4504 of 255);
    # the often-quoted [125.3, 123.0, 113.9] (0.4914, 0.4822, 0.4465) are the training set's.
    # R > G > B in this order also shows the channels were not reversed in the HWC -> CHW step.
    means = split.x.double().mean(dim=(0, 2, 3))
    assert torch.allclose(means, torch.tensor([126.02, 123.71, 114.85], dtype=torch.float64), atol=0.1), means
