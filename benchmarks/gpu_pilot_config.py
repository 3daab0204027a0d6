"""Write the GPU-sized pilot's config: pilot/experiments.yaml with the paper's ResNet18 on
the real MNIST and CIFAR-10 files under a shared data folder (linked into ``--root`` in
the layout the loaders read), one seed, sized to end within minutes on one GPU.

    python benchmarks/gpu_pilot_config.py --shared ../shared/data --root DIR --out CONFIG

Exits 3 (and writes nothing) where the shared folder lacks MNIST or CIFAR-10. Prints the
CIFAR-10 training file it links: the full training set (cifar10_train.npz) where present,
else the first 20,000 images.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def link_data(shared: Path, root: Path) -> Path | None:
    """Links root/MNIST, root/cifar10_{train,test}.npz to the shared files; the CIFAR-10
    training file linked, or None where a file is missing."""
    cifar = shared / "CIFAR10"
    train = next((f for f in (cifar / "cifar10_train.npz", cifar / "cifar10_train_first20k.npz") if f.is_file()), None)
    if train is None or not (cifar / "cifar10_test.npz").is_file() or not (shared / "MNIST" / "raw").is_dir():
        return None
    root.mkdir(parents=True, exist_ok=True)
    for name, target in (
        ("MNIST", shared / "MNIST"),
        ("cifar10_train.npz", train),
        ("cifar10_test.npz", cifar / "cifar10_test.npz"),
    ):
        link = root / name
        if not link.exists():
            link.symlink_to(target.resolve())
    return train


def gpu_pilot(root: Path) -> dict:
    config = yaml.safe_load((REPO / "pilot" / "experiments.yaml").read_text())
    config["data"] = {"root": str(root), "download": False}
    for section in (config["distractor"], config["sweep"]["cifar10"]):
        section["model"] = {"arch": "resnet18", "options": {}}
        section["seeds"] = [0]
    config["distractor"]["training"].update(epochs=4, milestones=[2, 3], amp=True)
    cifar = config["sweep"]["cifar10"]
    cifar.pop("subset")  # every image of the files
    cifar["training"].update(epochs=8, milestones=[6, 7], amp=True)
    cifar["score"]["denoiser"].update(epochs=10)
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO / ".." / "shared" / "data")
    parser.add_argument("--root", type=Path, required=True, help="data.root to create, with links to --shared")
    parser.add_argument("--out", type=Path, required=True, help="the config file to write")
    args = parser.parse_args()
    train = link_data(args.shared, args.root)
    if train is None:
        print(f"no MNIST and CIFAR-10 under {args.shared}")
        sys.exit(3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(yaml.safe_dump(gpu_pilot(args.root.resolve()), sort_keys=False))
    print(f"CIFAR-10 training images from {train.name}")


if __name__ == "__main__":
    main()
