"""Seeded, class-balanced subsets of a real data set's splits (config key ``subset`` of
an experiment), so that an experiment can be run at a fraction of its data's size.

A subset of ``n`` images takes ``n / classes`` images of every class, drawn without
replacement from a stream seeded by (``seed``, split), so the train and test subsets are
independent and the same config always gives the same images. The chosen images keep
their order in the original split: test-set indices (galleries, "the first n test
images" of the metrics) then count within the subset.
"""

from __future__ import annotations

import torch

from ..errors import DataError
from .store import ImageSplit, split_generator


def balanced_indices(labels: torch.Tensor, n: int, num_classes: int, seed: int, split: str, key: str) -> torch.Tensor:
    """Sorted int64 indices [n] into ``labels`` (int64 [N], classes 0..num_classes - 1):
    ``n / num_classes`` of every class, drawn with ``split_generator(seed, split)``.

    Raises ``DataError`` naming ``key`` (the config key of this split's size) if ``n`` is
    not a multiple of ``num_classes`` or a class has fewer images than its share."""
    if n % num_classes:
        raise DataError(
            f"config key '{key}': {n} images do not divide among {num_classes} classes. Fix: use a multiple of {num_classes}."
        )
    per_class = n // num_classes
    generator = split_generator(seed, split)
    chosen = []
    for c in range(num_classes):
        members = (labels == c).nonzero().flatten()
        if len(members) < per_class:
            raise DataError(
                f"config key '{key}': {n} images need {per_class} of every class, but class {c} has only "
                f"{len(members)} in the {split} split. Fix: lower it to at most {len(members) * num_classes}."
            )
        chosen.append(members[torch.randperm(len(members), generator=generator)[:per_class]])
    return torch.cat(chosen).sort().values


def balanced_subset(data: ImageSplit, n: int, num_classes: int, seed: int, split: str, key: str) -> ImageSplit:
    """The images of ``data`` at ``balanced_indices``, with their labels and extras."""
    idx = balanced_indices(data.y, n, num_classes, seed, split, key)
    return ImageSplit(data.x[idx].contiguous(), data.y[idx], {k: v[idx] for k, v in data.extras.items()})
