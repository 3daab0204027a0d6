"""Where jobs run and what they print: device choice, logs, progress; how their memory
is allocated (``keep_freed_memory``), how they end when told to stop (SIGTERM, SIGINT:
``Terminated``), and how they end after inputs from a node whose clock runs ahead
(``settle_clock_skew``); none of which changes a result."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import platform
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .errors import DeviceError, PagsError
from .provenance import check_job_code

# torch is imported by the functions that use it, so that the jobs that only read and write
# tables (and run on the submit host under SLURM) start without its import's cost.
if TYPE_CHECKING:
    import torch

log = logging.getLogger("pags")


def gpu_requested(resources: Mapping[str, Any] | None) -> bool:
    """Whether a job's Snakemake resources ask for a GPU: ``gpu`` above 0 or a ``gres``
    naming one (``"gpu:1"``, ``"gpu:a100:1"``), as the SLURM profile's GPU rules do."""
    resources = dict(resources.items()) if resources is not None else {}
    gpu, gres = resources.get("gpu") or 0, str(resources.get("gres") or "")
    return (isinstance(gpu, (int, float)) and gpu > 0) or any(g.strip().startswith("gpu") for g in gres.split(","))


# What to do when the pinned torch cannot use a node's GPU (docs/reproducibility.md, "GPUs").
CUDA_FIX = (
    "Fix: run it where torch can use a GPU, or install the torch build of your driver's CUDA version "
    "(pip install torch==<pinned version> --index-url https://download.pytorch.org/whl/cu126, or another "
    "build: docs/reproducibility.md, 'GPUs'), or set PAGS_DEVICE=cpu to run it on the CPU"
)


def cuda_problem(amp: bool = False) -> str | None:
    """Why this process cannot compute on CUDA device 0 (with bfloat16 autocast if ``amp``),
    or None if it can: a CPU-only torch build, no device visible (with the driver's own
    complaint, e.g. "driver too old", where torch reported one), a compute capability the
    build has no kernels for, or no bfloat16."""
    import torch

    if not torch.version.cuda:
        return f"this torch ({torch.__version__}) is a CPU-only build"
    with warnings.catch_warnings(record=True) as caught:  # torch warns why CUDA failed to initialise
        warnings.simplefilter("always")
        available = torch.cuda.is_available()
    if not available:
        why = "; ".join(str(w.message).strip() for w in caught)
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        return (
            f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no usable GPU"
            + (f": {why}" if why else "")
            + (f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else "")
        )
    major, minor = torch.cuda.get_device_capability(0)
    arches = torch.cuda.get_arch_list()
    if arches and not _runs_on(arches, major, minor):
        return (
            f"GPU {torch.cuda.get_device_name(0)} has compute capability {major}.{minor}, but this torch "
            f"(CUDA {torch.version.cuda}) has kernels for {', '.join(arches)} only"
        )
    if amp and not torch.cuda.is_bf16_supported():
        return (
            f"GPU {torch.cuda.get_device_name(0)} (compute capability {major}.{minor}) has no bfloat16, "
            "which training.amp asks for. Fix: set training.amp: false for this experiment"
        )
    return None


def _runs_on(arches: list[str], major: int, minor: int) -> bool:
    """Whether kernels for ``arches`` (``sm_80``; ``compute_80`` for PTX) run on a device of
    compute capability major.minor: a cubin of the same major version and a lower or equal
    minor one, or PTX of a lower or equal capability (compiled when loaded)."""
    for arch in arches:
        kind, _, number = arch.partition("_")
        if not number.isdigit():
            continue
        a_major, a_minor = divmod(int(number), 10)
        if kind == "sm" and a_major == major and a_minor <= minor:
            return True
        if kind == "compute" and (a_major, a_minor) <= (major, minor):
            return True
    return False


def pick_device(resources: Mapping[str, Any] | None = None, amp: bool = False) -> torch.device:
    """The device a job computes on. ``PAGS_DEVICE`` overrides (device is not a
    hyperparameter, so it is not in the config and changing it reruns nothing).

    A job whose ``resources`` ask for a GPU (``gpu_requested``) gets CUDA, or stops at once
    with ``DeviceError`` saying what it found (no GPU, a driver torch cannot use, a compute
    capability without kernels in this build, no bfloat16 with ``amp``) and the fix, rather
    than run on the CPU until its time limit. A job that asked for none takes CUDA where
    present, else the CPU."""
    import torch

    name = os.environ.get("PAGS_DEVICE")
    asked = gpu_requested(resources)
    if name is None and not asked:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name or "cuda")
    if device.type == "cuda":
        problem = cuda_problem(amp)
        if problem is not None:
            asked_by = "this job asked for a GPU (its resources)" if asked else "PAGS_DEVICE asks for CUDA"
            fix = "" if "Fix:" in problem else f". {CUDA_FIX}"
            raise DeviceError(f"{asked_by}, but {problem}{fix}.")
    return device


# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4


def device_sharers(threads: int | None = None, env: Mapping[str, str] | None = None) -> int:
    """How many jobs share this job's device: in a SLURM allocation (``SLURM_CPUS_ON_NODE``
    in ``env``, default ``os.environ``), as many as its CPUs hold jobs of ``threads``
    threads (default: this process's torch threads, which jobs set to theirs). The members
    of a group job run at once, as many as their threads fit in the allocation's CPUs
    (``pags.slurm_groups``), on its one GPU: four trainings of 4 threads in 16 CPUs share
    it four ways. A job alone in its allocation gets 1, and so does a job outside SLURM."""
    env = os.environ if env is None else env
    cpus = env.get("SLURM_CPUS_ON_NODE", "")
    if not cpus.isdigit():
        return 1
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    return max(1, int(cpus) // max(1, threads))


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep the memory the process frees for its next allocations.

    By default glibc serves every allocation above its mmap threshold (at most 32 MiB) with
    a fresh ``mmap`` and returns it with ``munmap`` when freed. A CPU training step
    allocates activations above that size (a CIFAR ResNet18 at batch 128: 128 x 64 x 32
    x 32 float32 = 32 MiB each, 51 MiB on 56x28 MNIST-distractor images) and frees them
    at the end of the step, so every step the kernel maps, zero-fills (one page fault per
    4 KiB page) and unmaps them again, in system time (benchmarks/RESULTS.md).
    With mmap off and the heap trimmed only above 2 GiB free, freed blocks are reused
    and the process's footprint stays at its peak, which a job's memory request covers
    anyway. Only where memory comes from changes, never a value: results are unchanged.
    Returns whether it applied (False where the C library is not glibc)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):
        return False


# Distributions whose versions each job logs (besides python, pags, torch), by their names
# on PyPI; read from their metadata, so none of them is imported for this.
LOGGED_PACKAGES = ("torchvision", "numpy", "lpips", "diffusers", "snakemake", "scikit-image", "pandas")


def versions() -> str:
    """One line: the versions a job runs with (python, pags, torch with its CUDA and cuDNN
    when it has them, or "(not loaded)" in a job without it, and the other key packages;
    ``-`` for one that is not installed)."""

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "-"

    torch = sys.modules.get("torch")
    if torch is None:
        torch_version = f"torch {version('torch')} (not loaded)"
    else:
        cuda = ""
        if torch.version.cuda:
            cuda = f" (CUDA {torch.version.cuda}"
            if torch.cuda.is_available() and torch.backends.cudnn.is_available():
                cuda += f", cuDNN {torch.backends.cudnn.version()}"
            cuda += ")"
        torch_version = f"torch {torch.__version__}{cuda}"
    parts = [f"python {platform.python_version()}", f"pags {__version__}", torch_version]
    parts += [f"{name} {version(name)}" for name in LOGGED_PACKAGES]
    return "versions: " + ", ".join(parts)


class Terminated(SystemExit):
    """Raised in the main thread when the job is told to stop (SIGTERM: SLURM's time limit,
    ``scancel``, preemption; SIGINT). A ``SystemExit``, so that no ``except Exception``
    takes it for an error to handle, while every ``finally`` and ``with`` block on the way
    out runs: ``pags.io.atomic_path`` deletes its temporary file. Exit status 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signal = signal.Signals(signum).name


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_stop = {"deferred": 0, "pending": None, "raised": False}


def _on_stop_signal(signum: int, frame) -> None:
    if _stop["raised"]:  # a second signal must not interrupt the clean-up the first started
        return
    if _stop["deferred"]:  # a loop saves its state at its next safe point (``termination_requested``)
        _stop["pending"] = signum
        return
    _stop["raised"] = True
    raise Terminated(signum)


def terminate_cleanly() -> None:
    """Turn SIGTERM and SIGINT into ``Terminated`` from now on (main thread only; a no-op
    elsewhere). ``job_log`` does it for every job."""
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            signal.signal(signum, _on_stop_signal)


def termination_requested() -> bool:
    """Whether a stop signal arrived inside ``deferred_termination``: the loop should save
    its state and raise ``stop()``."""
    return _stop["pending"] is not None


def stop() -> Terminated:
    """The ``Terminated`` of the pending signal, to raise once the state is saved."""
    _stop["raised"] = True
    return Terminated(_stop["pending"])


@contextlib.contextmanager
def deferred_termination():
    """Within this block a stop signal only sets ``termination_requested()``, so that a
    training loop stops between two steps, after saving its state, rather than wherever
    the signal lands. Leaving the block normally with a signal pending raises
    ``Terminated``. Installs the handler (``terminate_cleanly``) for the block and restores
    the previous ones after, so that it works outside ``job_log`` too (main thread;
    elsewhere the block changes nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    terminate_cleanly()
    if not _stop["deferred"]:  # a new loop: a stop handled before (in tests) is over
        _stop.update(pending=None, raised=False)
    _stop["deferred"] += 1
    try:
        yield
    finally:
        _stop["deferred"] -= 1
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if termination_requested() and not _stop["raised"]:
        raise stop()


# How far ahead of this node's clock an input's time may lie for a job to wait until its
# clock has passed it; an input further ahead gets this node's time instead.
CLOCK_SKEW_WAIT_S = 300.0


def settle_clock_skew(
    inputs: Iterable[str | os.PathLike],
    wait_s: float = CLOCK_SKEW_WAIT_S,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """At a job's successful end: make sure its outputs, which Snakemake stamps with the
    time the job ends, come out newer than its inputs. An input written on a node whose
    clock runs ahead has a time in the future here; Snakemake would then take the job's
    fresh outputs for older than their inputs, fail the job with its clock-skew error and
    delete them (its DAG.check_output_mtime). So where the newest input lies ahead of
    this node's clock by up to ``wait_s`` seconds, the job waits until its clock has
    passed it; any input further ahead gets this node's time (its contents unchanged),
    so that no finished work is thrown away. Either way the log names the file and the
    skew, which the cluster's admins can fix (docs/provenance.md)."""
    stamps = [(os.stat(p).st_mtime, str(p)) for p in inputs if os.path.exists(p)]
    if not stamps:
        return
    newest, path = max(stamps)
    ahead = newest - now()
    if ahead <= 0:
        return
    log.warning(
        "input %s was written %.1f s ahead of this node's clock: a node's clock runs ahead (clock skew); "
        "ask the cluster's admins to synchronise the clocks (docs/provenance.md)",
        path,
        ahead,
    )
    if ahead <= wait_s:
        sleep(ahead + 0.01)
        return
    for stamp, skewed in stamps:
        if stamp > now():
            log.warning("setting the time of %s, %.0f s in the future, to this node's", skewed, stamp - now())
            os.utime(skewed, (os.stat(skewed).st_atime, now()))


@contextlib.contextmanager
def job_log(job):
    """Set up a job run by Snakemake's ``script:`` directive, ``job`` being its ``snakemake``
    object: send logging, warnings and errors to its log file (``job.log[0]``; stderr
    without one), turn stop signals into ``Terminated`` (``terminate_cleanly``), and check
    that the code on disk is the code the run was planned with (``job.params.code``;
    ``pags.provenance.check_job_code``), so that no job records a digest of other code;
    at its successful end, ``settle_clock_skew`` on its inputs.

    A ``PagsError`` is written as one line naming the problem and the fix; other errors
    keep their traceback. Either way the job fails.
    """
    path = job.log[0] if job.log else None
    handler = logging.FileHandler(path, mode="w") if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.captureWarnings(True)
    terminate_cleanly()
    try:
        planned = getattr(job.params, "code", None)
        if planned is not None:
            # Snakemake's preamble sets the script's __file__ to the script, not its copy
            check_job_code(Path(sys.modules["__main__"].__file__), planned)
        log.info("%s", versions())  # after the check, which imports every module the job runs
        yield log
        settle_clock_skew(getattr(job, "input", ()))
    except Terminated as e:
        log.warning("stopped by %s; partial files removed", e.signal)
        raise
    except PagsError as e:
        log.error("%s: %s", type(e).__name__, e)
        print(f"pags: {type(e).__name__}: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    except Exception:
        log.exception("job failed")
        raise
