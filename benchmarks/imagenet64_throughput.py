"""Benchmark: training throughput of the ImageNet-64 ResNet18 against the paper's CIFAR one.

Times SGD steps of the standard objective (uint8 batch gathered by index, scaled to
[0, 1], crop-and-flip augmentation, forward, backward, step), as ``train_loop`` does them:
  (a) ``resnet18_imagenet`` (torchvision's ResNet18: 7x7 stride-2 stem, max-pool) on
      3x64x64 images, 1000 classes;
  (b) ``resnet18`` (3x3 stride-1 stem, no max-pool: the CIFAR model) on 3x32x32, 10 classes;
both at the same batch size, in one process, steps interleaved, after one warm-up step
each. Prints images/s (wall and process-CPU time, best over steps) and the ratio a/b.

    python benchmarks/imagenet64_throughput.py [--batch-size 128] [--steps 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from pags.augment import random_crop_flip  # noqa: E402
from pags.batches import BatchFeed  # noqa: E402
from pags.datasets import to_float  # noqa: E402
from pags.models import build_model  # noqa: E402
from pags.objectives import make_objective  # noqa: E402
from pags.optim import descend  # noqa: E402


class Runner:
    def __init__(self, arch: str, side: int, classes: int, batch_size: int, padding: int, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        n = 4 * batch_size
        x = torch.randint(0, 256, (n, 3, side, side), generator=g, dtype=torch.uint8)
        y = torch.randint(0, classes, (n,), generator=g)
        torch.manual_seed(seed)
        self.model = build_model(arch, 3, classes).train()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
        self.objective = make_objective("standard", 0, {})
        self.feed = BatchFeed(x, y, torch.device("cpu"))
        self.generator, self.n, self.batch_size, self.padding = g, n, batch_size, padding
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def step(self, record: bool = True) -> None:
        order = torch.randperm(self.n, generator=self.generator)[: self.batch_size]
        wall, cpu = time.perf_counter(), time.process_time()
        for images, labels in self.feed.batches(order, self.batch_size):
            x = random_crop_flip(to_float(images), self.generator, padding=self.padding)
            descend(self.optimizer, self.objective(self.model, x, labels, self.generator))
        if record:
            self.wall.append(time.perf_counter() - wall)
            self.cpu.append(time.process_time() - cpu)

    def rates(self) -> tuple[float, float]:
        return self.batch_size / min(self.wall), self.batch_size / min(self.cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    imagenet = Runner("resnet18_imagenet", 64, 1000, args.batch_size, padding=8)
    cifar = Runner("resnet18", 32, 10, args.batch_size, padding=4)
    imagenet.step(record=False)
    cifar.step(record=False)
    for _ in range(args.steps):
        imagenet.step()
        cifar.step()

    print(f"batch {args.batch_size}, {args.steps} steps each, {args.threads} threads, best step")
    (iw, ic), (cw, cc) = imagenet.rates(), cifar.rates()
    print(f"  resnet18_imagenet 3x64x64: {iw:8.1f} images/s wall  {ic:8.1f} images/s CPU")
    print(f"  resnet18 (CIFAR) 3x32x32:  {cw:8.1f} images/s wall  {cc:8.1f} images/s CPU")
    print(f"  ratio imagenet64 / cifar:  {iw / cw:8.2f} (wall)       {ic / cc:8.2f} (CPU)")


if __name__ == "__main__":
    main()
