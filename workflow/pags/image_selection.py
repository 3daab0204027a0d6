"""Test images chosen by index (the galleries', paper Figs. 1, 2 and 6-9): the indices as
a path component and back, and the images at them. Apart from ``pags.gallery``, which
reads the objectives' registry, so that the jobs that cut the images out are no
objective's code."""

from __future__ import annotations

from collections.abc import Sequence

from .errors import DataError

IMAGE_SEPARATOR = "_"
# Matches what ``images_key`` writes; used as the Snakemake wildcard constraint.
IMAGES_PATTERN = r"\d+(_\d+)*"


def images_key(images: Sequence[int]) -> str:
    """The image indices as a path component, in the gallery's order: '7908_2649_6748_821'."""
    return IMAGE_SEPARATOR.join(str(int(i)) for i in images)


def parse_images(key: str) -> list[int]:
    return [int(i) for i in key.split(IMAGE_SEPARATOR)]


def select_images(split, indices: Sequence[int], what: str):
    """The images of ``split`` (a ``pags.datasets.ImageSplit``) at ``indices``, in that
    order, with their labels and extras. Raises ``DataError`` naming ``what`` (the split)
    if an index is beyond it."""
    outside = [i for i in indices if not 0 <= i < len(split)]
    if outside:
        raise DataError(
            f"test image{'s' if len(outside) > 1 else ''} {outside} of a gallery {'are' if len(outside) > 1 else 'is'} "
            f"not in {what}, which has {len(split)} images (indices 0 to {len(split) - 1}). "
            "Fix: pick indices below that under figures.galleries.<name>.images (or lower figures.gallery.n_images)."
        )
    index = list(indices)
    return type(split)(split.x[index], split.y[index], {k: v[index] for k, v in split.extras.items()})
