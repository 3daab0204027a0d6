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
