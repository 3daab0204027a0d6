"""A denoiser trained by the workflow, with EDM's preconditioning and noise sampling
(Karras et al. 2022, Table 1), for data sets without a pretrained one.

D(x; sigma) = c_skip x + c_out F(c_in x, c_noise), with
c_skip = sd^2 / (sigma^2 + sd^2), c_out = sigma sd / sqrt(sigma^2 + sd^2),
c_in = 1 / sqrt(sigma^2 + sd^2), c_noise = ln(sigma) / 4, sd = the data's std; trained on
ln sigma ~ N(p_mean, p_std^2) with loss weight (sigma^2 + sd^2) / (sigma sd)^2, so every
noise level contributes a unit-scale loss. F is diffusers' ``UNet2DModel``.

Trained with label dropout (a class-conditional denoiser whose labels are replaced by a
null class, index ``num_classes``, with probability ``label_dropout``, as in
classifier-free guidance, Ho & Salimans 2022), one network gives both the class-conditional
score (the label) and the unconditional one (the null class), so their difference
estimates grad log p(y | x) (``pags.score.score_difference``).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from ..checkpoint import Checkpoint
from ..datasets.store import to_float
from ..errors import ConfigError
from ..models import load_network, save_model
from ..optim import minimise_with_adam
from . import ScoreFunction, score_from_denoiser


def norm_groups(block_channels: list[int]) -> int:
    """Groups of the U-Net's group norms: up to 8, fewer only for a thinner first block."""
    return min(8, block_channels[0])


def check_denoiser_shape(image_shape: list[int], block_channels: list[int], key: str) -> None:
    """Raise one ``ConfigError`` naming ``key`` (the ``denoiser`` config section) if the
    U-Net cannot take [C, H, W] images: with n blocks it halves the sides n - 1 times and
    concatenates each upsampled map with its skip, so H and W must be divisible by
    2^(n - 1); and each block's channels must be divisible by its group norm's groups."""
    stages = 2 ** (len(block_channels) - 1)
    _, height, width = image_shape
    if height % stages or width % stages:
        raise ConfigError(
            f"config key '{key}.block_channels': {len(block_channels)} blocks halve the image sides "
            f"{len(block_channels) - 1} times, so they must be divisible by {stages}; the images are {height}x{width}. "
            "Fix: use fewer blocks, or images whose sides are divisible by 2^(blocks - 1)."
        )
    groups = norm_groups(block_channels)
    if any(c % groups for c in block_channels):
        raise ConfigError(
            f"config key '{key}.block_channels': {block_channels} are not all divisible by the {groups} groups "
            "of the group norm. Fix: use multiples of 8 (or of the first block's channels, if below 8)."
        )


class PreconditionedDenoiser(nn.Module):
    def __init__(self, spec: dict[str, Any]):
        from diffusers import UNet2DModel

        super().__init__()
        self.spec = spec
        self.sigma_data = spec["sigma_data"]
        self.null_class = bool(spec.get("null_class", False))
        channels, size = spec["shape"][0], spec["shape"][1:]
        blocks = len(spec["block_channels"])
        self.net = UNet2DModel(
            sample_size=tuple(size),
            in_channels=channels,
            out_channels=channels,
            block_out_channels=tuple(spec["block_channels"]),
            layers_per_block=spec["layers_per_block"],
            down_block_types=("DownBlock2D",) * blocks,
            up_block_types=("UpBlock2D",) * blocks,
            norm_num_groups=norm_groups(spec["block_channels"]),
            # one more embedding, the null class, for a denoiser trained with label dropout
            num_class_embeds=(spec["num_classes"] + self.null_class) or None,
            add_attention=False,  # the mid block's self-attention costs more than it gives at these sizes
        )

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """D(x; sigma) for images x [B, C, H, W] and noise levels sigma [B]; ``labels``
        [B] for a class-conditional denoiser, None for the null class of one with it."""
        if labels is None and self.null_class:
            labels = torch.full((len(x),), self.spec["num_classes"], dtype=torch.long, device=x.device)
        sd, s = self.sigma_data, sigma.view(-1, 1, 1, 1).to(x.dtype)
        c_skip = sd**2 / (s**2 + sd**2)
        c_out = s * sd / (s**2 + sd**2).sqrt()
        c_in = 1 / (s**2 + sd**2).sqrt()
        c_noise = sigma.log().flatten() / 4
        return c_skip * x + c_out * self.net(c_in * x, c_noise, class_labels=labels).sample


def denoiser_score(model: PreconditionedDenoiser) -> ScoreFunction:
    """The denoiser's score by Tweedie's formula: class-conditional with ``labels``,
    unconditional without (a conditional denoiser needs its null class for that)."""

    def score(x: torch.Tensor, sigma: float, labels: torch.Tensor | None) -> torch.Tensor:
        conditional = bool(model.spec["num_classes"])
        if (labels is not None and not conditional) or (labels is None and conditional and not model.null_class):
            raise ValueError("the denoiser's conditioning does not match the requested score's")
        sigmas = torch.full((len(x),), sigma, dtype=x.dtype, device=x.device)
        return score_from_denoiser(model(x, sigmas, labels), x, sigma)

    return score


def train_denoiser(
    x_train: torch.Tensor,
    y_train: torch.Tensor | None,
    num_classes: int,
    block_channels: list[int],
    layers_per_block: int,
    epochs: int,
    batch_size: int,
    lr: float,
    p_mean: float,
    p_std: float,
    generator: torch.Generator,
    device: torch.device,
    label_dropout: float = 0.0,
    ema_halflife: float | None = None,
    checkpoint: Checkpoint | None = None,
) -> tuple[PreconditionedDenoiser, list[dict[str, float]]]:
    """Adam on EDM's weighted denoising loss; class-conditional when ``y_train`` is given,
    with each label replaced by the null class with probability ``label_dropout`` (> 0:
    the denoiser also gives the unconditional score). With ``ema_halflife`` (in training
    images) the denoiser returned is the exponential moving average of the weights, as
    EDM's: after each step, ema = b ema + (1 - b) weights with b = 0.5^(batch / h),
    h = min(ema_halflife, EMA_RAMPUP * images seen), so early weights are soon forgotten.

    Deterministic given ``generator`` (on ``device``): it seeds the weights, the order,
    the noise levels and the noise. Saved to ``checkpoint`` (the average included) each
    epoch and on a stop signal, and resumed from it to the same denoiser
    (``pags.optim.run_epochs``)."""
    x_all = x_train.to(device)
    sigma_data = to_float(x_all[:4096]).std().item()
    spec = {
        "shape": list(x_train.shape[1:]),
        "sigma_data": sigma_data,
        "block_channels": list(block_channels),
        "layers_per_block": layers_per_block,
        "num_classes": num_classes if y_train is not None else 0,
        "null_class": y_train is not None and label_dropout > 0,
    }
    seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = PreconditionedDenoiser(spec)
    model.to(device).train()
    y_all = None if y_train is None else y_train.to(device)
    ema = None if ema_halflife is None else AveragedModel(model, avg_fn=ema_average(ema_halflife, batch_size))

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        x = to_float(x_all[idx])
        sigma = (p_mean + p_std * torch.randn(len(x), generator=generator, device=device)).exp()
        noise = torch.randn(x.shape, generator=generator, device=device) * sigma.view(-1, 1, 1, 1)
        weight = (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2
        labels = None if y_all is None else y_all[idx]
        if labels is not None and spec["null_class"]:
            dropped = torch.rand(len(x), generator=generator, device=device) < label_dropout
            labels = labels.masked_fill(dropped, num_classes)
        denoised = model(x + noise, sigma, labels)
        return (weight.view(-1, 1, 1, 1) * (denoised - x).square()).mean()

    fix = "lower score.denoiser.lr"
    history = minimise_with_adam(
        model,
        len(x_all),
        batch_loss,
        epochs,
        batch_size,
        lr,
        generator,
        "denoiser",
        fix,
        checkpoint=checkpoint,
        average=ema,
    )
    return (model if ema is None else ema.module).eval(), history


# EDM's ema_rampup_ratio: the half-life is at most this fraction of the images seen so far.
EMA_RAMPUP = 0.05


def ema_average(halflife: float, batch_size: int):
    """``AveragedModel``'s ``avg_fn`` for EDM's ramped exponential moving average: the
    update after the ``n``-th average (n = number averaged so far, one per step)."""

    def average(averaged: torch.Tensor, current: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        h = min(halflife, EMA_RAMPUP * (int(n) + 1) * batch_size)
        beta = 0.5 ** (batch_size / max(h, 1e-8))
        return beta * averaged + (1 - beta) * current

    return average


@torch.no_grad()
def denoising_error(
    model: PreconditionedDenoiser,
    x: torch.Tensor,
    y: torch.Tensor | None,
    sigma: float,
    generator: torch.Generator,
    batch_size: int = 500,
) -> tuple[float, float]:
    """(mean squared error per pixel of D(x + n; sigma), that of the noisy input x + n)."""
    device = next(model.parameters()).device
    model_err = input_err = 0.0
    for i in range(0, len(x), batch_size):
        xb = to_float(x[i : i + batch_size].to(device))
        noisy = xb + sigma * torch.randn(xb.shape, generator=generator, device=device)
        sigmas = torch.full((len(xb),), sigma, device=device)
        labels = None if y is None or not model.spec["num_classes"] else y[i : i + batch_size].to(device)
        model_err += (model(noisy, sigmas, labels) - xb).square().sum().item()
        input_err += (noisy - xb).square().sum().item()
    pixels = x[0].numel() * len(x)
    return model_err / pixels, input_err / pixels


def save_denoiser(model: PreconditionedDenoiser, path: str | os.PathLike) -> None:
    save_model(model, dict(model.spec), path)


def load_denoiser(path: str | os.PathLike) -> PreconditionedDenoiser:
    return load_network(path, PreconditionedDenoiser, "denoiser", "train_denoiser")
