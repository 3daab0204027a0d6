"""Relative noise robustness: known answers on a model that sees only half the image."""

import math

import pytest
import torch
from pags.datasets.distractor import signal_mask
from pags.noise_robustness import masked_noise_change, robustness_table, softmax_l1_change
from torch import nn

N, H, W = 12, 8, 4
STDS = [0.0, 0.1, 0.5, 1.0]


class TopHalfLinear(nn.Module):
    """Logits from the top half only: noise on the bottom half cannot change them."""

    def __init__(self, classes=3):
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(H // 2 * W, classes)

    def forward(self, x):
        return self.linear(x[:, :, : H // 2].flatten(1))


@pytest.fixture
def images():
    return torch.rand(N, 1, H, W, generator=torch.Generator().manual_seed(0))


def half_masks():
    top = signal_mask(torch.ones(N, dtype=torch.bool), (N, 1, H, W))
    return {"signal": top, "distractor": 1 - top}


def test_noise_on_the_unread_half_changes_nothing_and_on_the_read_half_something(images):
    changes = masked_noise_change(TopHalfLinear(), images, half_masks(), STDS, torch.Generator().manual_seed(0))
    assert changes["signal"].shape == changes["distractor"].shape == (len(STDS), N)
    assert torch.equal(changes["distractor"], torch.zeros(len(STDS), N))
    assert (changes["signal"][1:] > 0).all()
    # Larger noise moves the softmax further, on average.
    means = changes["signal"].mean(1)
    assert (means[1:].diff() > 0).all()


def test_zero_noise_changes_nothing(images):
    changes = masked_noise_change(TopHalfLinear(), images, half_masks(), [0.0], torch.Generator().manual_seed(0))
    for change in changes.values():
        assert torch.equal(change, torch.zeros(1, N))


def test_result_does_not_depend_on_the_batch_size(images):
    def run(batch_size):
        return masked_noise_change(
            TopHalfLinear(),
            images,
            half_masks(),
            STDS,
            torch.Generator().manual_seed(3),
            draws=2,
            batch_size=batch_size,
        )

    big, small = run(1024), run(5)
    for region in big:
        assert torch.allclose(big[region], small[region], atol=1e-6)


def test_noise_draws_follow_the_generator(images):
    def run(seed):
        return masked_noise_change(TopHalfLinear(), images, half_masks(), STDS, torch.Generator().manual_seed(seed))[
            "signal"
        ]

    assert torch.equal(run(1), run(1))
    assert not torch.equal(run(1), run(2))


def test_robustness_table_ratio_is_signal_over_distractor():
    changes = {
        "signal": torch.tensor([[0.2, 0.4], [0.0, 0.0], [1.0, 1.0]]),
        "distractor": torch.tensor([[0.1, 0.1], [0.0, 0.0], [0.0, 0.0]]),
    }
    table = robustness_table(changes, [0.1, 0.0, 0.5])
    assert table["noise_std"].tolist() == [0.1, 0.0, 0.5]
    assert table["signal_change"].tolist() == pytest.approx([0.3, 0.0, 1.0])
    assert table["ratio"][0] == pytest.approx(3.0)
    assert math.isnan(table["ratio"][1]) and math.isnan(table["ratio"][2])
    assert table["signal_sem"][0] == pytest.approx(0.1)  # std 0.1414 / sqrt(2)
    assert table["distractor_sem"][0] == 0


def test_robustness_table_sem_is_nan_for_a_single_image():
    table = robustness_table({"signal": torch.tensor([[0.5]]), "distractor": torch.tensor([[0.25]])}, [1.0])
    assert table["ratio"][0] == 2.0
    assert math.isnan(table["signal_sem"][0])


def test_softmax_l1_change_is_zero_for_identical_logits():
    logits = torch.randn(5, 10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(softmax_l1_change(logits, logits.clone()), torch.zeros(5))
    # Softmax ignores a constant shift of the logits.
    assert torch.allclose(softmax_l1_change(logits, logits + 3.0), torch.zeros(5), atol=1e-6)


def test_softmax_l1_change_is_at_most_two_and_reaches_it_for_disjoint_predictions():
    g = torch.Generator().manual_seed(0)
    a, b = 10 * torch.randn(100, 10, generator=g), 10 * torch.randn(100, 10, generator=g)
    change = softmax_l1_change(a, b)
    assert change.shape == (100,) and (change >= 0).all() and (change <= 2 + 1e-6).all()
    confident = torch.tensor([[100.0, 0.0], [0.0, 100.0]])
    assert torch.allclose(softmax_l1_change(confident[:1], confident[1:]), torch.tensor([2.0]))
