"""Tangent spaces of the decoder's manifold {dec(z)} at images x.

At z = enc(x) the tangent space is span(J), J = d dec / d z (D x k, D = C*H*W pixels,
k latents). We compute J by forward-mode AD: one Jacobian-vector product J e_i per
latent direction e_i, all k of them vmapped into one batched pass through the decoder,
so the cost is about one decoder forward pass on k + 1 latents (the primal and the k
tangents) per image. Reverse mode would need D = 3072 backward passes per CIFAR image.

Method, compared with ``benchmarks/tangents.py`` (timings in benchmarks/RESULTS.md):
nested ``vmap`` (images) of ``vmap`` (latent directions) of ``jvp`` runs at about the
bound; ``jacfwd`` is the same computation; ``linearize`` then ``vmap`` is slower (it
re-traces the decoder per chunk); a hand-written layer-by-layer tangent propagation (one
batched conv per layer on [primal; tangents]) is no faster. So the generic
``torch.func`` route is used: it works for any decoder built from layers with
forward-mode rules (conv, linear, elementwise, BatchNorm in eval).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch
from torch.func import jvp, vmap

from ..datasets.store import to_float

Decoder = Callable[[torch.Tensor], torch.Tensor]  # [B, k] -> [B, C, H, W]


def decoder_jacobian(decoder: Decoder, z: torch.Tensor) -> torch.Tensor:
    """J[b] = d dec(z) / d z at z[b], flattened to [B, D, k], by forward mode.

    For each image, the k Jacobian-vector products J e_1 .. J e_k are one ``vmap`` over
    the rows of the identity; images are a second ``vmap``. The decoder must treat batch
    rows independently (eval mode for BatchNorm/Dropout).
    """
    k = z.shape[-1]
    basis = torch.eye(k, dtype=z.dtype, device=z.device)

    def columns(z1: torch.Tensor) -> torch.Tensor:  # [k] -> [k, D]: row i is J e_i
        def one(v: torch.Tensor) -> torch.Tensor:
            return jvp(lambda w: decoder(w.unsqueeze(0)).flatten(), (z1,), (v,))[1]

        return vmap(one)(basis)

    with torch.no_grad(), warnings.catch_warnings():  # forward mode needs no graph for the weights
        # torch's first forward-AD call scripts its jvp decompositions with the deprecated
        # torch.jit.script: a warning about torch's internals, not about this code.
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*deprecated", category=FutureWarning)
        return vmap(columns)(z).transpose(1, 2)


def decoder_jacobian_reference(decoder: Decoder, z: torch.Tensor) -> torch.Tensor:
    """The naive reverse-mode Jacobian, [B, D, k]: one backward pass per pixel d, giving
    row d (d dec_d / d z) for all images at once (rows of different images do not mix,
    so the gradient of the batch sum of pixel d is that pixel's row for every image).
    For tests and the benchmark only: D backward passes are slow."""
    z = z.detach().requires_grad_(True)
    with torch.enable_grad():
        out = decoder(z).flatten(1)  # [B, D]
        rows = []
        for d in range(out.shape[1]):
            (g,) = torch.autograd.grad(out[:, d].sum(), z, retain_graph=d + 1 < out.shape[1])
            rows.append(g)
    return torch.stack(rows, dim=1)


def orthonormalise(jacobian: torch.Tensor, rank: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal bases Q [B, D, r] of span(J) and J's singular values [B, k].

    SVD rather than QR (SVD costs a small part of the Jacobian's computation):
    its left singular vectors come ordered by how much the decoder stretches each
    direction, so truncating to ``rank`` < k keeps the best-determined directions, and
    the singular values reveal a rank-deficient decoder (e.g. dead ReLUs), where QR
    would silently fill the basis with directions set by rounding errors.
    """
    u, s, _ = torch.linalg.svd(jacobian, full_matrices=False)
    return (u if rank is None else u[..., :rank]), s


def tangent_basis(decoder: Decoder, z: torch.Tensor, rank: int | None = None) -> torch.Tensor:
    """Q [B, D, r] with orthonormal columns spanning the decoder's tangent space at z."""
    return orthonormalise(decoder_jacobian(decoder, z), rank)[0]


def tangent_spaces(
    encoder: Callable[[torch.Tensor], torch.Tensor],
    decoder: Decoder,
    x: torch.Tensor,
    chunk_size: int = 8,
    rank: int | None = None,
    out_dtype: torch.dtype | None = None,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tangent bases at many images x [N, C, H, W] (uint8 pixels or floats, on the models' device):
    Q [N, D, r] and the singular values [N, k] of J at enc(x), computed ``chunk_size``
    images at a time (memory ~ chunk_size * (k + 1) decoder activations).

    Results are collected on the CPU, optionally as ``out_dtype`` (float16 halves the
    1.5 MB per CIFAR image of a float32 basis of rank 128).
    """
    bases, values = [], []
    chunks = range(0, len(x), chunk_size)
    if progress:
        from tqdm import tqdm

        chunks = tqdm(chunks, total=math.ceil(len(x) / chunk_size), desc="tangent spaces", unit="chunk")
    for i in chunks:
        with torch.no_grad():
            xs = x[i : i + chunk_size]
            z = encoder(xs if xs.is_floating_point() else to_float(xs))  # keeps float64 as float64
        q, s = orthonormalise(decoder_jacobian(decoder, z), rank)
        bases.append(q.to("cpu", out_dtype or q.dtype))
        values.append(s.cpu())
    return torch.cat(bases), torch.cat(values)
