"""Maps divided by their max |.| or their norm give the same result at any scale: tiny
but nonzero maps (entries whose squares underflow, or subnormal entries) are not shrunk,
blown up or turned into NaN, and all-zero maps stay zero."""

import pytest
import torch
from pags.alignment import cosine, max_normalise
from pags.manifold.robustness import tangent_fraction

SHAPE = (2, 5, 5)


def maps(seed):
    return torch.randn(4, *SHAPE, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("scale", [1e-40, 1e-25, 1.0, 1e25])
def test_max_normalise_gives_peak_one_at_any_scale(scale):
    a = maps(0) * scale
    assert (a.flatten(1).abs().amax(1) > 0).all()
    peak = max_normalise(a).flatten(1).abs().amax(1)
    assert torch.equal(peak, torch.ones(4))  # a subnormal peak divided by itself is exactly 1
    if scale >= 1e-25:
        torch.testing.assert_close(max_normalise(a), max_normalise(maps(0)), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("scale", [1e-40, 1e-25, 1e25])
def test_cosine_does_not_depend_on_the_maps_scale(scale):
    a, b = maps(0), maps(1)
    torch.testing.assert_close(cosine(scale * a, scale * a), torch.ones(4), rtol=0, atol=1e-6)
    if scale >= 1e-25:  # subnormal maps keep only a few bits of each entry
        torch.testing.assert_close(cosine(scale * a, b), cosine(a, b), rtol=0, atol=1e-6)
        torch.testing.assert_close(cosine(scale * a, -scale * a), -torch.ones(4), rtol=0, atol=1e-6)


def test_cosine_with_an_all_zero_map_is_zero():
    assert torch.equal(cosine(torch.zeros(4, *SHAPE), maps(0)), torch.zeros(4))


@pytest.mark.parametrize("scale", [1e-30, 1e-20, 1e20])
def test_tangent_fraction_of_a_tiny_gradient_is_that_of_the_gradient(scale):
    g = maps(0)
    q = torch.linalg.qr(torch.randn(4, g[0].numel(), 3, generator=torch.Generator().manual_seed(2))).Q
    expected = tangent_fraction(g, q)
    assert ((expected > 0) & (expected < 1)).all()
    torch.testing.assert_close(tangent_fraction(scale * g, q), expected, rtol=1e-5, atol=0)
    assert tangent_fraction(torch.zeros_like(g), q).isnan().all()  # no gradient, no fraction
