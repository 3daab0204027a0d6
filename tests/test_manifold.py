"""Manifold machinery: Jacobians, tangent bases, on/off-manifold splits and robustness,
principal angles, and the autoencoder, each against a known answer."""

import math

import pytest
import torch
from pags.errors import DataError, TrainingDiverged
from pags.gradients import input_gradient
from pags.manifold import (
    Autoencoder,
    decoder_jacobian,
    decoder_jacobian_reference,
    load_autoencoder,
    on_off_manifold_change,
    orthonormalise,
    principal_angles,
    reconstruction_error,
    save_autoencoder,
    small_noise_ratio,
    split_on_off,
    tangent_basis,
    tangent_fraction,
    tangent_spaces,
    train_autoencoder,
)
from torch import nn

F64 = torch.float64
SHAPE = (3, 8, 8)
D = math.prod(SHAPE)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def random_bases(n, d, k, seed=0):
    """n orthonormal bases [n, d, k] of random k-dimensional subspaces."""
    return torch.linalg.qr(torch.randn(n, d, k, generator=gen(seed), dtype=F64))[0]


@pytest.fixture(scope="module")
def autoencoder():
    torch.manual_seed(0)
    return Autoencoder(SHAPE, latent_dim=5, width=4, activation="silu").double().eval()


# --- Jacobians and tangent bases -------------------------------------------------------


def test_forward_mode_jacobian_equals_the_per_pixel_backward_loop(autoencoder):
    z = torch.randn(3, 5, generator=gen(), dtype=F64)
    fast = decoder_jacobian(autoencoder.decoder, z)
    assert fast.shape == (3, D, 5)
    assert torch.allclose(fast, decoder_jacobian_reference(autoencoder.decoder, z), rtol=1e-10, atol=1e-12)


def test_forward_mode_jacobian_through_batchnorm_in_eval_mode():
    torch.manual_seed(1)
    decoder = nn.Sequential(
        nn.Linear(4, 2 * 4 * 4),
        nn.Unflatten(1, (2, 4, 4)),
        nn.BatchNorm2d(2),
        nn.ELU(),
        nn.ConvTranspose2d(2, 3, 4, stride=2, padding=1),
        nn.Sigmoid(),
    ).double()
    decoder[2].running_mean.uniform_(-1, 1)  # non-trivial statistics, so BN is not the identity
    decoder[2].running_var.uniform_(0.5, 2)
    decoder.eval()
    z = torch.randn(2, 4, generator=gen(), dtype=F64)
    assert torch.allclose(decoder_jacobian(decoder, z), decoder_jacobian_reference(decoder, z), rtol=1e-10, atol=1e-12)


def test_tangent_basis_is_orthonormal_and_spans_the_jacobian(autoencoder):
    z = torch.randn(4, 5, generator=gen(1), dtype=F64)
    J = decoder_jacobian(autoencoder.decoder, z)
    Q = tangent_basis(autoencoder.decoder, z)
    assert Q.shape == (4, D, 5)
    assert torch.allclose(Q.mT @ Q, torch.eye(5, dtype=F64).expand(4, 5, 5), atol=1e-12)
    # every column of J lies in span(Q), and vice versa (equal dimensions)
    assert (J - Q @ (Q.mT @ J)).abs().max() < 1e-12 * J.abs().max()
    assert principal_angles(Q, torch.linalg.qr(J)[0]).max() < 1e-6


def test_truncated_basis_keeps_the_most_stretched_directions():
    # J = diag-like map with singular values 3 > 2 > 1: rank 2 keeps the first two axes
    J = torch.zeros(1, 6, 3, dtype=F64)
    J[0, 4, 0], J[0, 1, 1], J[0, 2, 2] = 1.0, 3.0, 2.0
    Q, s = orthonormalise(J, rank=2)
    assert torch.allclose(s, torch.tensor([[3.0, 2.0, 1.0]], dtype=F64))
    assert principal_angles(Q, torch.eye(6, dtype=F64)[:, [1, 2]][None]).max() < 1e-12


def test_tangent_spaces_driver_matches_tangent_basis_in_any_chunking(autoencoder):
    x = torch.rand(5, *SHAPE, generator=gen(2), dtype=F64)
    Q1, s1 = tangent_spaces(autoencoder.encode, autoencoder.decode, x, chunk_size=2)
    Q5, s5 = tangent_spaces(autoencoder.encode, autoencoder.decode, x, chunk_size=5)
    with torch.no_grad():
        expected = tangent_basis(autoencoder.decode, autoencoder.encode(x))
    assert Q1.shape == (5, D, 5) and s1.shape == (5, 5)
    # bases are unique up to the signs of their columns: compare projections
    for Q in (Q1, Q5):
        assert torch.allclose(Q @ Q.mT, expected @ expected.mT, atol=1e-10)
    assert torch.allclose(s1, s5)
    half, _ = tangent_spaces(autoencoder.encode, autoencoder.decode, x, chunk_size=3, out_dtype=torch.float16)
    assert half.dtype == torch.float16


# --- on/off split, tangent fraction, principal angles -----------------------------------


def test_split_on_off_parts_are_orthogonal_sum_to_u_and_on_lies_in_span():
    Q = random_bases(4, D, 6)
    u = torch.randn(4, *SHAPE, generator=gen(3), dtype=F64)
    on, off = split_on_off(u, Q)
    assert on.shape == off.shape == u.shape
    assert torch.allclose(on + off, u, atol=1e-14)
    assert (on.flatten(1) * off.flatten(1)).sum(1).abs().max() < 1e-12
    on2, off2 = split_on_off(on, Q)  # projecting twice changes nothing
    assert torch.allclose(on2, on, atol=1e-13) and off2.abs().max() < 1e-13


def test_tangent_fraction_known_values():
    Q = random_bases(3, D, 4)
    in_span = (Q @ torch.randn(3, 4, 1, generator=gen(4), dtype=F64)).squeeze(-1)
    w = torch.randn(3, D, generator=gen(5), dtype=F64)
    orthogonal = w - split_on_off(w, Q)[0]
    assert torch.allclose(tangent_fraction(in_span, Q), torch.ones(3, dtype=F64))
    assert tangent_fraction(orthogonal, Q).abs().max() < 1e-24
    # equal norms on and off: half the squared norm on the manifold
    mixed = in_span / in_span.norm(dim=1, keepdim=True) + orthogonal / orthogonal.norm(dim=1, keepdim=True)
    assert torch.allclose(tangent_fraction(mixed.view(3, *SHAPE), Q), torch.full((3,), 0.5, dtype=F64))


def test_principal_angles_known_values():
    e = torch.eye(5, dtype=F64)
    Q = e[:, :2][None]
    assert principal_angles(Q, Q).abs().max() < 1e-12
    # a different basis of the same plane
    c, s = math.cos(1.0), math.sin(1.0)
    rotated_within = Q @ torch.tensor([[c, -s], [s, c]], dtype=F64)
    assert principal_angles(Q, rotated_within).abs().max() < 1e-7
    assert torch.allclose(principal_angles(Q, e[:, 2:4][None]), torch.full((1, 2), math.pi / 2, dtype=F64))
    for angle in (0.3, 1.2, 1e-9):  # 1e-9: arccos alone would return 0 (cos = 1 in float64)
        tilted = torch.stack([math.cos(angle) * e[0] + math.sin(angle) * e[2], e[1]], dim=1)[None]
        expected = torch.tensor([[0.0, angle]], dtype=F64)
        assert torch.allclose(principal_angles(Q, tilted), expected, rtol=1e-6, atol=1e-15)
    # subspaces of different dimensions: min(k1, k2) angles, symmetric in the arguments
    line = (math.cos(0.5) * e[0] + math.sin(0.5) * e[3])[:, None][None]
    for a, b in ((Q, line), (line, Q)):
        assert torch.allclose(principal_angles(a, b), torch.tensor([[0.5]], dtype=F64))
    # bases stored in half precision are promoted (no half-precision SVD)
    assert torch.allclose(principal_angles(Q.half(), tilted.half()), torch.tensor([[0.0, 1e-9]]), atol=1e-3)


# --- robustness of classifiers -------------------------------------------------------


class SubspaceModel(nn.Module):
    """Logits = W (U^T x): depends on x only through its projection onto span(U)."""

    def __init__(self, U, classes=4):
        super().__init__()
        self.register_buffer("U", U)
        self.linear = nn.Linear(U.shape[1], classes).double()
        with torch.no_grad():
            self.linear.weight.copy_(torch.randn(classes, U.shape[1], generator=gen(6), dtype=F64) * 3)

    def forward(self, x):
        return self.linear(x.flatten(1) @ self.U)


STEPS = [0.0, 0.5, 2.637]


def test_model_of_the_tangent_coordinates_is_exactly_off_manifold_robust():
    # Q spans six pixel axes: the off part is exactly zero there, so the change is exactly 0
    U = torch.eye(D, dtype=F64)[:, [0, 5, 17, 40, 99, 150]]
    x = torch.rand(7, *SHAPE, generator=gen(7), dtype=F64)
    change = on_off_manifold_change(SubspaceModel(U), x, U.expand(7, D, 6), STEPS, gen(8))
    assert change["on"].shape == change["off"].shape == (len(STEPS), 7)
    assert torch.equal(change["off"], torch.zeros(len(STEPS), 7, dtype=F64))
    assert torch.equal(change["on"][0], torch.zeros(7, dtype=F64))
    assert (change["on"][1:] > 0).all() and (change["on"][2] >= change["on"][1]).all()


def test_on_off_change_in_a_rotated_subspace_and_its_complement():
    Q = random_bases(1, D, 6, seed=9)[0]
    w = torch.randn(D, 6, generator=gen(10), dtype=F64)
    complement = torch.linalg.qr(w - Q @ (Q.T @ w))[0]  # 6 directions orthogonal to span(Q)
    x = torch.rand(5, *SHAPE, generator=gen(11), dtype=F64)
    bases = Q.expand(5, D, 6)
    on_model = on_off_manifold_change(SubspaceModel(Q), x, bases, STEPS, gen(12))
    assert on_model["off"].abs().max() < 1e-12 and (on_model["on"][1:] > 1e-6).all()
    # a model that reads only directions orthogonal to Q cannot see on-manifold moves
    off_model = on_off_manifold_change(SubspaceModel(complement), x, bases, STEPS, gen(12))
    assert off_model["on"].abs().max() < 1e-12 and (off_model["off"][1:] > 1e-6).all()


def test_on_off_change_does_not_depend_on_batching_and_follows_the_generator():
    U = random_bases(1, D, 6, seed=13)[0]
    model, x, Q = SubspaceModel(U), torch.rand(6, *SHAPE, generator=gen(14), dtype=F64), random_bases(6, D, 6, seed=15)
    big = on_off_manifold_change(model, x, Q, STEPS, gen(16), batch_size=1024)
    small = on_off_manifold_change(model, x, Q, STEPS, gen(16), batch_size=4)
    other = on_off_manifold_change(model, x, Q, STEPS, gen(17))
    for part in ("on", "off"):
        assert torch.allclose(big[part], small[part], atol=1e-14)
    assert not torch.equal(big["off"], other["off"])


def test_small_noise_ratio_tends_to_one_minus_the_tangent_fraction():
    torch.manual_seed(18)
    model = nn.Sequential(nn.Flatten(), nn.Linear(D, 16), nn.Tanh(), nn.Linear(16, 3)).double().eval()
    x = torch.rand(3, *SHAPE, generator=gen(19), dtype=F64)
    # bases of 7 random directions and one near the gradient: tangent fractions far from 0 and 1
    g = input_gradient(model, x, target="predicted").flatten(1)
    near_g = g / g.norm(dim=1, keepdim=True) + 0.1 * torch.randn(3, D, generator=gen(20), dtype=F64)
    Q = torch.linalg.qr(torch.cat([random_bases(3, D, 7, seed=21), near_g[..., None]], dim=2))[0]
    expected = 1 - tangent_fraction(g, Q)
    assert ((expected > 0.1) & (expected < 0.9)).all()

    def ratio(sigma):  # same generator seed: same standard-normal draws at every sigma
        return small_noise_ratio(model, x, Q, sigma, draws=4000, generator=gen(22), batch_size=2048)

    large, medium, small, tiny = ratio(1.0), ratio(1e-2), ratio(1e-4), ratio(1e-6)
    # the nonlinearity's effect vanishes as sigma -> 0 ...
    assert (tiny - small).abs().max() < 1e-3
    assert ((medium - tiny).abs() < (large - tiny).abs()).all()
    # ... leaving the first-order value, up to the Monte Carlo error of 4000 draws (sd ~0.01)
    assert torch.allclose(tiny, expected, atol=0.03)


# --- the autoencoder ------------------------------------------------------------------


def smooth_images(n, seed=0):
    """Images near a 12-dimensional manifold in [0, 1]: per channel, a random mix of four
    smooth zero-mean patterns around grey (clipped at the pixel range)."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 8), torch.linspace(0, 1, 8), indexing="ij")
    patterns = torch.stack([torch.sin(3 * xx), torch.cos(2 * yy), xx * yy, (xx - yy) ** 2])  # [4, 8, 8]
    patterns = patterns - patterns.mean((1, 2), keepdim=True)
    weights = torch.rand(n, 3, 4, generator=gen(seed)) * 2 - 1
    return (0.5 + 0.5 * (weights @ patterns.flatten(1)).view(n, 3, 8, 8)).clamp(0, 1)


def test_autoencoder_trains_deterministically_and_round_trips(tmp_path):
    x = smooth_images(64)
    model, history = train_autoencoder(x, latent_dim=4, width=8, epochs=10, batch_size=8, lr=1e-2, generator=gen(23))
    assert [h["epoch"] for h in history] == list(range(1, 11))
    assert history[-1]["loss"] < 0.85 * history[0]["loss"]
    # better than the best constant image (the mean), whose error is the pixel variance
    assert reconstruction_error(model, x) < 0.85 * x.var(0).mean().item()
    again, _ = train_autoencoder(x, latent_dim=4, width=4, epochs=1, batch_size=16, generator=gen(23))
    first, _ = train_autoencoder(x, latent_dim=4, width=4, epochs=1, batch_size=16, generator=gen(23))
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), first.state_dict().values()))

    path = tmp_path / "ae" / "model.pt"
    save_autoencoder(model, path)
    loaded = load_autoencoder(path)
    assert loaded.spec == model.spec and not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(x[:4]), model(x[:4]))
        assert torch.equal(loaded.encode(x[:4]), model.encode(x[:4]))


def test_autoencoder_accepts_uint8_pixels_and_reports_nan_and_bad_files(tmp_path):
    pixels = (smooth_images(16) * 255).to(torch.uint8)
    model, history = train_autoencoder(pixels, latent_dim=4, width=2, epochs=1, batch_size=8, generator=gen(24))
    assert math.isfinite(history[0]["loss"]) and model.spec["shape"] == [3, 8, 8]
    bad = smooth_images(16)
    bad[3, 0, 0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match="lr"):
        train_autoencoder(bad, latent_dim=4, width=2, epochs=1, batch_size=16, generator=gen(25))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(DataError):
        load_autoencoder(junk)
    with pytest.raises(ValueError, match="divisible by 4"):
        Autoencoder((3, 10, 8))
