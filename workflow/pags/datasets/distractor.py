"""The MNIST-with-distractor data set (paper appendix C.8).

Each 56x28 image stacks a digit and a fixed letter "A"; the digit is on the top or the
bottom half at random. The letter carries no label information, so a Bayes-optimal
classifier ignores it (paper Theorem 4).

The paper does not say how the letter looks. ``FONTS``: ``dejavu_sans_bold`` (any
letter, in the font matplotlib ships) or ``freemono``, the authors' "A" (their notebook
``MNISTDistractor.ipynb``, ``draw_text_simple`` and ``create_distractor``: FreeMono at
35 pt with a 1 px stroke on a 40 x 40 canvas, resized to 28 x 28), read from an asset
rendered once (``assets/README.md``), so that no font is needed to make the data.
"""

from __future__ import annotations

from pathlib import Path

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


FONTS = ("dejavu_sans_bold", "freemono")
FREEMONO_A = Path(__file__).parent / "assets" / "freemono_A.png"


def render_authors_letter(font_path: str | Path, letter: str = "A") -> torch.Tensor:
    """The authors' letter as uint8 [1, 28, 28], white on black: ``letter`` in the font
    at ``font_path`` (theirs: FreeMono, as Pillow's test fonts ship it) at 35 pt, anchored
    at (9, 2) with a 1 px white stroke on a black 40 x 40 canvas, resized to 28 x 28 by
    Pillow's default (bicubic) filter. Makes the asset ``FREEMONO_A``, and the tests'
    reference where the font is installed."""
    font = ImageFont.truetype(str(font_path), 35)
    canvas = Image.new("L", (40, 40), 0)
    ImageDraw.Draw(canvas).text((9, 2), letter, font=font, stroke_width=1, fill=255, stroke_fill=255)
    small = canvas.resize((28, 28), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(small).copy()).unsqueeze(0)


def letter_image(letter: str, font: str, size: int = 28) -> torch.Tensor:
    """The distractor letter as uint8 [1, size, size] in ``font`` (``FONTS``; config key
    ``distractor.font``). ``freemono`` is the authors' "A" at 28 px only: another letter
    or size raises ``ValueError`` naming the key and the fix."""
    if font not in FONTS:
        raise ValueError(f"distractor.font must be one of {list(FONTS)}, got {font!r}")
    if font == "dejavu_sans_bold":
        return render_letter(letter, size=size)
    if letter != "A" or size != 28:
        raise ValueError(
            f"distractor.font freemono is the authors' letter 'A' at 28 px, not {letter!r} at {size} px. "
            "Fix: set distractor.letter to A, or distractor.font to dejavu_sans_bold."
        )
    return torch.from_numpy(np.asarray(Image.open(FREEMONO_A).convert("L")).copy()).unsqueeze(0)


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
