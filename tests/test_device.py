"""A job that asked for a GPU gets one it can use, or stops at once saying what it found
and the fix; a job that asked for none runs where it can. CUDA is faked by patching
``torch.cuda``'s queries, so this runs on any machine."""

from __future__ import annotations

import warnings

import pytest
import torch
from pags.errors import DeviceError
from pags.runtime import gpu_requested, pick_device

GPU = {"gres": "gpu:1", "mem_mb": 16000}


@pytest.fixture
def cuda(monkeypatch):
    """A fake CUDA device of this torch's CUDA build: an A100 (8.0) with bfloat16."""
    monkeypatch.delenv("PAGS_DEVICE", raising=False)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA A100-SXM4-40GB")
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"])
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    return monkeypatch


@pytest.mark.parametrize(
    "resources, asked",
    [
        ({}, False),
        ({"mem_mb": 1000, "gpu": 0}, False),
        ({"gpu": 1}, True),
        ({"gres": "gpu:1"}, True),
        ({"gres": "gpu:a100:2"}, True),
        ({"gres": "tmpdisk:100"}, False),
        ({"gres": "tmpdisk:100,gpu:1"}, True),
    ],
)
def test_a_gpu_is_asked_for_by_gpu_or_gres(resources, asked):
    assert gpu_requested(resources) is asked


def test_a_job_that_asked_for_no_gpu_runs_on_the_cpu_without_one(monkeypatch):
    monkeypatch.delenv("PAGS_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device({"mem_mb": 1000}) == torch.device("cpu")
    assert pick_device() == torch.device("cpu")


def test_a_usable_gpu_is_used(cuda):
    assert pick_device(GPU, amp=True) == torch.device("cuda")


def test_a_job_that_asked_for_a_gpu_and_sees_none_stops_with_the_drivers_reason(cuda):
    def unavailable():
        warnings.warn(
            "CUDA initialization: The NVIDIA driver on your system is too old (found version 12040).", stacklevel=2
        )
        return False

    cuda.setattr(torch.cuda, "is_available", unavailable)
    cuda.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(DeviceError) as error:
        pick_device(GPU)
    message = str(error.value)
    assert "asked for a GPU" in message and "driver on your system is too old (found version 12040)" in message
    assert "CUDA 13.0" in message and "CUDA_VISIBLE_DEVICES='0'" in message
    assert "download.pytorch.org/whl/cu126" in message and "Fix:" in message


def test_a_cpu_only_torch_build_is_named(cuda):
    cuda.setattr(torch.version, "cuda", None)
    with pytest.raises(DeviceError, match="CPU-only build"):
        pick_device({"gpu": 1})


def test_a_compute_capability_without_kernels_stops_the_job(cuda):
    cuda.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))
    cuda.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100-SXM2-16GB")
    with pytest.raises(DeviceError, match=r"V100.*compute capability 7\.0.*sm_75"):
        pick_device(GPU)


def test_a_newer_minor_capability_runs_the_kernels_of_its_major_version(cuda):
    cuda.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 9))  # L4, L40S: sm_86 kernels run
    assert pick_device(GPU) == torch.device("cuda")


def test_amp_on_a_gpu_without_bfloat16_stops_the_job_naming_the_key(cuda):
    cuda.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    cuda.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    cuda.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert pick_device(GPU, amp=False) == torch.device("cuda")
    with pytest.raises(DeviceError, match=r"T4.*no bfloat16.*training\.amp: false"):
        pick_device(GPU, amp=True)


# ---- a device shared by the members of a group job ----------------------------------

GB = 10**9


class SharedDevice:
    """A simulated 80 GB GPU: ``mem_get_info`` reports what the jobs on it hold."""

    def __init__(self, total=80 * GB):
        self.total, self.held = total, []

    def mem_get_info(self, device=None):
        return self.total - sum(self.held), self.total


def group_splits(monkeypatch, split_bytes, members, cpus, threads):
    """``members`` trainings of one SLURM group (an allocation of ``cpus`` CPUs, ``threads``
    each) starting one after the other on one simulated 80 GB device, each keeping its
    split there if ``fits_on_device`` says so; returns their decisions and the device
    memory the kept splits hold."""
    from pags.batches import fits_on_device
    from pags.runtime import device_sharers

    device = SharedDevice()
    monkeypatch.setattr(torch.cuda, "mem_get_info", device.mem_get_info)
    sharers = device_sharers(threads, {"SLURM_CPUS_ON_NODE": str(cpus)})
    kept = []
    for _ in range(members):
        kept.append(fits_on_device(split_bytes, torch.device("cuda", 0), 0.5, sharers))
        if kept[-1]:
            device.held.append(split_bytes)
    return kept, sum(device.held)


def test_the_members_of_a_group_share_the_devices_memory_budget(monkeypatch):
    """Four ImageNet-64 trainings (15.7 GB split) in a group of 16 CPUs, 4 threads each,
    on an 80 GB GPU: each counts on a quarter, so none keeps the split there (it would
    take 15.7 of its 20 GB) and all decide alike: the splits never take more than half
    the device, whatever the order, and every member keeps its share for its model. Each
    deciding alone on the free memory, all four kept theirs: 62.8 of the 80 GB, leaving
    each training a fraction of what the first had counted on."""
    kept, held = group_splits(monkeypatch, int(15.7 * GB), members=4, cpus=16, threads=4)
    assert kept == [False] * 4 and held == 0
    kept, held = group_splits(monkeypatch, 5 * GB, members=4, cpus=16, threads=4)
    assert kept == [True] * 4 and held <= 40 * GB
    alone, held = group_splits(monkeypatch, int(15.7 * GB), members=4, cpus=4, threads=4)
    assert alone == [True] * 4 and held > 40 * GB, "what deciding alone on the free memory does"


@pytest.mark.parametrize(
    "env, threads, sharers",
    [
        ({"SLURM_CPUS_ON_NODE": "16"}, 4, 4),  # a group of four trainings
        ({"SLURM_CPUS_ON_NODE": "8"}, 8, 1),  # a job alone in its allocation
        ({"SLURM_CPUS_ON_NODE": "16"}, 5, 3),
        ({}, 4, 1),  # not in SLURM
    ],
)
def test_device_sharers_counts_the_members_that_fit_the_allocation(env, threads, sharers):
    from pags.runtime import device_sharers

    assert device_sharers(threads, env) == sharers
