"""The alignment metrics' normalisation and the resizing of gradients to the score's side,
against answers derived by hand: each map is divided by its max |.| before the
similarity (SSIM then sees (v + 1) / 2 in [0, 1]), and shrinking 224 px gradients to 64 px
keeps their units and, when antialiased, averages fine stripes instead of sampling them."""

import math
from pathlib import Path

import pytest
import torch
from pags.alignment import cosine, max_normalise, similarities, ssim
from pags.resize import gradient_for_alignment, images_for_score, resize

C1 = (0.01 * 1.0) ** 2  # SSIM's luminance constant (K1 data_range)^2, data range 1


def constant(value, side=16):
    return torch.full((1, 1, side, side), float(value))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # shown as 0 against the zero map's 1/2: luminance (2 * 0 * 1/2 + C1) / (0 + 1/4 + C1)
        (-5.0, C1 / (0.25 + C1)),
        # shown as 1 against 1/2: (2 * 1 * 1/2 + C1) / (1 + 1/4 + C1)
        (3.0, (1 + C1) / (1.25 + C1)),
    ],
    ids=["negative", "positive"],
)
def test_ssim_compares_max_normalised_maps_shown_in_unit_range(value, expected):
    """Constant maps have no contrast or structure, so SSIM is its luminance term alone; a
    constant map of either sign is divided by its max |.| to +-1, then shown as (v + 1) / 2."""
    got = ssim(constant(value), constant(0.0)).item()
    assert got == pytest.approx(expected, rel=1e-3)


def test_cosine_is_that_of_the_flattened_maps():
    a = torch.tensor([[[[2.0, 0.0], [0.0, 0.0]]]])
    b = torch.tensor([[[[0.5, 0.5], [0.0, 0.0]]]])
    assert cosine(a, b).item() == pytest.approx(1 / math.sqrt(2), rel=1e-6)
    assert cosine(a, -b).item() == pytest.approx(-1 / math.sqrt(2), rel=1e-6)


def test_max_normalise_divides_each_map_by_its_own_peak():
    maps = torch.tensor([[[[2.0, -4.0]]], [[[0.5, 0.25]]]])
    assert torch.equal(max_normalise(maps), torch.tensor([[[[0.5, -1.0]]], [[[1.0, 0.5]]]]))


def stripes(side=224):
    """Columns 1, 0, 1, 0, ...: a pattern finer than the 64 px grid."""
    return ((torch.arange(side) + 1) % 2).float().expand(side, side)[None, None].clone()


def test_aliased_shrinking_samples_the_stripes_bilinearly():
    """Output column i reads input position 3.5 i + 1.25 (align_corners=False, 224 / 64 =
    3.5): fractions .25 and .75 between a 0 and a 1 column give 1/4, 1/4, 3/4, 3/4, ..."""
    out = gradient_for_alignment(stripes(), 64, "aliased")[0, 0, 0]
    position = 3.5 * torch.arange(64) + 1.25
    left = position.floor().long()
    frac = position - left
    column = (torch.arange(225) + 1) % 2
    expected = (1 - frac) * column[left] + frac * column[left + 1]
    assert torch.allclose(out, expected, atol=1e-6)
    assert set(expected[:4].tolist()) == {0.25, 0.75}


def test_antialiased_shrinking_averages_the_stripes():
    """The filter widened to the scale covers both column kinds: every output near their
    mean 1/2 (within the filter's edge weights), far from the aliased 1/4 and 3/4."""
    out = gradient_for_alignment(stripes(), 64, "antialiased")
    assert (out - 0.5).abs().max() < 0.05
    assert torch.equal(gradient_for_alignment(stripes(), 64), out)  # antialiased is the default


@pytest.mark.parametrize("how", ["antialiased", "aliased"])
def test_resizing_keeps_a_gradients_units(how):
    """A constant map stays the same constant: no factor of the area ratio."""
    out = gradient_for_alignment(torch.full((2, 3, 224, 224), -0.37), 64, how)
    assert out.shape == (2, 3, 64, 64)
    assert torch.allclose(out, torch.full_like(out, -0.37), atol=1e-6)


def test_images_for_score_read_uint8_as_pixels_in_unit_range():
    x = torch.full((1, 3, 224, 224), 51, dtype=torch.uint8)
    out = images_for_score(x)
    assert out.dtype == torch.float32 and out.shape == (1, 3, 64, 64)
    assert torch.allclose(out, torch.full_like(out, 0.2), atol=1e-6)


def test_resize_to_the_same_side_is_a_copy():
    v = torch.rand(1, 1, 8, 8)
    out = resize(v, 8)
    assert torch.equal(out, v) and out.data_ptr() != v.data_ptr()


def test_ssim_of_small_maps_uses_the_largest_odd_window_that_fits():
    """8 px maps get a 7 px window (SSIM's window must be odd and fit): a map against
    itself scores exactly 1, against an unrelated map less."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 1, 8, 8, generator=g), torch.randn(2, 1, 8, 8, generator=g)
    assert torch.allclose(ssim(a, a), torch.ones(2), atol=1e-6)
    assert (ssim(a, b) < 0.9).all()


class NotATensor:
    """An object a weights-only load must refuse to unpickle."""


@pytest.mark.slow  # builds AlexNet twice: seconds
def test_lpips_is_the_shipped_calibration_on_our_backbone_at_32_px(tmp_path):
    """Only the backbone is ours: LPIPS's linear heads (its calibration to human judgements)
    are the package's own v0.1 AlexNet weights; the metric is frozen in eval mode; maps
    under 32 px are compared as their bilinear enlargements to 32 px, larger ones as they
    are; and a backbone file holding anything but tensors is refused unread (a weights-only
    load)."""
    import pickle

    import lpips
    import torch.nn.functional as F
    import torchvision
    from pags.alignment import load_lpips, lpips_similarity
    from pags.weights import sha256_file

    path = tmp_path / "alexnet"
    torch.save(torchvision.models.alexnet().state_dict(), path)
    metric = load_lpips(path, sha256_file(path), "weights.alexnet")
    shipped = Path(lpips.__file__).parent / "weights" / "v0.1" / "alex.pth"
    shipped = torch.load(shipped, map_location="cpu", weights_only=True)
    state = metric.state_dict()
    assert len(shipped) == 5  # one head per AlexNet stage
    assert all(torch.equal(state[name], head) for name, head in shipped.items())
    assert not metric.training and not any(p.requires_grad for p in metric.parameters())

    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(2, 3, 16, 16, generator=g), torch.randn(2, 3, 16, 16, generator=g)
    enlarged = [F.interpolate(max_normalise(v), size=(32, 32), mode="bilinear", align_corners=False) for v in (a, b)]
    expected = 1 - metric(*enlarged).flatten()
    assert torch.allclose(lpips_similarity(metric)(a, b), expected, atol=1e-6)
    a, b = torch.randn(2, 3, 40, 40, generator=g), torch.randn(2, 3, 40, 40, generator=g)  # 32 px or more: as is
    expected = 1 - metric(max_normalise(a), max_normalise(b)).flatten()
    assert torch.allclose(lpips_similarity(metric)(a, b), expected, atol=1e-6)

    tampered = tmp_path / "alexnet_with_code"
    torch.save({**torch.load(path, weights_only=True), "extra": NotATensor()}, tampered)
    with pytest.raises(pickle.UnpicklingError):
        load_lpips(tampered, sha256_file(tampered), "weights.alexnet")


def test_ssim_is_wang_et_als_on_the_maps_shown_in_unit_range():
    """Gaussian window of std 1.5, population (not sample) covariances, data range 1, on
    (v / max |v| + 1) / 2 per map: skimage's SSIM with Wang et al.'s settings."""
    from skimage.metrics import structural_similarity

    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(2, 3, 16, 16, generator=g), 5 * torch.randn(2, 3, 16, 16, generator=g)
    shown = [((v / v.abs().amax((1, 2, 3), keepdim=True) + 1) / 2).double().numpy() for v in (a, b)]
    expected = [
        structural_similarity(
            x, y, data_range=1.0, channel_axis=0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        for x, y in zip(*shown)
    ]
    assert torch.allclose(ssim(a, b).double(), torch.tensor(expected, dtype=torch.float64), atol=1e-6)


def test_similarities_are_the_metric_of_every_pair_in_order():
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(5, 1, 4, 4, generator=g), torch.randn(5, 1, 4, 4, generator=g)
    expected = torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)
    for batch_size in (2, 256):
        got = similarities({"cosine": cosine}, a, b, batch_size=batch_size)["cosine"]
        assert torch.allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize(
    "bad", [torch.zeros(2, 8, 8), torch.zeros(1, 1, 8, 8, dtype=torch.int64)], ids=["3-d", "integer"]
)
def test_resize_takes_only_float_image_batches(bad):
    with pytest.raises(ValueError, match=r"float tensor \[B, C, H, W\]"):
        resize(bad, 4)
