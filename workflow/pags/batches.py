"""Feeding a training split to the device in batches of a given order.

``BatchFeed(x, y, device)`` keeps the images (uint8 or float32 [N, C, H, W], possibly
memory-mapped) where they are best read from, and ``feed.batches(order, batch_size)``
yields ``(x_batch, y_batch)`` on ``device`` for consecutive slices of ``order`` (int64
[N], on the CPU or on ``device``): batch k holds rows ``order[k * batch_size : (k + 1) *
batch_size]`` in that order, in the images' dtype (the caller converts to float). The
order is the caller's (drawn from its generator), so every mode gives the same batches.

Modes (``feed.mode``):

- ``"host"`` (CPU devices): the images stay as they are, in memory or memory-mapped,
  and each batch is gathered by index, reading only its rows.
- ``"device"`` (CUDA, the split fits): the whole split is copied to the device once, if
  it takes at most ``max_fraction`` (default 0.5) of this job's share of the device: its
  free memory at that moment (``torch.cuda.mem_get_info``), but no more than the total
  over the number of jobs that share the device (``sharers``: the members of a SLURM
  group job running at once, ``pags.runtime.device_sharers``), so that members deciding
  one after the other each count on the same share. The rest is left for the model,
  activations and attacks. Batches are gathered there.
- ``"stream"`` (CUDA, the split does not fit, or forced): a background thread gathers
  each batch's rows on the host into pinned memory and copies them to the device with
  ``non_blocking`` on a side CUDA stream, one batch ahead (``prefetch`` batches at most),
  so the device computes while the next batch arrives; the compute stream waits for the
  copy's event before using it. On the CPU, ``"stream"`` runs the same thread without
  pinning or streams (for tests).

Labels (int64 [N], small) always live on ``device``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import torch

from .runtime import device_sharers

MODES = ("host", "device", "stream")


def fits_on_device(nbytes: int, device: torch.device, max_fraction: float = 0.5, sharers: int = 1) -> bool:
    """Whether ``nbytes`` is at most ``max_fraction`` of this job's share of ``device``:
    its free memory now, and at most its total memory over ``sharers``, the jobs that
    share it (always false for non-CUDA devices)."""
    if device.type != "cuda":
        return False
    free, total = torch.cuda.mem_get_info(device)
    return nbytes <= max_fraction * min(free, total / max(1, sharers))


class BatchFeed:
    """Batches of a split on ``device``, in a given order (see the module docstring).
    ``sharers``: the jobs that share the device (None: ``device_sharers()``, from the
    job's allocation). ``mode`` None picks one; ``"host"`` is only valid on the CPU, ``"device"`` and
    ``"stream"`` anywhere (``ValueError`` otherwise)."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        device: torch.device,
        mode: str | None = None,
        max_fraction: float = 0.5,
        prefetch: int = 2,
        sharers: int | None = None,
    ) -> None:
        if mode is None:
            if device.type == "cpu":
                mode = "host"
            else:
                sharers = device_sharers() if sharers is None else sharers
                mode = "device" if fits_on_device(x.nbytes + y.nbytes, device, max_fraction, sharers) else "stream"
        if mode not in MODES or (mode == "host" and device.type != "cpu"):
            raise ValueError(f"mode must be one of {MODES} ('host' only on the CPU), got {mode!r} on {device}")
        self.mode, self.device, self.prefetch = mode, device, max(1, prefetch)
        self.y = y.to(device)
        self.x = x.to(device) if mode == "device" else x
        self._pin = mode == "stream" and device.type == "cuda"

    def batches(self, order: torch.Tensor, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.mode != "stream":
            index_x = order.to(self.x.device)
            index_y = order.to(self.device)
            for i in range(0, len(order), batch_size):
                yield self.x[index_x[i : i + batch_size]], self.y[index_y[i : i + batch_size]]
            return
        yield from self._streamed(order, batch_size)

    def _gather(self, index: torch.Tensor) -> torch.Tensor:
        """The rows ``index`` (CPU) of the host images, in pinned memory when streaming to CUDA."""
        out = torch.empty((len(index), *self.x.shape[1:]), dtype=self.x.dtype, pin_memory=self._pin)
        return torch.index_select(self.x, 0, index, out=out)

    def _streamed(self, order: torch.Tensor, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        host_order, device_order = order.cpu(), order.to(self.device)
        starts = range(0, len(order), batch_size)
        ready: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        cuda = self.device.type == "cuda"

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def work() -> None:
            try:
                side = torch.cuda.Stream(self.device) if cuda else None
                for i in starts:
                    rows = self._gather(host_order[i : i + batch_size])
                    if cuda:
                        with torch.cuda.stream(side):
                            rows = rows.to(self.device, non_blocking=True)  # the caching host allocator keeps
                            done = torch.cuda.Event()  # the pinned buffer until this copy has finished
                            done.record(side)
                    else:
                        done = None
                    if not put((rows, done, None)):
                        return
            except BaseException as error:  # handed to the consumer, raised there
                put((None, None, error))

        worker = threading.Thread(target=work, name="pags-batches", daemon=True)
        worker.start()
        try:
            for i in starts:
                rows, done, error = ready.get()
                if error is not None:
                    raise error
                if cuda:
                    current = torch.cuda.current_stream(self.device)
                    current.wait_event(done)
                    rows.record_stream(current)  # its memory is not reused before this stream is done with it
                yield rows, self.y[device_order[i : i + batch_size]]
        finally:
            stop.set()
            worker.join()
