"""Data sets behind one registry, and the on-disk format every rule exchanges.

A split is stored as ``{"x": uint8 [N, C, H, W], "y": int64 [N], ...extras}``; models
see ``x / 255`` in [0, 1], without normalisation, as in the paper. Synthetic data sets
store float32 images, so that quantisation adds no noise off their known manifold.
"""

from .registry import BASE_DATASETS, DATASETS, data_shape, get_dataset, load_base, save_base
from .store import ImageSplit, load_split, save_split, split_generator, to_float

__all__ = [
    "BASE_DATASETS",
    "DATASETS",
    "ImageSplit",
    "data_shape",
    "get_dataset",
    "load_base",
    "load_split",
    "save_base",
    "save_split",
    "split_generator",
    "to_float",
]
