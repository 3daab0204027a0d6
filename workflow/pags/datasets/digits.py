"""scikit-learn's bundled digits, upsampled to MNIST's 28x28: the offline stand-in.

MNIST centres a 20x20 digit in a 28x28 frame; the 8x8 digits are resized to 20x20 and
padded the same way, so the distractor synthesis treats both alike.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .spec import DatasetSpec
from .store import ImageSplit

TEST_FRACTION = 1 / 6
SPLIT_SEED = 0  # fixed: the split is part of the data set, not an experiment setting


def load_digits(split: str, root: str, download: bool) -> ImageSplit:
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    digits20 = F.interpolate(images, size=(20, 20), mode="bilinear", align_corners=False)
    x = (F.pad(digits20, (4, 4, 4, 4)).clamp(0, 1) * 255).round().to(torch.uint8)
    y = torch.as_tensor(bunch.target, dtype=torch.int64)

    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_test = round(len(y) * TEST_FRACTION)
    index = order[:n_test] if split == "test" else order[n_test:]
    return ImageSplit(x[index].contiguous(), y[index].contiguous())


# scikit-learn ships the 1,797 images: no files, nothing to download
SPEC = DatasetSpec(name="digits", shape=(1, 28, 28), num_classes=10, train_size=1_497, test_size=300, load=load_digits)
