"""A synthetic data set whose manifold, score and Bayes-optimal classifier are known exactly.

Images are ``x = m + U z + tau * n`` with ``U = [U_s, U_d]`` (D x k, orthonormal columns
that are smooth image patterns), a class-dependent signal latent
``z_s | c ~ (1/J) sum_j N(mu_{c,j}, s^2 I)``, a class-independent distractor latent
``z_d ~ N(0, s_d^2 I)``, white noise ``n ~ N(0, I_D)`` and uniform classes.

Adding ``sigma * eps`` (eps ~ N(0, I_D)) keeps every component Gaussian:
``x | c, j ~ N(m + U_s mu_{c,j}, Sigma)`` with
``Sigma = s^2 U_s U_s^T + s_d^2 U_d U_d^T + v I``, ``v = tau^2 + sigma^2``. Since U is
orthonormal, Sigma is diagonal in the basis [U_s, U_d, U_perp] with variances
``v_s = s^2 + v``, ``v_d = s_d^2 + v`` and ``v``, so every density and score below needs
only the k coordinates ``a = U^T (x - m)`` and the off-manifold residual
``r = (x - m) - U a`` (Woodbury, without a D x D matrix). Consequences used by the
workflow: the tangent space is span(U); the posterior p(c|x) depends on x only through
``a_s = U_s^T (x - m)``, so the Bayes-optimal input gradient lies in span(U_s).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError, DataError
from .store import ImageSplit

F64 = torch.float64


def dct_modes(image_shape: tuple[int, int, int], count: int) -> torch.Tensor:
    """The ``count`` lowest-frequency orthonormal 2-D DCT-II patterns, one channel each.

    Returns D x count (float64), orthonormal columns; ordered by spatial frequency
    (u/H)^2 + (v/W)^2, ties broken by channel, then u, then v (so it is deterministic).
    """
    c, h, w = image_shape

    def dct_1d(n: int) -> torch.Tensor:  # [frequency, position], orthonormal rows
        i = torch.arange(n, dtype=F64)
        u = torch.arange(n, dtype=F64).view(-1, 1)
        basis = torch.cos(math.pi * (i + 0.5) * u / n) * math.sqrt(2.0 / n)
        basis[0] /= math.sqrt(2.0)
        return basis

    rows, cols = dct_1d(h), dct_1d(w)
    modes = sorted(((u / h) ** 2 + (v / w) ** 2, ch, u, v) for ch in range(c) for u in range(h) for v in range(w))[
        :count
    ]
    out = torch.zeros(count, c, h, w, dtype=F64)
    for index, (_, ch, u, v) in enumerate(modes):
        out[index, ch] = torch.outer(rows[u], cols[v])
    return out.reshape(count, -1).T.contiguous()


@dataclass
class SyntheticManifold:
    """All parameters of the data distribution (float64 tensors and plain numbers)."""

    image_shape: tuple[int, int, int]  # (C, H, W)
    basis: torch.Tensor  # U, [D, k_signal + k_distractor], orthonormal; signal columns first
    k_signal: int
    means: torch.Tensor  # mu, [n_classes, components, k_signal]
    mean_image: torch.Tensor  # m, [C, H, W]
    signal_std: float  # s
    distractor_std: float  # s_d
    noise_std: float  # tau
    seed: int = 0  # provenance only

    # ---- structure -------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.basis.shape[0]

    @property
    def k(self) -> int:
        return self.basis.shape[1]

    @property
    def n_classes(self) -> int:
        return self.means.shape[0]

    @property
    def components(self) -> int:
        return self.means.shape[1]

    def tangent_basis(self) -> torch.Tensor:
        """U (D x k): an orthonormal basis of the exact tangent space (the same at every x)."""
        return self.basis

    def signal_basis(self) -> torch.Tensor:
        """U_s (D x k_signal): the directions that carry the class."""
        return self.basis[:, : self.k_signal]

    def distractor_basis(self) -> torch.Tensor:
        """U_d (D x k_distractor): the class-independent directions."""
        return self.basis[:, self.k_signal :]

    def to(self, device: torch.device | str) -> SyntheticManifold:
        return dataclasses.replace(
            self, basis=self.basis.to(device), means=self.means.to(device), mean_image=self.mean_image.to(device)
        )

    # ---- saving ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain tensors and numbers: saves with ``pags.io.save_torch``, loads with weights_only."""
        return {
            "image_shape": list(self.image_shape),
            "basis": self.basis.cpu(),
            "k_signal": self.k_signal,
            "means": self.means.cpu(),
            "mean_image": self.mean_image.cpu(),
            "signal_std": self.signal_std,
            "distractor_std": self.distractor_std,
            "noise_std": self.noise_std,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: dict) -> SyntheticManifold:
        fields = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, dict) or set(data) != fields:
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise DataError(f"not a synthetic manifold: expected keys {sorted(fields)}, got {got}")
        manifold = cls(**{**data, "image_shape": tuple(int(s) for s in data["image_shape"])})
        d = math.prod(manifold.image_shape)
        if (
            manifold.basis.shape[0] != d
            or manifold.means.shape[-1] != manifold.k_signal
            or tuple(manifold.mean_image.shape) != manifold.image_shape
        ):
            raise DataError(f"synthetic manifold has inconsistent shapes for images {manifold.image_shape}")
        return manifold

    # ---- sampling --------------------------------------------------------------------
    def sample(self, n: int, generator: torch.Generator) -> ImageSplit:
        """n i.i.d. images (float32) with labels; extras: ``z`` (float32 [n, k]) and
        ``component`` (int64 [n], the mixture component within the class)."""
        g = generator
        y = torch.randint(self.n_classes, (n,), generator=g)
        component = torch.randint(self.components, (n,), generator=g)
        means = self.means.cpu()[y, component]
        z_s = means + self.signal_std * torch.randn(n, self.k_signal, generator=g, dtype=F64)
        z_d = self.distractor_std * torch.randn(n, self.k - self.k_signal, generator=g, dtype=F64)
        z = torch.cat([z_s, z_d], dim=1)
        noise = self.noise_std * torch.randn(n, self.dim, generator=g, dtype=F64)
        x = self.mean_image.cpu().reshape(1, -1) + z @ self.basis.cpu().T + noise
        x = x.reshape(n, *self.image_shape).float()
        return ImageSplit(x, y, {"z": z.float(), "component": component})

    # ---- closed forms ----------------------------------------------------------------
    def _variances(self, sigma: float) -> tuple[float, float, float]:
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
        v = self.noise_std**2 + sigma**2
        return self.signal_std**2 + v, self.distractor_std**2 + v, v

    def _coordinates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(a_s [B, k_s], a_d [B, k_d], r [B, D]) in float64 for images x [B, C, H, W]."""
        if tuple(x.shape[1:]) != self.image_shape:
            c, h, w = self.image_shape
            raise ValueError(f"images must have shape [B, {c}, {h}, {w}], got {tuple(x.shape)}")
        basis = self.basis.to(x.device, F64)
        centred = x.to(F64).reshape(x.shape[0], -1) - self.mean_image.to(x.device, F64).reshape(1, -1)
        a = centred @ basis
        residual = centred - a @ basis.T  # the off-manifold part, computed directly (no cancellation)
        return a[:, : self.k_signal], a[:, self.k_signal :], residual

    def _component_logits(self, a_s: torch.Tensor, v_s: float) -> torch.Tensor:
        """-||a_s - mu_{c,j}||^2 / (2 v_s), [B, n_classes, components]."""
        diff = a_s[:, None, None, :] - self.means.to(a_s.device, F64)[None]
        return -0.5 * diff.square().sum(-1) / v_s

    def log_likelihood(self, x: torch.Tensor, sigma: float = 0.0) -> torch.Tensor:
        """log p_sigma(x | c), [B, n_classes], in x's dtype (computed in float64)."""
        v_s, v_d, v = self._variances(sigma)
        a_s, a_d, r = self._coordinates(x)
        k_s, k_d = a_s.shape[1], a_d.shape[1]
        # Class-independent part: distractor and off-manifold Gaussians, and normalisers.
        shared = (
            -0.5 * a_d.square().sum(1) / v_d
            - 0.5 * r.square().sum(1) / v
            - 0.5 * (k_s * math.log(v_s) + k_d * math.log(v_d) + (self.dim - self.k) * math.log(v))
            - 0.5 * self.dim * math.log(2 * math.pi)
        )
        signal = torch.logsumexp(self._component_logits(a_s, v_s), dim=2) - math.log(self.components)
        return (signal + shared[:, None]).to(x.dtype)

    def log_density(self, x: torch.Tensor, sigma: float = 0.0) -> torch.Tensor:
        """log p_sigma(x) = log (1/n_classes) sum_c p_sigma(x | c), [B]."""
        joint = self.log_likelihood(x.to(F64), sigma) - math.log(self.n_classes)
        return torch.logsumexp(joint, dim=1).to(x.dtype)

    def posterior_logits(self, x: torch.Tensor, sigma: float = 0.0) -> torch.Tensor:
        """log p_sigma(c | x), [B, n_classes] (normalised); sigma = 0 gives the Bayes posterior.

        Only the signal term depends on c, so only a_s = U_s^T (x - m) enters."""
        v_s, _, _ = self._variances(sigma)
        a_s, _, _ = self._coordinates(x)
        per_class = torch.logsumexp(self._component_logits(a_s, v_s), dim=2)
        return torch.log_softmax(per_class, dim=1).to(x.dtype)

    def _score(self, x: torch.Tensor, sigma: float, classes: torch.Tensor | None) -> torch.Tensor:
        """-Sigma^{-1} (x - m - U_s E_w[mu]), with w the component responsibilities
        (over all components, or within ``classes`` [B])."""
        v_s, v_d, v = self._variances(sigma)
        a_s, a_d, r = self._coordinates(x)
        logits = self._component_logits(a_s, v_s)  # [B, n_classes, components]
        if classes is not None:
            logits = logits[torch.arange(x.shape[0], device=x.device), classes.to(x.device)][:, None]
            means = self.means.to(x.device, F64)[classes.to(x.device)][:, None]  # [B, 1, J, k_s]
        else:
            means = self.means.to(x.device, F64)[None]  # [1, n_classes, J, k_s]
        w = torch.softmax(logits.flatten(1), dim=1).view_as(logits)
        mean_mu = (w[..., None] * means).sum(dim=(1, 2))  # [B, k_s]
        coords = torch.cat([(a_s - mean_mu) / v_s, a_d / v_d], dim=1)
        score = -(coords @ self.basis.to(x.device, F64).T + r / v)
        return score.reshape(x.shape).to(x.dtype)

    def score(self, x: torch.Tensor, sigma: float = 0.0) -> torch.Tensor:
        """grad_x log p_sigma(x) of the marginal (all classes and components), [B, C, H, W]."""
        return self._score(x, sigma, None)

    def class_score(self, x: torch.Tensor, sigma: float, c: int | torch.Tensor) -> torch.Tensor:
        """grad_x log p_sigma(x | c), [B, C, H, W]; ``c`` is one class or one per image."""
        classes = torch.as_tensor(c, dtype=torch.int64, device=x.device)
        return self._score(x, sigma, classes.expand(x.shape[0]) if classes.ndim == 0 else classes)


def make_manifold(
    image_shape: tuple[int, int, int] = (3, 16, 16),
    k_signal: int = 8,
    k_distractor: int = 8,
    n_classes: int = 10,
    components: int = 3,
    signal_std: float = 0.45,
    distractor_std: float = 0.75,
    noise_std: float = 0.01,
    separation: float = 0.75,
    seed: int = 0,
    mean: float = 0.5,
) -> SyntheticManifold:
    """Draw U and the component means from ``seed``.

    U = B Q: B holds the 2k lowest-frequency DCT patterns (smooth by construction), Q is a
    random 2k x k orthonormal matrix, so span(U) is a random k-dimensional subspace of that
    band rather than a set of pure cosines. The signal means are mu_{c,j} = separation * g,
    g ~ N(0, I_{k_signal}). Latent stds are along unit-norm patterns: a pixel's std is
    about sqrt((k_s (s^2 + separation^2) + k_d s_d^2) / D).
    """
    image_shape = tuple(int(s) for s in image_shape)
    d, k = math.prod(image_shape), k_signal + k_distractor
    checks = [
        (len(image_shape) == 3 and min(image_shape) >= 1, "image_shape must be (C, H, W) with positive sizes"),
        (k_signal >= 1 and k_distractor >= 0, "k_signal must be >= 1 and k_distractor >= 0"),
        (k <= d, f"k_signal + k_distractor = {k} exceeds the image dimension {d}"),
        (n_classes >= 2 and components >= 1, "n_classes must be >= 2 and components >= 1"),
        (signal_std >= 0 and distractor_std >= 0, "signal_std and distractor_std must be >= 0"),
        (noise_std > 0, "noise_std must be > 0 (with no off-manifold noise the density is singular)"),
        (separation > 0, "separation must be > 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"synthetic data set: {message}")
    g = torch.Generator().manual_seed(seed)
    band = dct_modes(image_shape, min(d, 2 * k))
    q, rr = torch.linalg.qr(torch.randn(band.shape[1], k, generator=g, dtype=F64))
    q = q * torch.sign(torch.diagonal(rr))  # the unique QR with positive diag(R): same U on any LAPACK
    means = separation * torch.randn(n_classes, components, k_signal, generator=g, dtype=F64)
    return SyntheticManifold(
        image_shape=image_shape,
        basis=band @ q,
        k_signal=k_signal,
        means=means,
        mean_image=torch.full(image_shape, float(mean), dtype=F64),
        signal_std=float(signal_std),
        distractor_std=float(distractor_std),
        noise_std=float(noise_std),
        seed=int(seed),
    )


class BayesOptimal(nn.Module):
    """The Bayes-optimal classifier of a synthetic manifold: logits log p_sigma(c | x).

    Differentiable (autograd); its input gradient lies in span(U_s) exactly. sigma > 0 gives
    the Bayes-optimal classifier for inputs with added N(0, sigma^2 I) noise.
    """

    def __init__(self, manifold: SyntheticManifold, sigma: float = 0.0):
        super().__init__()
        self.manifold = manifold
        self.sigma = float(sigma)
        # No buffers: .float()/.half() must not round the float64 parameters. The copy on
        # the input's device is cached, so a GPU forward pass copies them once.
        self._on_device = manifold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._on_device.basis.device != x.device:
            self._on_device = self.manifold.to(x.device)
        return self._on_device.posterior_logits(x, self.sigma)
