"""Which models and images the galleries show (pags.gallery), checked without the workflow."""

from __future__ import annotations

import pytest
import torch
from pags.datasets import ImageSplit
from pags.errors import ConfigError, DataError
from pags.gallery import check_galleries, galleries, objective_galleries, spread
from pags.grid import expand_grid, format_strength
from pags.image_selection import images_key, parse_images, select_images

# config.yaml's CIFAR-10 gradient-norm grid
GNORM = {"logspace": [-5, 2, 30]}


def config(galleries=None, n_images=4, n_strengths=8):
    sweep = {
        "cifar10": {"objectives": {"standard": {"grid": [0.0]}, "gnorm": {"grid": GNORM}, "pgd": {"grid": [0.1, 1.0]}}},
        "synthetic": {"objectives": {"standard": {"grid": [0.0]}, "randsmooth": {"grid": [0.1]}}},
    }
    return {
        "sweep": sweep,
        "pretrained": {},
        "figures": {"gallery": {"n_images": n_images, "n_strengths": n_strengths}, "galleries": galleries or {}},
    }


def named(**spec):
    return {
        "g": {"dataset": "cifar10", "objective": "gnorm", "strengths": [57.36], "images": [3], "standard": True, **spec}
    }


def test_spread_keeps_the_ends_and_spaces_evenly():
    assert spread(list(range(30)), 8) == [0, 4, 8, 12, 17, 21, 25, 29]
    assert spread([1, 2], 8) == [1, 2] and spread([5, 6, 7], 1) == [5]


def test_one_gallery_per_data_set_and_swept_objective():
    found = objective_galleries(config(n_images=2, n_strengths=2))
    assert list(found) == ["cifar10_gnorm", "cifar10_pgd", "synthetic_randsmooth"]
    assert found["cifar10_gnorm"] == {
        "dataset": "cifar10",
        "objective": "gnorm",
        "strengths": ["1e-05", "100"],
        "images": [0, 1],
        "standard": True,
    }


def test_paper_fig1_strengths_are_grid_members_at_4_digits():
    """The paper writes 0.0728 for the grid's 10^(-5 + 7 * 16 / 29) = 0.072790...; 57.36 is exact."""
    grid = [format_strength(s) for s in expand_grid(GNORM)]
    assert "0.07279" in grid and "57.36" in grid and "0.0728" not in grid
    check_galleries(config(named(strengths=[0.07279, 57.36], images=[7908, 2649, 6748, 821])))


def test_named_gallery_strengths_are_canonical():
    found = galleries(config(named(strengths=[5.736e1, 0.072790001])))
    assert found["g"]["strengths"] == ["57.36", "0.07279"]


@pytest.mark.parametrize(
    "spec, expected",
    [
        (
            {"strengths": [0.0728]},
            ("'figures.galleries.g.strengths.0'", "0.0728 is not in the grid", "nearest is 0.07279"),
        ),
        ({"strengths": [57.36, 57.3600001]}, ("'figures.galleries.g.strengths.1'", "listed twice")),
        ({"objective": "smooth"}, ("'figures.galleries.g.objective'", "not swept on cifar10", "['gnorm', 'pgd']")),
        ({"dataset": "mnist"}, ("'figures.galleries.g.dataset'", "mnist has no sweep")),
    ],
)
def test_a_bad_named_gallery_is_a_config_error(spec, expected):
    with pytest.raises(ConfigError) as error:
        check_galleries(config(named(**spec)))
    for text in expected:
        assert text in str(error.value)


def test_a_named_gallery_may_not_take_a_per_objective_gallery_name():
    spec = named()["g"]
    with pytest.raises(ConfigError, match="'figures.galleries.cifar10_pgd'.*another name"):
        check_galleries(config({"cifar10_pgd": spec}))


def test_images_in_paths_keep_their_order():
    assert images_key([7908, 2649, 6748, 821]) == "7908_2649_6748_821"
    assert parse_images("7908_2649_6748_821") == [7908, 2649, 6748, 821]


def test_select_images_keeps_order_labels_and_extras():
    split = ImageSplit(
        torch.arange(5, dtype=torch.uint8).view(5, 1, 1, 1), torch.arange(5) * 10, {"mask": torch.arange(5) + 100}
    )
    picked = select_images(split, [3, 0], "the test split")
    assert picked.x.flatten().tolist() == [3, 0] and picked.y.tolist() == [30, 0]
    assert picked.extras["mask"].tolist() == [103, 100]


def test_an_image_beyond_the_test_set_is_named_in_the_error():
    split = ImageSplit(torch.zeros(5, 1, 2, 2, dtype=torch.uint8), torch.zeros(5, dtype=torch.int64))
    with pytest.raises(DataError, match=r"\[7\] .* has 5 images \(indices 0 to 4\).*figures.galleries"):
        select_images(split, [1, 7], "the test split of cifar10")
