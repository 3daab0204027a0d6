"""The bill of a config before it is submitted: models, epochs, images, device-hours.

    python -m pags.cost config.yaml [--images-per-second X --device-name NAME] [--ratio gnorm=4.0 ...]

Per experiment (``distractor``, ``sweep.<data set>``, ``pretrained.<data set>``) and
objective: the models (of a search, ``pags.search``, at most its ``max_models``), their
epochs, the training images they see (models x epochs x training split, a ``subset``
counted at its size), each objective's step cost (its ratio to a plain step,
``STEP_COST``, or measured ones via ``--ratio``), and the
device-hours of that training; then each experiment's evaluation of its models, and the
totals. Pretrained members are not trained: they cost only their evaluation.

Units. Work is counted in plain-step images: one image through the standard
objective's training step (forward, backward, update) of the reference model, the CIFAR-10
ResNet18 of ``benchmarks/train_step.py`` on 3x32x32 images, at ``images_per_second``.
Another model or image size costs its forward FLOPs per image (``forward_flops``,
counted by torch on the meta device) over the reference's; an objective costs its step
cost per image. Evaluation counts forward passes as 1/3 of a step (a backward is about
two forwards) and input gradients as one step: per trained model the accuracy on the
training and test splits, the noise robustness (distractor) or the on/off-manifold
changes and the alignment gradients (sweeps); per pretrained member its top-1 and its
alignment gradients. Not counted: autoencoders, denoisers, scores, tangent spaces
(one of each per data set, not per model), figures, data preparation, queue waits.

The default throughput is this repository's own measurement (``DEFAULT_THROUGHPUT``),
named with its device in the output; for a bill in GPU-hours, run the benchmark on the
GPU and pass its standard images/s with ``--images-per-second`` and ``--device-name``.
"""

from __future__ import annotations

import argparse
import functools
import sys
from dataclasses import dataclass
from typing import Any

import torch
import yaml

from .datasets.registry import data_shape
from .datasets.registry import split_sizes as whole_splits
from .experiments import experiments, objective_seeds
from .grid import expand_grid, is_search
from .objectives import get_spec
from .schema import validate_config

# One plain-step image of the reference model: benchmarks/train_step.py's default.
REFERENCE = ("resnet18", {}, (3, 32, 32), 10)


@dataclass(frozen=True)
class Throughput:
    images_per_second: float  # standard training step of the reference model
    device: str
    source: str


# The standard row of `python benchmarks/train_step.py --repeats 2 --steps 1` (ResNet18, batch
# 128, 3x32x32, fp32) on a 2-core x86_64 CPU (benchmarks/RESULTS.md).
DEFAULT_THROUGHPUT = Throughput(
    images_per_second=16.7,
    device="a 2-core x86_64 CPU (2 threads, fp32)",
    source="measured with benchmarks/train_step.py; pass your GPU's with --images-per-second",
)

FORWARD = 1 / 3  # a forward pass, in training steps
GRADIENT = 1.0  # an input gradient (forward + backward to the input), in training steps


def step_cost(objective: str, options: dict[str, Any]) -> float:
    """A training step of ``objective`` over a plain step of the same model, in forward +
    backward passes, as its spec states (``ObjectiveSpec.step_cost``): e.g. standard 1,
    gnorm 3, pgd steps + 1. ``KeyError`` for an unknown objective."""
    return float(get_spec(objective).step_cost(options))


def forward_flops(arch: str, options: dict[str, Any], shape: tuple[int, int, int], classes: int) -> float:
    """FLOPs of one image's forward pass (a multiply-add is 2), counted on the meta device."""
    return _forward_flops(arch, tuple(sorted(options.items())), tuple(shape), classes)


@functools.lru_cache
def _forward_flops(arch: str, options: tuple, shape: tuple[int, int, int], classes: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    from .models import build_model

    with torch.device("meta"):
        model = build_model(arch, shape[0], classes, **dict(options))
        x = torch.empty(1, *shape)
    counter = FlopCounterMode(display=False)
    with counter:
        model(x)
    return float(counter.get_total_flops())


def pretrained_flops(family: str) -> tuple[float, int]:
    """(FLOPs of one forward pass, input side in px) of a pretrained family's network."""
    from torch.utils.flop_counter import FlopCounterMode

    from .pretrained import get_family

    fam = get_family(family, "pretrained.family")
    side = fam.input.side or 224
    with torch.device("meta"):
        model = fam.build()
        x = torch.empty(1, fam.input.in_channels, side, side)
    counter = FlopCounterMode(display=False)
    with counter:
        model(x)
    return float(counter.get_total_flops()), side


@dataclass
class Line:
    """One line of the bill: work in plain-step images of the reference model."""

    experiment: str
    item: str  # an objective, or "evaluation"
    models: int
    epochs: int
    train_images: int  # images the line's training steps take (models x epochs x split)
    step_cost: float  # per image, relative to a plain step of the experiment's model
    work: float  # plain-step images of the reference model

    def hours(self, images_per_second: float) -> float:
        return self.work / images_per_second / 3600


def split_sizes(config: dict[str, Any], dataset: str, exp: dict[str, Any]) -> tuple[int, int]:
    """(training, test) images of an experiment: the data set's (``DatasetSpec``), or its subset's."""
    n_train, n_test = whole_splits(config, dataset)
    subset = exp.get("subset") or {}
    return subset.get("train") or n_train, subset.get("test") or n_test


def grid_bound(spec) -> int:
    """The strengths a grid trains: a list's, or at most a search's ``max_models``."""
    return spec["search"]["max_models"] if is_search(spec) else len(expand_grid(spec))


def trained_lines(config, name: str, dataset: str, exp: dict[str, Any], ratios: dict[str, float]) -> list[Line]:
    """Training per objective, then the models' evaluation, of an experiment the workflow trains."""
    shape, classes = data_shape(config, dataset)
    scale = forward_flops(exp["model"]["arch"], exp["model"]["options"], shape, classes) / forward_flops(*REFERENCE)
    n_train, n_test = split_sizes(config, dataset, exp)
    epochs = exp["training"]["epochs"]
    lines, models = [], 0
    for objective, options in exp["objectives"].items():
        n = grid_bound(options["grid"]) * len(objective_seeds(exp, objective))
        cost = ratios.get(objective, step_cost(objective, options))
        images = n * epochs * n_train
        lines.append(Line(name, objective, n, epochs, images, cost, images * cost * scale))
        models += n
    per_model = (n_train + n_test) * FORWARD  # fit's train and test accuracy
    if name == "distractor":
        noise = exp["noise_robustness"]
        stds = len(expand_grid(noise["stds"])) + bool(noise["include_zero"])
        per_model += noise["n_images"] * noise["draws"] * (1 + 2 * stds) * FORWARD
    else:
        manifold = exp["manifold_robustness"]
        per_model += manifold["n_images"] * ((1 + 2 * len(manifold["step_sizes"])) * FORWARD + GRADIENT)
        per_model += exp["score"]["n_images"] * GRADIENT
    lines.append(Line(name, "evaluation", models, 0, 0, 0.0, models * per_model * scale))
    return lines


def pretrained_lines(name: str, section: dict[str, Any]) -> list[Line]:
    """A pretrained family: evaluation only (top-1 and alignment gradients per member)."""
    flops, _ = pretrained_flops(section["family"])
    scale = flops / forward_flops(*REFERENCE)
    members = len(section["eps"])
    per_model = section["top1"]["n_images"] * FORWARD + section["score"]["n_images"] * GRADIENT
    return [Line(name, "evaluation", members, 0, 0, 0.0, members * per_model * scale)]


def bill(config: dict[str, Any], ratios: dict[str, float] | None = None) -> list[Line]:
    """Every line of ``config``'s bill (a config as ``config.yaml``: validated, its defaults filled)."""
    ratios = ratios or {}
    lines = []
    for exp in experiments(config).values():
        if exp.kind == "pretrained":
            lines += pretrained_lines(exp.key, config["pretrained"][exp.dataset])
        else:
            lines += trained_lines(config, exp.key, exp.dataset, exp.section, ratios)
    return lines


def render(lines: list[Line], throughput: Throughput) -> str:
    """The bill as text: a line per objective and per experiment's evaluation, subtotals
    per experiment and the total, the throughput it assumed named with its device."""
    rate = throughput.images_per_second
    out = [
        f"at {rate:,.1f} images/s for a standard training step of the CIFAR-10 ResNet18 (batch 128, 3x32x32) "
        f"on {throughput.device}",
        f"({throughput.source}); other models scaled by their forward FLOPs per image",
        f"{'experiment':20s} {'objective':12s} {'models':>7s} {'epochs':>6s} {'training images':>16s} "
        f"{'step cost':>9s} {'device-hours':>13s}",
    ]

    def row(experiment, item, models, epochs, images, cost, hours):
        epochs = f"{epochs:6d}" if epochs else f"{'':6s}"
        images = f"{images:16,d}" if images else f"{'':16s}"
        cost = f"{cost:9.2f}" if cost else f"{'':9s}"
        return f"{experiment:20s} {item:12s} {models:7d} {epochs} {images} {cost} {hours:13,.2f}"

    # Each experiment ends with its evaluation line, which counts all its models.
    for experiment in dict.fromkeys(line.experiment for line in lines):
        mine = [line for line in lines if line.experiment == experiment]
        for line in mine:
            out.append(
                row(
                    experiment, line.item, line.models, line.epochs, line.train_images, line.step_cost, line.hours(rate)
                )
            )
        out.append(
            row(
                experiment,
                "total",
                mine[-1].models,
                0,
                sum(line.train_images for line in mine),
                0.0,
                sum(line.hours(rate) for line in mine),
            )
        )
    models = sum(line.models for line in lines if line.item == "evaluation")
    out.append(
        row(
            "all",
            "total",
            models,
            0,
            sum(line.train_images for line in lines),
            0.0,
            sum(line.hours(rate) for line in lines),
        )
    )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pags.cost", description=__doc__.splitlines()[0])
    parser.add_argument("config", help="a workflow config (config.yaml)")
    parser.add_argument(
        "--images-per-second",
        type=float,
        help="standard step of the CIFAR-10 ResNet18, batch 128 "
        "(benchmarks/train_step.py's first line); default: DEFAULT_THROUGHPUT",
    )
    parser.add_argument("--device-name", default="the given device", help="the device that throughput was measured on")
    parser.add_argument(
        "--ratio",
        action="append",
        default=[],
        metavar="OBJECTIVE=R",
        help="a measured step cost (benchmarks/train_step.py's ratio), instead of the ideal",
    )
    args = parser.parse_args(argv)
    with open(args.config) as f:
        config = yaml.safe_load(f)
    validate_config(config)  # the schema's defaults filled, as the workflow sees them
    ratios = {name: float(value) for name, value in (r.split("=", 1) for r in args.ratio)}
    if args.images_per_second:
        throughput = Throughput(args.images_per_second, args.device_name, "given")
    else:
        throughput = DEFAULT_THROUGHPUT
    print(f"The bill of {args.config}")
    print(render(bill(config, ratios), throughput))


if __name__ == "__main__":
    main(sys.argv[1:])
