"""Benchmark: peak host memory of an ImageNet-64-size split, memory-mapped vs read into memory.

Fabricates ``--images`` random images in the ImageNet-64 release's layout (ten
``train_data_batch_<i>.npz`` archives of channel-planar uint8 rows) in ``--folder``,
then, each in a fresh process, measures:
  assemble/ram   ``load_imagenet64`` filling an in-memory array + ``save_split``;
  assemble/map   the same through a memory-mapped scratch file (what splits over 1 GiB get);
  train/ram      ``load_split(path)`` + one epoch of ``train_loop`` (CPU, a small CNN);
  train/map      ``load_split(path, mmap=True)`` + the same epoch.
Memory is read from /proc/self/status every 5 ms: the peak of RssAnon (anonymous
memory: what a job must really own) and VmHWM (peak resident set, which also counts
file pages of the mapping, reclaimable page cache), minus the same after imports.
The two trainings must end with identical weights; the script checks that.

    python benchmarks/imagenet64_memory.py [--images 50000] [--folder /tmp/pags-imagenet64-bench]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))


def status_kb(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class PeakAnon:
    """Samples RssAnon in a thread; ``peak`` is the highest value seen (kB)."""

    def __init__(self):
        self.peak, self.running = status_kb("RssAnon"), True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            self.peak = max(self.peak, status_kb("RssAnon"))
            time.sleep(0.005)

    def stop(self) -> int:
        self.running = False
        self.thread.join()
        return max(self.peak, status_kb("RssAnon"))


def fabricate(folder: Path, images: int) -> None:
    from pags.datasets.imagenet64 import CLASS_MAP, ROW, TRAIN_FILES

    folder.mkdir(parents=True, exist_ok=True)
    (folder / CLASS_MAP).write_text("".join(f"n{k:08d} {k} class_{k}\n" for k in range(1, 1001)))
    rng = np.random.default_rng(0)
    sizes = np.full(10, images // 10)
    sizes[-1] += images - sizes.sum()
    for name, n in zip(TRAIN_FILES, sizes):
        np.savez(folder / name, data=rng.integers(0, 256, (n, ROW), dtype=np.uint8), labels=rng.integers(1, 1001, n))


def measure(phase: str, folder: Path) -> dict:
    import torch
    from pags.checkpoint import Checkpoint
    from pags.datasets import load_split, save_split
    from pags.datasets.imagenet64 import load_imagenet64
    from pags.models import build_model
    from pags.objectives import make_objective
    from pags.train import TrainSettings, train_loop

    torch.set_num_threads(2)
    base_anon, base_hwm = status_kb("RssAnon"), status_kb("VmHWM")
    sampler = PeakAnon()
    started = time.perf_counter()
    store = folder / "train.pt"
    result: dict = {}
    if phase.startswith("assemble"):
        mapped = phase == "assemble/map"
        split = load_imagenet64("train", str(folder), False, scratch_dir=folder, memmap_bytes=0 if mapped else 1 << 40)
        save_split(split, store)
    else:
        split = load_split(store, mmap=phase == "train/map")
        settings = TrainSettings(
            epochs=1,
            batch_size=256,
            lr=0.01,
            momentum=0.9,
            weight_decay=1e-4,
            milestones=(),
            gamma=0.1,
            augment="crop_flip",
            amp=False,
        )
        torch.manual_seed(0)
        model = build_model("small_cnn", 3, 1000, width=4)
        history, _ = train_loop(
            model,
            make_objective("standard", 0, {}),
            split,
            settings,
            torch.Generator().manual_seed(0),
            Checkpoint(folder / f"{phase.replace('/', '-')}.ckpt", "bench", "bench"),
            torch.device("cpu"),
            progress_seconds=None,
        )
        result["loss"] = history[-1]["loss"]
        result["weights"] = float(sum(p.double().sum() for p in model.state_dict().values()))
    peak_anon = sampler.stop()
    result.update(
        phase=phase,
        seconds=time.perf_counter() - started,
        peak_anon_mb=(peak_anon - base_anon) / 1024,
        peak_rss_mb=(status_kb("VmHWM") - base_hwm) / 1024,
        images=len(split),
        data_mb=split.x.nbytes / 2**20,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/pags-imagenet64-bench"))
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(measure(args.phase, args.folder)))
        return
    try:
        fabricate(args.folder, args.images)
        results = {}
        for phase in ("assemble/ram", "assemble/map", "train/ram", "train/map"):
            out = subprocess.run(
                [sys.executable, __file__, "--phase", phase, "--folder", str(args.folder)],
                check=True,
                capture_output=True,
                text=True,
            )
            results[phase] = json.loads(out.stdout.strip().splitlines()[-1])
        r = results["train/ram"]
        print(f"{r['images']} images, {r['data_mb']:.0f} MiB as uint8; memory above the process after imports (MiB):")
        for phase, r in results.items():
            print(
                f"  {phase:13s} peak anonymous {r['peak_anon_mb']:7.0f}   peak resident {r['peak_rss_mb']:7.0f}   "
                f"{r['seconds']:6.1f} s"
            )
        same = results["train/ram"]["weights"] == results["train/map"]["weights"]
        print(f"  identical weights after the epoch, in memory vs mapped: {same}")
    finally:
        shutil.rmtree(args.folder, ignore_errors=True)


if __name__ == "__main__":
    main()
