"""Scores grad_x log p_sigma(x) of the data distribution behind one interface,
``score(x, sigma, labels) -> [B, C, H, W]``, from the backends of ``pags.score.backends``
(a pretrained EDM denoiser, the denoiser trained here, the synthetic data set's closed
form), and the Bayes-optimal input gradient grad_x log p_sigma(y | x) =
grad log p_sigma(x | y) - grad log p_sigma(x) (y the true label; ``score_difference``):
what a model's gradient should match where the score is dominated by class-independent
directions.

``x`` and ``sigma`` are in the units of the classifiers' inputs (pixels in [0, 1] for
image data sets), so scores and input gradients live in the same space. ``labels`` is
``None`` for the unconditional score and the classes for grad_x log p_sigma(x | y).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch


class ScoreFunction(Protocol):
    def __call__(self, x: torch.Tensor, sigma: float, labels: torch.Tensor | None) -> torch.Tensor: ...


def score_from_denoiser(denoised: torch.Tensor, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Tweedie's formula: grad log p_sigma(x) = (E[x0 | x] - x) / sigma^2, with
    ``denoised`` = D(x; sigma) the ideal denoiser's estimate of E[x0 | x]."""
    return (denoised - x) / sigma**2


def analytic_score(manifold) -> ScoreFunction:
    """The synthetic data set's exact score (``SyntheticManifold``), marginal or per class."""

    def score(x: torch.Tensor, sigma: float, labels: torch.Tensor | None) -> torch.Tensor:
        return manifold.score(x, sigma) if labels is None else manifold.class_score(x, sigma, labels)

    return score


def posterior_gradient(manifold) -> ScoreFunction:
    """grad_x log p_sigma(y | x) of the synthetic data set, in closed form; needs the labels."""
    return score_difference(analytic_score(manifold), analytic_score(manifold))


def score_difference(conditional: ScoreFunction, unconditional: ScoreFunction) -> ScoreFunction:
    """grad_x log p_sigma(y | x) = grad log p_sigma(x | y) - grad log p_sigma(x) (Bayes'
    rule; log p(y) has no x-gradient), from the two scores at the same x and sigma; needs
    the labels. Returns [B, C, H, W] in the scores' units."""

    def gradient(x: torch.Tensor, sigma: float, labels: torch.Tensor | None) -> torch.Tensor:
        if labels is None:
            raise ValueError("grad log p(y | x) needs the labels")
        return conditional(x, sigma, labels) - unconditional(x, sigma, None)

    return gradient


@torch.no_grad()
def batched_scores(
    score: ScoreFunction,
    x: torch.Tensor,
    sigma: float,
    labels: torch.Tensor | None,
    batch_size: int,
    device: torch.device,
    progress: Callable[[int], None] = lambda n: None,
) -> torch.Tensor:
    """The score at every image of ``x`` (floats), on ``device`` in batches; float32 on the CPU."""
    out = []
    for i in range(0, len(x), batch_size):
        y = None if labels is None else labels[i : i + batch_size].to(device)
        out.append(score(x[i : i + batch_size].to(device), sigma, y).float().cpu())
        progress(len(out[-1]))
    return torch.cat(out)
