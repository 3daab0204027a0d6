"""The MNIST-with-distractor data set (paper appendix C.8).

Each 56x28 image stacks a digit and a fixed letter "A"; the digit is on the top or the
bottom half at random. The letter carries no label information, so a Bayes-optimal
classifier ignores it (paper Theorem 4).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .store import ImageSplit


def render_letter(letter: str = "A", size: int = 28, font_size: int = 22) -> torch.Tensor:
    """The letter as uint8 [1, size, size], white on black, in matplotlib's DejaVu Sans Bold."""
    from matplotlib import font_manager

    font_path = font_manager.findfont(
        font_manager.FontProperties(family="DejaVu Sans", weight="bold"), fallback_to_default=True
    )
    font = ImageFont.truetype(font_path, font_size)
    canvas = Image.new("L", (size, size), 0)
    ImageDraw.Draw(canvas).text((size / 2, size / 2), letter, fill=255, font=font, anchor="mm")
    return torch.from_numpy(np.asarray(canvas).copy()).unsqueeze(0)


def add_distractor(digits: ImageSplit, letter: torch.Tensor, generator: torch.Generator) -> ImageSplit:
    """Stack each digit with ``letter``; the digit's half is drawn at random.

    Returns 56x28 images with ``digit_on_top`` (bool [N]) recording the signal half.
    """
    n, c, h, w = digits.x.shape
    if letter.shape != (c, h, w):
        raise ValueError(f"letter must have shape {(c, h, w)}, got {tuple(letter.shape)}")
    digit_on_top = torch.rand(n, generator=generator) < 0.5
    letters = letter.expand(n, c, h, w)
    top = torch.where(digit_on_top.view(n, 1, 1, 1), digits.x, letters)
    bottom = torch.where(digit_on_top.view(n, 1, 1, 1), letters, digits.x)
    return ImageSplit(torch.cat([top, bottom], dim=2).contiguous(), digits.y.clone(), {"digit_on_top": digit_on_top})


def signal_mask(digit_on_top: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Float mask [N, C, H, W]: 1 on the half that holds the digit, 0 on the letter."""
    n, c, h, w = shape
    top_half = torch.zeros(h, dtype=torch.bool)
    top_half[: h // 2] = True
    rows = torch.where(digit_on_top.view(n, 1), top_half.view(1, h), ~top_half.view(1, h))
    return rows.view(n, 1, h, 1).expand(n, c, h, w).float()
