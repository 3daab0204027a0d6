"""Training on memory-mapped splits, the batch feed, progress logging and the ImageNet ResNet18."""

import logging
import threading

import pytest
import torch
from pags.batches import BatchFeed
from pags.checkpoint import Checkpoint
from pags.datasets import ImageSplit, load_split, save_split
from pags.evaluate import accuracy
from pags.models import ARCHITECTURES, build_model
from pags.objectives import make_objective
from pags.optim import minimise_with_adam
from pags.progress import Progress, duration
from pags.train import TrainSettings, train_loop

CPU = torch.device("cpu")
SETTINGS = TrainSettings(
    epochs=2,
    batch_size=16,
    lr=0.05,
    momentum=0.9,
    weight_decay=5e-4,
    milestones=(1,),
    gamma=0.1,
    augment="crop_flip",
    amp=False,
)


def fabricated_split(n=72, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randint(0, 120, (n, 3, 12, 12), generator=g) + 40 * y.view(n, 1, 1, 1)
    return ImageSplit(x.to(torch.uint8), y)


def train_once(data, checkpoint, feed_mode=None):
    torch.manual_seed(0)
    model = build_model("small_cnn", 3, 3, width=4)
    train_loop(
        model,
        make_objective("standard", 0, {}),
        data,
        SETTINGS,
        torch.Generator().manual_seed(1),
        Checkpoint(checkpoint, "code 0", "run"),
        CPU,
        feed_mode=feed_mode,
    )
    return model.state_dict()


def test_memory_mapped_split_trains_to_bit_identical_weights(tmp_path):
    save_split(fabricated_split(), tmp_path / "train.pt")
    in_memory = train_once(load_split(tmp_path / "train.pt"), tmp_path / "a.ckpt")
    mapped = load_split(tmp_path / "train.pt", mmap=True)
    from_map = train_once(mapped, tmp_path / "b.ckpt")
    streamed = train_once(mapped, tmp_path / "c.ckpt", feed_mode="stream")
    for key, value in in_memory.items():
        assert torch.equal(value, from_map[key]), key
        assert torch.equal(value, streamed[key]), key


def test_accuracy_on_a_memory_mapped_split_matches(tmp_path):
    data = fabricated_split(n=50)
    save_split(data, tmp_path / "test.pt")
    torch.manual_seed(0)
    model = build_model("small_cnn", 3, 3, width=4)
    mapped = load_split(tmp_path / "test.pt", mmap=True)
    assert accuracy(model, mapped, CPU, batch_size=7) == accuracy(model, data, CPU)


@pytest.mark.parametrize("mode", ["host", "stream", "device"])
def test_feed_yields_the_rows_of_the_order_in_every_mode(mode):
    data = fabricated_split(n=37)
    order = torch.randperm(37, generator=torch.Generator().manual_seed(5))
    feed = BatchFeed(data.x, data.y, CPU, mode=mode, prefetch=1)
    batches = list(feed.batches(order, 10))
    assert [len(y) for _, y in batches] == [10, 10, 10, 7]
    assert torch.equal(torch.cat([x for x, _ in batches]), data.x[order])
    assert torch.equal(torch.cat([y for _, y in batches]), data.y[order])


def test_feed_picks_host_on_the_cpu_and_rejects_unknown_modes():
    data = fabricated_split(n=4)
    assert BatchFeed(data.x, data.y, CPU).mode == "host"
    with pytest.raises(ValueError, match="mode"):
        BatchFeed(data.x, data.y, CPU, mode="disk")


def test_streamed_feed_stops_its_thread_when_left_early():
    data = fabricated_split(n=40)
    feed = BatchFeed(data.x, data.y, CPU, mode="stream", prefetch=1)
    batches = feed.batches(torch.arange(40), 4)
    next(batches)
    batches.close()  # what a divergence error mid-epoch does to the generator
    assert not any(t.name == "pags-batches" for t in threading.enumerate())


def test_streamed_feed_raises_the_workers_error():
    data = fabricated_split(n=8)
    feed = BatchFeed(data.x, data.y, CPU, mode="stream")
    with pytest.raises(IndexError):
        list(feed.batches(torch.tensor([0, 1, 99, 2]), 2))


def test_progress_logs_done_rate_and_time_left(caplog, monkeypatch):
    clock = iter([0.0, 30.0, 61.0, 90.0, 125.0])  # start, then after each batch of 100
    monkeypatch.setattr("pags.progress.time.perf_counter", lambda: next(clock))
    progress = Progress("epoch 1/90", 1000, every=60)
    with caplog.at_level(logging.INFO, logger="pags"):
        for _ in range(4):
            progress.update(100)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [  # at 61 s (200 / 61 s; 800 left at that rate), then 60 s later at 125 s, not at 90 s
        "epoch 1/90: 200/1000 images, 3 images/s, 4m04s left",
        "epoch 1/90: 400/1000 images, 3 images/s, 3m08s left",
    ]
    assert duration(3725) == "1h02m" and duration(float("inf")) == "?"


def test_minimise_with_adam_and_train_loop_log_long_epochs(tmp_path, caplog):
    data = fabricated_split(n=32)
    with caplog.at_level(logging.INFO, logger="pags"):
        train_once(data, tmp_path / "ckpt")  # default: every 60 s, so nothing for a short epoch
        assert not any("images/s" in r.getMessage() for r in caplog.records)
        torch.manual_seed(0)
        model = build_model("small_cnn", 3, 3, width=4)
        train_loop(
            model,
            make_objective("standard", 0, {}),
            data,
            SETTINGS,
            torch.Generator(),
            None,
            CPU,
            progress_seconds=1e-9,
        )
        net = torch.nn.Linear(2, 1)
        points = torch.randn(20, 2)
        minimise_with_adam(
            net,
            20,
            lambda idx: net(points[idx]).pow(2).mean(),
            1,
            5,
            1e-3,
            torch.Generator(),
            "toy",
            "fix",
            progress_seconds=1e-9,
        )
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("epoch 1/2: 16/32 images") for m in messages)
    assert any(m.startswith("toy epoch 1/1: 5/20 items") for m in messages)


def test_resnet18_imagenet_is_torchvisions_resnet18_on_64px_inputs():
    model = build_model("resnet18_imagenet", 3, 1000).eval()
    assert model.conv1.kernel_size == (7, 7) and model.conv1.stride == (2, 2)
    assert isinstance(model.maxpool, torch.nn.MaxPool2d)
    with torch.no_grad():
        assert model(torch.rand(2, 3, 64, 64)).shape == (2, 1000)
    assert ARCHITECTURES["resnet18"](3, 10).conv1.kernel_size == (3, 3)  # the CIFAR one is unchanged
