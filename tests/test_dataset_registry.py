"""Data sets as one module each (``pags.datasets``): the registry against the schema and
the facts the workflow uses, the spec's checks, and Fashion-MNIST, added in one module,
read from fabricated files in torchvision's layout."""

from __future__ import annotations

import gzip
import struct

import pytest
import torch
from pags.cost import split_sizes
from pags.datasets import BASE_DATASETS, DATASETS, data_shape, load_base
from pags.datasets.idx import RAW_FILES
from pags.datasets.spec import DatasetSpec
from pags.errors import ConfigError, DataError
from pags.preflight import check_raw_data
from pags.schema import config_schema


def test_the_schema_names_exactly_the_registered_data_sets():
    schema = config_schema()
    assert list(schema["properties"]["sweep"]["properties"]) == [*BASE_DATASETS, "synthetic"]
    takes_letter = [name for name, spec in BASE_DATASETS.items() if spec.shape == (1, 28, 28)]
    assert schema["properties"]["distractor"]["properties"]["dataset"]["enum"] == takes_letter
    assert {"mnist", "digits", "fashion_mnist"} <= set(takes_letter) and "cifar10" not in takes_letter


def test_every_data_set_has_its_facts_in_its_spec():
    for name, spec in DATASETS.items():
        assert spec.name == name
        assert data_shape({}, name) == (spec.shape, spec.num_classes)
    assert data_shape({}, "mnist_distractor") == ((1, 56, 28), 10)  # the letter below the digit
    assert split_sizes({}, "cifar10", {"subset": {"train": 500, "test": None}}) == (500, 10_000)
    # ImageNet's validation set is evaluated on, never trained on: no loader, no base data set
    assert "imagenet" in DATASETS and "imagenet" not in BASE_DATASETS


def spec_parts(**changes):
    parts = dict(name="toy", shape=(1, 8, 8), num_classes=2, train_size=4, test_size=2, load=lambda *a: None)
    return {**parts, **changes}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"name": "Toy"}, "lower-case"),
        ({"name": "toy_distractor"}, "lower-case"),
        ({"shape": (8, 8)}, r"\[C, H, W\]"),
        ({"num_classes": 1}, "2 classes"),
        ({"train_size": None}, "train_size"),
        ({"fetch": lambda root: None}, "presence check"),
        ({"check": lambda root, split, download: None}, "lists them"),
    ],
)
def test_a_malformed_spec_is_an_error(changes, message):
    with pytest.raises(ValueError, match=message):
        DatasetSpec(**spec_parts(**changes))


def write_idx(raw, split, images: torch.Tensor, labels: torch.Tensor, gzipped: bool):
    """IDX files (MNIST's format: big-endian magic and sizes, then uint8 data) of a split."""
    image_file, label_file = RAW_FILES[split]
    n, h, w = images.shape
    contents = {
        image_file: struct.pack(">iiii", 0x803, n, h, w) + images.numpy().tobytes(),
        label_file: struct.pack(">ii", 0x801, n) + labels.to(torch.uint8).numpy().tobytes(),
    }
    raw.mkdir(parents=True, exist_ok=True)
    for name, body in contents.items():
        if gzipped:
            (raw / f"{name}.gz").write_bytes(gzip.compress(body))
        else:
            (raw / name).write_bytes(body)


@pytest.mark.parametrize("gzipped", [False, True])
def test_fashion_mnist_loads_fabricated_files_in_torchvisions_layout(tmp_path, gzipped):
    generator = torch.Generator().manual_seed(0)
    raw = tmp_path / "FashionMNIST" / "raw"
    splits = {}
    for split, n in (("train", 6), ("test", 4)):
        images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=generator)
        labels = torch.arange(n) % 10
        write_idx(raw, split, images, labels, gzipped)
        splits[split] = images, labels
    for split, (images, labels) in splits.items():
        loaded = load_base("fashion_mnist", split, str(tmp_path), download=False)
        assert loaded.x.dtype == torch.uint8 and loaded.x.shape == (len(images), 1, 28, 28)
        assert torch.equal(loaded.x[:, 0], images) and torch.equal(loaded.y, labels)
    assert not (tmp_path / "MNIST").exists()  # its own folder, not MNIST's


def test_absent_fashion_mnist_is_one_error_naming_data_root_before_any_job(tmp_path):
    with pytest.raises(DataError, match=r"Fashion-MNIST is not in data.root=.*FashionMNIST/raw.*data.download: true"):
        load_base("fashion_mnist", "test", str(tmp_path), download=False)
    with pytest.raises(ConfigError, match=r"config key 'data.root': Fashion-MNIST is not in data.root"):
        check_raw_data(str(tmp_path), [("fashion_mnist", "train")])
    check_raw_data(str(tmp_path), [("fashion_mnist", "train")], download=True)  # it downloads
