"""Benchmark: one training step of each objective against the plain step, beside its ideal.

Times ``pags.train.TrainStep`` (what ``train_loop`` runs per batch: uint8 pixels scaled to
[0, 1], crop-and-flip, the objective's loss, backward, SGD step) for the objectives
standard, gnorm, smooth, randsmooth and pgd (``--pgd-steps`` k attack steps), each on its
own copy of one model (same initial weights), on a random uint8 batch that stays on the
device, in one process, the objectives interleaved repeat after repeat and the best
repeat kept. Prints per objective: seconds per step, images per second, the ratio to the
standard step of the same run, the ratio its forward/backward passes imply, and their
quotient (1 = no waste beyond the passes), and on the CPU the share of system time.

Ideal ratios (``pags.cost.step_cost``, which the bill of a config uses), in passes of one
forward + backward over the batch: standard 1; gnorm 3 (forward, backward with its graph
kept, and the backward of that backward, about twice a forward + backward); smooth 2 (one
pass over the clean and noisy batch together); randsmooth 1 (plus one Gaussian draw); pgd
k + 1 (k attack steps, each a forward and a backward to the input only, which skips the
weight gradients: a step below 1 pass each).

Before the table, the standard step is timed with glibc's default malloc and then after
``pags.runtime.keep_freed_memory`` (what training jobs call), in the same process: the
system time and page faults per step that the change removes (CPU only); and with model
and batch in the contiguous layout against channels-last (what ``TrainStep`` uses).

``--compile`` adds each objective's step with the model through ``torch.compile`` and its
speed against the eager step (not gnorm's: a compiled graph cannot be differentiated
twice, so gnorm stays eager), to see whether compiling pays on a device; training does
not compile (``pags.train.TrainStep``).

``--concurrent K`` also runs K standard trainings at once on the device (K processes, as K
jobs sharing it would) against the same K trainings run one after another, and prints
the throughput of both.

Defaults are the paper's CIFAR-10 ResNet18 at batch 128 on 3x32x32 images, on CUDA when
present. On a CPU, small sizes run in seconds:

    python benchmarks/train_step.py [--arch resnet18] [--batch-size 128] [--side 32] [--channels 3]
        [--classes 10] [--pgd-steps 10] [--repeats 3] [--steps 2] [--threads N] [--device cuda|cpu]
        [--amp] [--compile] [--concurrent K]
    python benchmarks/train_step.py --arch small_cnn --width 16 --batch-size 64 --side 28 --channels 1
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing
import platform
import re
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow"))

from pags.cost import step_cost  # noqa: E402
from pags.models import build_model  # noqa: E402
from pags.objectives import make_objective  # noqa: E402
from pags.runtime import keep_freed_memory  # noqa: E402
from pags.train import TrainSettings, TrainStep  # noqa: E402

# Each objective at a strength of config.yaml's CIFAR-10 grid, with its options there.
OBJECTIVES = {
    "standard": (0, {}),
    "gnorm": (0.01, {"penalty_scale": 6.103515625}),
    "smooth": (1.0, {"noise_std": 0.1}),
    "randsmooth": (0.25, {}),
    "pgd": (1.0, {"steps": 10, "step_size": 0.2, "random_start": 0.5, "eps_convention": "batch"}),
    "trades": (1.0, {"eps": 0.5, "steps": 10, "step_size": 0.2, "random_start": 0.1}),
}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


class Runner:
    """One objective's model, optimizer and step on a fixed batch; times ``steps`` steps."""

    def __init__(
        self,
        name: str,
        model: torch.nn.Module,
        args,
        device: torch.device,
        batch,
        compiled=False,
        memory_format=torch.channels_last,
    ) -> None:
        strength, options = OBJECTIVES[name]
        if name in ("pgd", "trades"):
            options = {**options, "steps": args.pgd_steps}
        self.name, self.device, self.batch = name, device, batch
        self.model = copy.deepcopy(model).train()
        optimizer = torch.optim.SGD(self.model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
        settings = TrainSettings(
            epochs=1,
            batch_size=len(batch[1]),
            lr=1e-3,
            momentum=0.9,
            weight_decay=5e-4,
            milestones=(),
            gamma=0.1,
            augment="crop_flip",
            amp=args.amp,
        )
        model = torch.compile(self.model) if compiled else self.model
        objective = make_objective(name, strength, options)
        self.step = TrainStep(model, objective, optimizer, settings, device, memory_format=memory_format)
        self.generator = torch.Generator(device=device).manual_seed(0)
        self.seconds: list[float] = []
        self.cpu: list[float] = []
        self.system: list[float] = []
        self.faults: list[float] = []

    def run(self, steps: int, record: bool = True) -> None:
        sync(self.device)
        before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        for _ in range(steps):
            loss = self.step(*self.batch, self.generator)
        sync(self.device)
        seconds, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
        if not torch.isfinite(loss):
            raise RuntimeError(f"{self.name}: the loss became {loss.item()}")
        if record:
            self.seconds.append(seconds / steps)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            self.cpu.append(cpu / steps)
            self.system.append((after.ru_stime - before.ru_stime) / max(cpu, 1e-9))
            self.faults.append((after.ru_minflt - before.ru_minflt) / steps)

    def best(self) -> tuple[float, float, float, float]:
        """Of the fastest repeat: (wall seconds per step, process CPU seconds per step, system
        share of the CPU time, page faults per step). On a shared machine the CPU time is the
        steadier of the two."""
        i = min(range(len(self.seconds)), key=self.seconds.__getitem__)
        return self.seconds[i], min(self.cpu), self.system[i], self.faults[i]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def malloc_comparison(model, args, device, batch) -> None:
    """The standard step with glibc's default malloc, then after ``keep_freed_memory``."""
    rows = []
    for phase in ("default", "keep_freed_memory"):
        if phase == "keep_freed_memory" and not keep_freed_memory():
            print("keep_freed_memory: not glibc, nothing to compare")
            return
        r = Runner("standard", model, args, device, batch)
        r.run(1, record=False)
        for _ in range(args.repeats):
            r.run(args.steps)
        rows.append((phase, *r.best()))
    print("standard step, malloc:  s/step  CPU s/step  system  page faults/step")
    for phase, seconds, cpu, system, faults in rows:
        print(f"  {phase:19s} {seconds:7.3f} {cpu:11.3f} {system:7.1%} {faults:10.0f}")
    print(f"  ratio default / keep_freed_memory: {rows[0][1] / rows[1][1]:.2f} wall, {rows[0][2] / rows[1][2]:.2f} CPU")


def layout_comparison(model, args, device, batch) -> None:
    """The standard step with model and batch in the contiguous layout, then in channels-last
    (what ``TrainStep`` uses), interleaved repeat after repeat."""
    runners = {
        name: Runner("standard", model, args, device, batch, memory_format=layout)
        for name, layout in (("contiguous", torch.contiguous_format), ("channels_last", torch.channels_last))
    }
    for r in runners.values():
        r.run(1, record=False)
    for _ in range(args.repeats):
        for r in runners.values():
            r.run(args.steps)
    print("standard step, layout:  s/step  CPU s/step")
    for name, r in runners.items():
        seconds, cpu = r.best()[:2]
        print(f"  {name:19s} {seconds:7.3f} {cpu:11.3f}")
    (contiguous, contiguous_cpu), (channels_last, channels_last_cpu) = (r.best()[:2] for r in runners.values())
    print(
        f"  ratio contiguous / channels_last: {contiguous / channels_last:.2f} wall, "
        f"{contiguous_cpu / channels_last_cpu:.2f} CPU"
    )


def setup(args) -> tuple[torch.device, torch.nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    """The device, the model (seed 0) and one random batch (uint8 images, labels) on it."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    shape = (args.batch_size, args.channels, args.side, args.side)
    batch = (
        torch.randint(0, 256, shape, generator=g, dtype=torch.uint8).to(device),
        torch.randint(0, args.classes, (args.batch_size,), generator=g).to(device),
    )
    torch.manual_seed(0)
    model = build_model(args.arch, args.channels, args.classes, **model_options(args)).to(device)
    return device, model, batch


def model_options(args) -> dict:
    return {"width": args.width} if args.width else {}


def concurrent_worker(args, barrier, results) -> None:
    """One of K training processes: warm up, wait for the others, time ``--steps`` steps."""
    keep_freed_memory()
    device, model, batch = setup(args)
    runner = Runner("standard", model, args, device, batch)
    runner.run(1, record=False)
    barrier.wait()
    started = time.perf_counter()  # CLOCK_MONOTONIC: comparable between processes
    runner.run(args.steps, record=False)
    results.put((started, time.perf_counter()))


def concurrent(model, args, device, batch, k: int) -> tuple[float, float]:
    """Images/s of k standard trainings (``--steps`` steps each) one after another in this
    process, then at once as k processes on the device (as k jobs sharing it would run)."""
    runners = [Runner("standard", model, args, device, batch) for _ in range(k)]
    for r in runners:
        r.run(1, record=False)
    started = time.perf_counter()
    for r in runners:
        r.run(args.steps, record=False)
    serial = time.perf_counter() - started

    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(k), context.Queue()
    workers = [context.Process(target=concurrent_worker, args=(args, barrier, results)) for _ in range(k)]
    for w in workers:
        w.start()
    spans = [results.get() for _ in workers]
    for w in workers:
        w.join()
    together = max(end for _, end in spans) - min(start for start, _ in spans)
    images = k * args.steps * len(batch[1])
    return images / serial, images / together


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--width", type=int, help="small_cnn's width")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--side", type=int, default=32, help="image height and width (pixels)")
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--pgd-steps", type=int, default=10, help="k: PGD attack steps")
    parser.add_argument("--objectives", nargs="+", default=list(OBJECTIVES), choices=list(OBJECTIVES))
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (the best is reported)")
    parser.add_argument("--steps", type=int, default=2, help="steps per repeat")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast (training.amp; CUDA only)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (not gnorm's)")
    parser.add_argument("--concurrent", type=int, default=0, metavar="K", help="also K standard trainings at once")
    args = parser.parse_args()
    if "standard" not in args.objectives:
        args.objectives.insert(0, "standard")

    device, model, batch = setup(args)
    options = model_options(args)
    runners = {name: Runner(name, model, args, device, batch) for name in args.objectives}
    if args.compile:  # gnorm's double backward cannot go through a compiled graph: it stays eager
        runners.update(
            {f"{n} compiled": Runner(n, model, args, device, batch, True) for n in args.objectives if n != "gnorm"}
        )

    print(f"device: {device_name(device)}; torch {torch.__version__}")
    print(
        f"model: {args.arch}{options or ''} on {args.channels}x{args.side}x{args.side}, batch {args.batch_size}, "
        f"{args.classes} classes, amp {args.amp and device.type == 'cuda'}; best of {args.repeats} repeats "
        f"of {args.steps} steps"
    )

    if device.type == "cpu":
        malloc_comparison(model, args, device, batch)
    layout_comparison(model, args, device, batch)
    for r in runners.values():
        r.run(1, record=False)  # warm-up: allocations, cuDNN's algorithm search
    for _ in range(args.repeats):
        for r in runners.values():
            r.run(args.steps)

    cpu = device.type == "cpu"
    base, base_cpu = runners["standard"].best()[:2]
    print(
        f"{'objective':19s} {'s/step':>8s} {'images/s':>9s} {'ratio':>6s} {'ideal':>6s} {'ratio/ideal':>11s}"
        + ("  CPU s/step  CPU ratio/ideal  system" if cpu else "")
    )
    for name, r in runners.items():
        seconds, cpu_seconds, system, _ = r.best()
        ratio, ideal = seconds / base, step_cost(r.name, {"steps": args.pgd_steps})
        label = re.sub(r"^(pgd|trades)", rf"\1 k={args.pgd_steps}", name)
        line = f"{label:19s} {seconds:8.3f} {args.batch_size / seconds:9.1f} {ratio:6.2f} {ideal:6.2f} {ratio / ideal:11.2f}"
        if cpu:
            line += f"  {cpu_seconds:10.3f}  {cpu_seconds / base_cpu / ideal:15.2f}  {system:6.1%}"
        if name.endswith(" compiled"):
            line += f"  ({runners[r.name].best()[0] / seconds:.2f}x the eager step's speed)"
        print(line)

    if args.concurrent > 1:
        serial, together = concurrent(model, args, device, batch, args.concurrent)
        print(
            f"{args.concurrent} standard trainings: {serial:.1f} images/s one after another, {together:.1f} at once "
            f"({together / serial:.2f}x)"
        )


if __name__ == "__main__":
    main()
