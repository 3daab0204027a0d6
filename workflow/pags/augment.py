"""Batched data augmentation on tensors, driven by the training generator."""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Random crop after zero padding, then a random horizontal flip (torchvision's
    ``RandomCrop(size, padding)`` + ``RandomHorizontalFlip()``), for a whole batch at once."""
    n, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator, device=x.device)
    rows = (offsets[:, 0:1] + torch.arange(h, device=x.device)).view(n, 1, h, 1)
    cols = (offsets[:, 1:2] + torch.arange(w, device=x.device)).view(n, 1, 1, w)
    flip = torch.rand(n, generator=generator, device=x.device) < 0.5
    cols = torch.where(flip.view(n, 1, 1, 1), cols.flip(-1), cols)
    rows = rows.expand(n, x.shape[1], h, padded.shape[-1])
    cropped_rows = padded.gather(2, rows)
    return cropped_rows.gather(3, cols.expand(n, x.shape[1], h, w))


# crop_flip: the CIFAR-10 recipe (padding 4); crop_flip_pad8: the authors' ImageNet-64 one.
AUGMENTATIONS = {"none": None, "crop_flip": random_crop_flip, "crop_flip_pad8": partial(random_crop_flip, padding=8)}
