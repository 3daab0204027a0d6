"""The CPU counterpart of test_train.py's CUDA-only check that a training step never
waits for the device: on any machine, a step must not read a tensor's value back into
Python (``.item()``, ``bool``, ``float``, ``int``, ``.tolist()``, ``.numpy()``), each of
which is a host synchronisation on a GPU. Checked by making those reads raise during the
steps; what only a GPU shows (copies to the host inside torch's own kernels, cuDNN's
algorithm search) stays with the CUDA test."""

import contextlib
import dataclasses
import math

import pytest
import torch
from pags.objectives import make_objective
from pags.optim import LossSum
from pags.train import TrainStep
from test_train import CPU, PGD_OPTIONS, SETTINGS, generator, tiny_cnn, two_class_split

HOST_READS = ("item", "__bool__", "__float__", "__int__", "__index__", "tolist", "numpy")


@contextlib.contextmanager
def no_host_reads():
    """Within the block, any read of a tensor's value into Python raises."""

    def forbid(name):
        def read(self, *args, **kwargs):
            raise AssertionError(f"a training step read a tensor back to the host: Tensor.{name}")

        return read

    with pytest.MonkeyPatch.context() as patch:
        for name in HOST_READS:
            patch.setattr(torch.Tensor, name, forbid(name))
        yield


@pytest.mark.parametrize("name", ["standard", "gnorm", "smooth", "randsmooth", "pgd"])
def test_a_training_step_reads_nothing_back_to_the_host(name):
    options = {"gnorm": {"penalty_scale": 1.0}, "smooth": {"noise_std": 0.1}, "pgd": PGD_OPTIONS}.get(name, {})
    model = tiny_cnn()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    settings = dataclasses.replace(SETTINGS, augment="crop_flip", amp=True)
    step = TrainStep(model, make_objective(name, 0.5, options), optimizer, settings, CPU)
    data, g, losses = two_class_split(), generator(), LossSum(CPU)
    x, y = data.x[:16], data.y[:16]
    step(x, y, g)
    with no_host_reads():
        for _ in range(3):
            losses.add(step(x, y, g))
    assert losses.steps == 3 and math.isfinite(losses.mean(str, "none"))


def test_the_guard_sees_a_step_that_reads_its_loss():
    """A step that calls .item() on its loss, as a logging line might, is caught."""
    model = tiny_cnn()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    objective = make_objective("standard", 0, {})

    def logging_objective(model, x, y, g):
        loss = objective(model, x, y, g)
        math.isfinite(loss.item())
        return loss

    step = TrainStep(model, logging_objective, optimizer, SETTINGS, CPU)
    data = two_class_split()
    with no_host_reads(), pytest.raises(AssertionError, match="Tensor.item"):
        step(data.x[:16], data.y[:16], generator())
