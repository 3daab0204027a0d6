"""Networks that cannot take the data's images are found when the workflow is parsed.

The denoiser's explicit rule (``check_denoiser_shape``) is checked against the network
itself, a forward pass on the meta device over a grid of image sides and depths, so the
rule says exactly what the U-Net can and cannot take.
"""

from __future__ import annotations

import pags.preflight
import pytest
import torch
from pags.compatibility import check_forward
from pags.config import validated_config
from pags.errors import ConfigError
from pags.preflight import check_networks_run
from pags.score.denoiser import PreconditionedDenoiser, check_denoiser_shape
from torch import nn
from workflow_helpers import tiny_config


def denoiser_runs(shape: list[int], block_channels: list[int]) -> bool:
    spec = {
        "sigma_data": 0.5,
        "shape": shape,
        "block_channels": block_channels,
        "layers_per_block": 1,
        "num_classes": 0,
    }
    try:
        with torch.device("meta"):
            out = PreconditionedDenoiser(spec)(torch.zeros(2, *shape), torch.ones(2))
    except (RuntimeError, ValueError):
        return False
    return tuple(out.shape) == (2, *shape)


def rule_accepts(shape: list[int], block_channels: list[int]) -> bool:
    try:
        check_denoiser_shape(shape, block_channels, "sweep.x.score.denoiser")
    except ConfigError:
        return False
    return True


@pytest.mark.parametrize("blocks", [[16], [16, 32], [16, 32, 32], [16, 32, 32, 32], [4, 6], [8, 12]])
def test_the_denoiser_rule_agrees_with_the_network(blocks):
    for side in (6, 8, 12, 16, 20, 24):
        for shape in ([3, side, side], [1, side, 2 * side]):
            assert rule_accepts(shape, blocks) == denoiser_runs(shape, blocks), (shape, blocks)


def test_the_rule_names_the_key_and_the_sides():
    with pytest.raises(ConfigError) as e:
        check_denoiser_shape([3, 12, 12], [16, 32, 32, 32], "sweep.synthetic.score.denoiser")
    assert "'sweep.synthetic.score.denoiser.block_channels'" in str(e.value)
    assert "divisible by 8" in str(e.value) and "12x12" in str(e.value)


def test_check_forward_reports_a_failing_or_misshapen_network():
    def strided():
        return nn.Sequential(nn.Conv2d(1, 2, 3, stride=4), nn.Conv2d(2, 2, 3))

    with pytest.raises(ConfigError, match="'m.model': the toy cannot take \\(1, 5, 5\\) inputs"):
        check_forward(strided, (2, 1, 5, 5), (2, 2, 1, 1), key="m.model", what="toy", fix="bigger images")
    with pytest.raises(ConfigError, match="maps \\(1, 32, 32\\) inputs to \\(2, 6, 6\\), not \\(2, 1, 1\\)"):
        check_forward(strided, (2, 1, 32, 32), (2, 2, 1, 1), key="m.model", what="toy", fix="bigger images")
    check_forward(strided, (2, 1, 13, 13), (2, 2, 1, 1), key="m.model", what="toy", fix="bigger images")


def test_the_parse_time_probe_passes_images_through_each_configured_network(monkeypatch):
    """``pags.preflight.check_networks_run`` builds the config's classifiers (and, in
    sweeps, autoencoders) and pushes its data set's images through them: the tiny config's
    small CNN passes; a classifier that loses the class dimension is named by its key."""
    config = validated_config(tiny_config())
    check_networks_run(config)
    monkeypatch.setattr(pags.preflight, "build_model", lambda *args, **options: nn.Flatten())
    with pytest.raises(ConfigError, match=r"'distractor\.model': the classifier small_cnn maps \(1, 56, 28\) inputs"):
        check_networks_run(config)
