"""Measured effects of the conventions where the paper is silent (docs/conventions.md).

Small models on real data, trained by ``pags.train.fit`` exactly as the workflow trains
them, each convention switched alone from the authors' (config.yaml's) setting:

``mnist``: MNIST with the distractor letter (Fig. 5). The data made with each letter
(``distractor.font``); a standard and PGD-L2 models (small CNN; eps drawn from {1, 4, 8},
batch-shared, as the paper, in the demo's 3 steps of 0.83 eps) trained for ``--epochs``
on the first ``--mnist-train`` digits: the authors' attack (train mode, uniform start, no pixel box,
FreeMono), and each of its choices changed alone. Per model: test accuracy, and Fig. 5's
changes under noise of std 0.01 on the signal and on the distractor half and their ratio,
over the first ``--images`` test images, one draw per image and region.

``cifar``: CIFAR-10 (Fig. 3). An autoencoder on the training images and tangent spaces
at the first ``--manifold-images`` test images (as the workflow's, smaller); then a
standard model, PGD-L2 at two eps (the pilot's 3 steps of 0.6667 eps) (the authors' attack, and with eval mode or a Gaussian
start instead) and the smoothness penalty at two strengths with one and two BatchNorm
passes. Per model: test accuracy and the on- and off-manifold changes at the paper's
plot step 2.637.

Standard errors are over images (one seed): of a mean, the sample std / sqrt(n); of a
ratio of two means of the same images, by the delta method. Every model's numbers are
cached in ``--out`` (one json per model), so a part can be rerun, or stopped and resumed,
and ``--table`` prints the markdown table of all of them.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/conventions_effects.py mnist --data /path/with/MNIST
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/conventions_effects.py cifar --data /path/with/CIFAR10
    python benchmarks/conventions_effects.py table
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from pags.datasets import ImageSplit  # noqa: E402
from pags.datasets.distractor import add_distractor, letter_image, signal_mask  # noqa: E402
from pags.datasets.mnist import load_mnist  # noqa: E402
from pags.manifold.autoencoder import train_autoencoder  # noqa: E402
from pags.manifold.robustness import on_off_manifold_change  # noqa: E402
from pags.manifold.tangents import tangent_spaces  # noqa: E402
from pags.noise_robustness import masked_noise_change  # noqa: E402
from pags.train import fit  # noqa: E402

CPU = torch.device("cpu")
AUTHORS_PGD = {"attack_mode": "train", "random_start_noise": "uniform", "clamp_pixels": False}
# One convention changed at a time from the authors' attack: (name, options, font).
MNIST_MODELS = {
    "standard, FreeMono": ("standard", 0, {}, "freemono"),
    "standard, DejaVu": ("standard", 0, {}, "dejavu_sans_bold"),
    "PGD authors' (train, uniform, no box), FreeMono": ("pgd", [1, 4, 8], AUTHORS_PGD, "freemono"),
    "PGD, DejaVu": ("pgd", [1, 4, 8], AUTHORS_PGD, "dejavu_sans_bold"),
    "PGD, pixel box": ("pgd", [1, 4, 8], {**AUTHORS_PGD, "clamp_pixels": True}, "freemono"),
    "PGD, eval mode": ("pgd", [1, 4, 8], {**AUTHORS_PGD, "attack_mode": "eval"}, "freemono"),
    "PGD, Gaussian start": ("pgd", [1, 4, 8], {**AUTHORS_PGD, "random_start_noise": "gaussian"}, "freemono"),
}
# The demo's 3 steps of 0.83 eps: about the path length of the paper's 10 of 0.25 eps
MNIST_PGD = {"steps": 3, "step_size": 0.83, "random_start": 0.5, "eps_convention": "batch"}
CIFAR_PGD = {"steps": 3, "step_size": 0.6667, "random_start": 0.5, "eps_convention": "batch", "lr_threshold": 100}
CIFAR_MODELS = {"standard": ("standard", 0, {})}
for eps in (1.887, 3.857):  # the pilot's PGD strengths where its models turn robust
    CIFAR_MODELS[f"PGD eps {eps}, authors' (train, uniform, no box)"] = ("pgd", eps, {**CIFAR_PGD, **AUTHORS_PGD})
    CIFAR_MODELS[f"PGD eps {eps}, eval mode"] = ("pgd", eps, {**CIFAR_PGD, **AUTHORS_PGD, "attack_mode": "eval"})
    CIFAR_MODELS[f"PGD eps {eps}, Gaussian start"] = (
        "pgd",
        eps,
        {**CIFAR_PGD, **AUTHORS_PGD, "random_start_noise": "gaussian"},
    )
for lam in (0.7279, 4.894):  # the pilot's smoothness strengths
    for passes in (2, 1):
        CIFAR_MODELS[f"smooth lambda {lam}, {passes} BatchNorm pass{'es' if passes == 2 else ''}"] = (
            "smooth",
            lam,
            {"noise_std": 0.1, "batchnorm_passes": passes, "lr_threshold": 10},
        )
PLOT_STEP = 2.637


def mean_sem(v: np.ndarray) -> tuple[float, float]:
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v)))


def ratio_sem(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """mean(a) / mean(b) of paired per-image values, and its delta-method standard error."""
    ma, mb = a.mean(), b.mean()
    r = ma / mb
    cov = np.cov(a, b, ddof=1) / len(a)
    var = (cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / mb**2
    return float(r), float(math.sqrt(max(var, 0.0)))


def train(name, objective, strength, options, train_split, test_split, epochs, pool, seed=0):
    """A width-8 small CNN (the pilot's, ``pool`` its pooled grid) trained by ``fit``, lr
    0.1 decayed x0.1 after the second-to-last epoch."""
    hparams = {
        "arch": "small_cnn",
        "arch_options": {"width": 8, "pool": pool},
        "objective": objective,
        "strength": strength,
        "objective_options": options,
        "training": {
            "epochs": epochs,
            "batch_size": 128,
            "lr": 0.1,
            "momentum": 0.9,
            "weight_decay": 5e-4,
            "milestones": [max(1, epochs - 1)],
            "gamma": 0.1,
            "augment": "none",
            "amp": False,
        },
        "seed": seed,
    }
    started = time.perf_counter()
    model, _, record = fit(hparams, train_split, test_split, None, CPU, progress_seconds=None, num_classes=10)
    print(f"{name}: test accuracy {record['test_accuracy']:.4f} ({time.perf_counter() - started:.0f} s)", flush=True)
    return model.eval(), record


def selected(models: dict, args) -> list[tuple[str, tuple]]:
    """The models whose names contain one of ``--only`` (all without it), named with
    ``--seed`` where it is not 0."""
    suffix = f", seed {args.seed}" if args.seed else ""
    return [
        (name + suffix, spec) for name, spec in models.items() if not args.only or any(o in name for o in args.only)
    ]


def cached(out: Path, name: str, compute) -> dict:
    path = out / (name.replace(" ", "_").replace(",", "").replace("'", "").replace("/", "-") + ".json")
    if path.exists():
        return json.loads(path.read_text())
    result = {"name": name, **compute()}
    path.write_text(json.dumps(result, indent=1))
    return result


def distractor_split(digits: ImageSplit, font: str, seed: int) -> ImageSplit:
    letter = letter_image("A", font).expand(digits.x.shape[1:])
    return add_distractor(digits, letter, torch.Generator().manual_seed(seed))


def run_mnist(args) -> None:
    root = str(args.data)
    train_digits, test_digits = load_mnist("train", root, False), load_mnist("test", root, False)
    train_digits = ImageSplit(train_digits.x[: args.mnist_train], train_digits.y[: args.mnist_train])
    test_digits = ImageSplit(test_digits.x[: args.test], test_digits.y[: args.test])
    data = {
        font: (distractor_split(train_digits, font, 0), distractor_split(test_digits, font, 1))
        for font in ("freemono", "dejavu_sans_bold")
    }
    for name, (objective, strength, options, font) in selected(MNIST_MODELS, args):
        options = {**MNIST_PGD, **options} if objective == "pgd" else options
        cached(args.out, name, partial(measure_mnist, args, name, objective, strength, options, *data[font]))


def measure_mnist(args, name, objective, strength, options, train_split, test_split) -> dict:
    """Train one model; its accuracy and Fig. 5's changes at std 0.01, one draw per image and region."""
    model, record = train(name, objective, strength, options, train_split, test_split, args.epochs, 1, args.seed)
    x = test_split.floats()[: args.images]
    mask = signal_mask(test_split.extras["digit_on_top"][: args.images], tuple(x.shape))
    masks = {"signal": mask, "distractor": 1 - mask}
    changes = masked_noise_change(model, x, masks, [0.01], torch.Generator().manual_seed(0), shared=False)
    s, d = changes["signal"][0].double().numpy(), changes["distractor"][0].double().numpy()
    return {
        "part": "mnist",
        "accuracy": record["test_accuracy"],
        "signal_change": mean_sem(s),
        "distractor_change": mean_sem(d),
        "ratio": ratio_sem(s, d),
        "images": len(x),
    }


def load_cifar(root: Path, split: str, n: int) -> ImageSplit:
    name = "cifar10_train_first20k.npz" if split == "train" else "cifar10_test.npz"
    with np.load(root / "CIFAR10" / name) as f:
        x, y = f["x"][:n], f["y"][:n]
    return ImageSplit(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(y).long())


def run_cifar(args) -> None:
    train_split, test_split = load_cifar(args.data, "train", args.cifar_train), load_cifar(args.data, "test", args.test)
    tangent_file = args.out / "cifar_tangents.pt"
    x = test_split.floats()[: args.manifold_images]
    if tangent_file.exists():
        basis = torch.load(tangent_file)
    else:
        started = time.perf_counter()
        g = torch.Generator().manual_seed(0)
        ae, history = train_autoencoder(train_split.x, latent_dim=64, width=32, epochs=2, generator=g)
        basis, _ = tangent_spaces(ae.encode, ae.decode, x)
        torch.save(basis, tangent_file)
        print(f"tangents: reconstruction {history[-1]['loss']:.4f} ({time.perf_counter() - started:.0f} s)", flush=True)
    for name, (objective, strength, options) in selected(CIFAR_MODELS, args):
        cached(
            args.out,
            name,
            partial(measure_cifar, args, name, objective, strength, options, train_split, test_split, x, basis),
        )


def measure_cifar(args, name, objective, strength, options, train_split, test_split, x, basis) -> dict:
    """Train one model; its accuracy and on/off-manifold changes at the plot step."""
    model, record = train(name, objective, strength, options, train_split, test_split, args.epochs, 2, args.seed)
    change = on_off_manifold_change(model, x, basis, [PLOT_STEP], torch.Generator().manual_seed(0))
    on, off = change["on"][0].double().numpy(), change["off"][0].double().numpy()
    return {
        "part": "cifar",
        "accuracy": record["test_accuracy"],
        "on_change": mean_sem(on),
        "off_change": mean_sem(off),
        "off_on_ratio": ratio_sem(off, on),
        "images": len(x),
    }


def fmt(pair) -> str:
    return f"{pair[0]:.4g} ± {pair[1]:.2g}"


# Per part: the table's title (given the number of images) and its columns, (heading, key).
TABLES = {
    "mnist": (
        "MNIST with the distractor, Fig. 5 at noise std 0.01 ({n} test images)",
        [("signal change", "signal_change"), ("distractor change", "distractor_change"), ("ratio", "ratio")],
    ),
    "cifar": (
        f"CIFAR-10, on/off-manifold change at step {PLOT_STEP} ({{n}} test images)",
        [("on-manifold change", "on_change"), ("off-manifold change", "off_change"), ("off / on", "off_on_ratio")],
    ),
}


def print_table(args) -> None:
    results = [json.loads(p.read_text()) for p in sorted(args.out.glob("*.json"))]
    order = list(MNIST_MODELS) + list(CIFAR_MODELS)

    def key(r: dict) -> tuple[int, str]:
        return order.index(r["name"].split(", seed ")[0]), r["name"]

    blocks = []
    for part, (title, columns) in TABLES.items():
        rows = sorted((r for r in results if r["part"] == part), key=key)
        if not rows:
            continue
        lines = [title.format(n=rows[0]["images"]), ""]
        lines.append("| model | test accuracy | " + " | ".join(h for h, _ in columns) + " |")
        lines.append("|---" * (len(columns) + 2) + "|")
        for r in rows:
            lines.append(f"| {r['name']} | {r['accuracy']:.4f} | " + " | ".join(fmt(r[k]) for _, k in columns) + " |")
        blocks.append("\n".join(lines))
    print("\n\n".join(blocks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["mnist", "cifar", "table"])
    parser.add_argument("--data", type=Path, default=Path("data"), help="holds MNIST/raw and CIFAR10/*.npz")
    parser.add_argument("--out", type=Path, default=Path("results/conventions_effects"))
    parser.add_argument("--mnist-train", type=int, default=10_000, help="training digits")
    parser.add_argument("--cifar-train", type=int, default=10_000, help="CIFAR-10 training images")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs")
    parser.add_argument("--seed", type=int, default=0, help="training seed (weights, batches, noise)")
    parser.add_argument("--only", nargs="*", default=[], help="only the models whose names contain one of these")
    parser.add_argument("--test", type=int, default=2000, help="test images for accuracy")
    parser.add_argument("--images", type=int, default=2000, help="test images for Fig. 5's changes")
    parser.add_argument("--manifold-images", type=int, default=200, help="test images with tangent spaces")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    {"mnist": run_mnist, "cifar": run_cifar, "table": print_table}[args.part](args)


if __name__ == "__main__":
    main()
