"""A convolutional autoencoder whose decoder parametrises the data manifold.

x [C, H, W] --encoder--> z [k] --decoder--> x_hat [C, H, W], trained on the mean squared
error ||x - dec(enc(x))||^2 / D with Adam. The decoder's image {dec(z)} is the estimated
manifold; its Jacobian at enc(x) spans the estimated tangent space (see ``tangents``).

The decoder is a plain ``nn.Sequential`` of linear maps (Linear, ConvTranspose2d,
Conv2d, Unflatten) and elementwise activations: every layer is one for which forward-mode
AD is exact and cheap, which ``tangents`` exploits.
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch
from torch import nn

from ..checkpoint import Checkpoint
from ..datasets.store import to_float
from ..models import load_network, save_model
from ..optim import minimise_with_adam

ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "elu": nn.ELU, "softplus": nn.Softplus}
OUTPUTS = {"sigmoid": nn.Sigmoid, "identity": nn.Identity}


class Autoencoder(nn.Module):
    """Encoder: conv (stride 1) and two stride-2 convs (H -> H/4), then a linear map to
    ``latent_dim``. Decoder: the mirror image, with transposed convs, then ``output``
    (sigmoid for images in [0, 1]; identity for unbounded data).

    Channels are ``width``, ``2 * width``, ``4 * width`` from the image side inwards.
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        latent_dim: int = 128,
        width: int = 32,
        activation: str = "relu",
        output: str = "sigmoid",
    ):
        super().__init__()
        c, h, w = shape
        if h % 4 or w % 4:
            raise ValueError(f"image height and width must be divisible by 4, got {h}x{w}")
        act = ACTIVATIONS[activation]
        inner = (4 * width, h // 4, w // 4)
        self.shape, self.latent_dim = (c, h, w), latent_dim
        # what ``build_autoencoder`` needs to rebuild this model (saved with the weights)
        self.spec = {
            "shape": [c, h, w],
            "latent_dim": latent_dim,
            "width": width,
            "activation": activation,
            "output": output,
        }
        self.encoder = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1),
            act(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
            act(),
            nn.Conv2d(2 * width, 4 * width, 4, stride=2, padding=1),
            act(),
            nn.Flatten(),
            nn.Linear(math.prod(inner), latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, math.prod(inner)),
            act(),
            nn.Unflatten(1, inner),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, stride=2, padding=1),
            act(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),
            act(),
            nn.Conv2d(width, c, 3, padding=1),
            OUTPUTS[output](),
        )

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, H, W] -> [B, k]"""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """[B, k] -> [B, C, H, W]"""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def build_autoencoder(spec: dict[str, Any]) -> Autoencoder:
    """``spec``: shape [C, H, W], latent_dim, width, and optionally activation, output."""
    return Autoencoder(
        tuple(spec["shape"]),
        spec["latent_dim"],
        spec["width"],
        spec.get("activation", "relu"),
        spec.get("output", "sigmoid"),
    )


def train_autoencoder(
    x_train: torch.Tensor,
    latent_dim: int = 128,
    width: int = 32,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    activation: str = "relu",
    output: str = "sigmoid",
    checkpoint: Checkpoint | None = None,
) -> tuple[Autoencoder, list[dict[str, float]]]:
    """Minimise mean ||x - dec(enc(x))||^2 / D over ``x_train`` [N, C, H, W] (uint8 pixels or
    floats) with Adam. Returns (model in eval mode, per-epoch history).

    Deterministic given ``generator`` (a generator on ``device``): it seeds the weight
    initialisation and the shuffling. The data stay on the device; uint8 images are
    converted per batch (a quarter of the memory of floats). Saved to ``checkpoint`` each
    epoch and on a stop signal, and resumed from it to the same weights
    (``pags.optim.run_epochs``).
    """
    device = torch.device(device)
    if generator is None:
        generator = torch.Generator(device=device).manual_seed(0)
    # Initialise from the generator, not the global RNG: same generator, same model.
    seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Autoencoder(tuple(x_train.shape[1:]), latent_dim, width, activation, output)
    model.to(device).train()
    x_all = x_train.to(device)

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        x = to_float(x_all[idx])
        return nn.functional.mse_loss(model(x), x)

    fix = "lower the autoencoder's lr, or check the data"
    history = minimise_with_adam(
        model, len(x_all), batch_loss, epochs, batch_size, lr, generator, "autoencoder", fix, checkpoint=checkpoint
    )
    return model.eval(), history


@torch.no_grad()
def reconstruction_error(model: Autoencoder, x: torch.Tensor, batch_size: int = 500) -> float:
    """Mean squared error per pixel on ``x`` (uint8 or float), in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    for i in range(0, len(x), batch_size):
        xb = to_float(x[i : i + batch_size].to(device))
        total += nn.functional.mse_loss(model(xb), xb, reduction="sum").item()
    return total / x[0].numel() / len(x)


def save_autoencoder(model: Autoencoder, path: str | os.PathLike) -> None:
    save_model(model, dict(model.spec), path)


def load_autoencoder(path: str | os.PathLike) -> Autoencoder:
    """Load with ``weights_only=True`` (via ``pags.io.load_torch``); returns it in eval mode."""
    return load_network(path, build_autoencoder, "autoencoder", "train_autoencoder")
