"""Data sets: the distractor synthesis, the digits stand-in, MNIST, and the split files."""

import pytest
import torch
from pags.datasets import ImageSplit, load_base, load_split, save_split, split_generator
from pags.datasets.distractor import add_distractor, render_letter, signal_mask
from pags.errors import DataError
from workflow_helpers import SHARED_DATA


def random_digits(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 1, 28, 28), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (n,), generator=g)
    return ImageSplit(x, y)


@pytest.fixture(scope="module")
def letter():
    return render_letter()


def test_render_letter_is_a_nonblank_uint8_image(letter):
    assert letter.shape == (1, 28, 28) and letter.dtype == torch.uint8
    assert letter.max() == 255 and letter.min() == 0
    assert 0 < (letter > 0).float().mean() < 0.5


def test_distractor_places_digit_and_letter_on_opposite_halves(letter):
    digits = random_digits()
    out = add_distractor(digits, letter, split_generator(0, "train"))
    on_top = out.extras["digit_on_top"]
    assert out.x.shape == (64, 1, 56, 28) and out.x.dtype == torch.uint8
    assert on_top.dtype == torch.bool and on_top.shape == (64,)
    assert 0 < on_top.sum() < 64  # both placements occur
    assert torch.equal(out.y, digits.y)
    for i in range(len(out)):
        top, bottom = out.x[i, :, :28], out.x[i, :, 28:]
        digit_half, letter_half = (top, bottom) if on_top[i] else (bottom, top)
        assert torch.equal(digit_half, digits.x[i])
        assert torch.equal(letter_half, letter)


def test_distractor_rejects_letter_of_wrong_shape(letter):
    with pytest.raises(ValueError, match="letter must have shape"):
        add_distractor(random_digits(), letter[:, :27], split_generator(0, "train"))


def test_distractor_split_is_deterministic_given_seed_and_split(letter):
    digits = random_digits(n=200)

    def placement(seed, split):
        return add_distractor(digits, letter, split_generator(seed, split)).extras["digit_on_top"]

    assert torch.equal(placement(3, "train"), placement(3, "train"))
    assert not torch.equal(placement(3, "train"), placement(4, "train"))
    assert not torch.equal(placement(3, "train"), placement(3, "test"))


def test_signal_mask_covers_exactly_the_digit_half(letter):
    out = add_distractor(random_digits(), letter, split_generator(1, "test"))
    on_top = out.extras["digit_on_top"]
    mask = signal_mask(on_top, tuple(out.x.shape))
    assert mask.shape == out.x.shape and mask.dtype == torch.float32
    top, bottom = mask[:, :, :28], mask[:, :, 28:]
    assert torch.equal(top, on_top.float().view(-1, 1, 1, 1).expand_as(top))
    assert torch.equal(bottom, (~on_top).float().view(-1, 1, 1, 1).expand_as(bottom))
    # Keeping only the masked half recovers the digit exactly.
    kept = (out.x.float() * mask).view(len(out), 1, 2, 28, 28).sum(2)
    assert torch.equal(kept.to(torch.uint8), random_digits().x)


def test_digits_loader_gives_disjoint_28x28_uint8_splits():
    train = load_base("digits", "train", root="unused", download=False)
    test = load_base("digits", "test", root="unused", download=False)
    assert len(train) + len(test) == 1797
    assert len(test) == 300
    for split in (train, test):
        assert split.x.shape[1:] == (1, 28, 28) and split.x.dtype == torch.uint8
        assert split.num_classes == 10
    # sklearn's 1797 digits are pairwise distinct, so 1797 distinct images across both
    # splits means the splits are disjoint and together cover the whole set.
    rows = {bytes(row.numpy()) for row in torch.cat([train.x, test.x]).flatten(1)}
    assert len(rows) == 1797
    assert torch.equal(torch.cat([train.y, test.y]).bincount(), _sklearn_digit_counts())


def _sklearn_digit_counts():
    from sklearn.datasets import load_digits

    return torch.as_tensor(load_digits().target).bincount()


def test_digits_loader_is_deterministic_and_rejects_unknown_split():
    a = load_base("digits", "test", "unused", False)
    b = load_base("digits", "test", "unused", False)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    with pytest.raises(ValueError, match="split must be"):
        load_base("digits", "validation", "unused", False)


@pytest.mark.parametrize(
    "x, y, extras",
    [
        (torch.zeros(4, 1, 8, 8, dtype=torch.float64), torch.zeros(4, dtype=torch.int64), {}),  # float64 images
        (torch.zeros(4, 8, 8, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64), {}),  # no channel axis
        (torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.zeros(4, dtype=torch.int32), {}),  # int32 labels
        (torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64), {}),  # too few labels
        (torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.zeros(4, 1, dtype=torch.int64), {}),  # labels not 1-d
        (torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64), {"m": torch.zeros(5)}),
    ],
)
def test_image_split_rejects_malformed_tensors(x, y, extras):
    with pytest.raises(DataError):
        ImageSplit(x, y, extras)


def test_split_file_round_trip(tmp_path, letter):
    split = add_distractor(random_digits(), letter, split_generator(0, "train"))
    save_split(split, tmp_path / "split.pt")
    back = load_split(tmp_path / "split.pt")
    assert torch.equal(back.x, split.x) and torch.equal(back.y, split.y)
    assert torch.equal(back.extras["digit_on_top"], split.extras["digit_on_top"])
    assert [p.name for p in tmp_path.iterdir()] == ["split.pt"]


def test_load_split_on_truncated_file_says_delete_and_rerun(tmp_path):
    path = tmp_path / "split.pt"
    save_split(random_digits(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="delete it and rerun"):
        load_split(path)


def test_load_split_on_garbage_file_says_delete_and_rerun(tmp_path):
    path = tmp_path / "split.pt"
    path.write_bytes(b"this is not a torch file\n" * 10)
    with pytest.raises(DataError, match="delete it and rerun"):
        load_split(path)


def test_load_split_on_wrong_contents_says_delete_and_rerun(tmp_path):
    torch.save({"x": torch.zeros(3)}, tmp_path / "no_y.pt")
    with pytest.raises(DataError, match="delete it and rerun"):
        load_split(tmp_path / "no_y.pt")
    torch.save(
        {"x": torch.zeros(2, 1, 4, 4, dtype=torch.int32), "y": torch.zeros(2, dtype=torch.int64)}, tmp_path / "int.pt"
    )
    with pytest.raises(DataError, match="[Dd]elete it and rerun"):
        load_split(tmp_path / "int.pt")


def test_load_split_on_missing_file_raises_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_split(tmp_path / "absent.pt")


def test_mnist_with_empty_root_and_no_download_names_data_root(tmp_path):
    with pytest.raises(DataError, match="data.root"):
        load_base("mnist", "test", str(tmp_path), download=False)


@pytest.mark.skipif(
    not (SHARED_DATA / "MNIST").exists(), reason=f"needs the real MNIST under {SHARED_DATA}/MNIST (../shared/data)"
)
def test_distractor_set_from_real_mnist(letter):
    mnist = load_base("mnist", "test", str(SHARED_DATA), download=False)
    assert mnist.x.shape == (10000, 1, 28, 28) and mnist.x.dtype == torch.uint8
    out = add_distractor(mnist, letter, split_generator(0, "test"))
    assert out.x.shape == (10000, 1, 56, 28)
    assert torch.equal(out.y, mnist.y)
    assert sorted(out.y.unique().tolist()) == list(range(10))
    on_top = out.extras["digit_on_top"]
    assert 0.45 < on_top.float().mean() < 0.55
    digit_half = torch.where(on_top.view(-1, 1, 1, 1), out.x[:, :, :28], out.x[:, :, 28:])
    assert torch.equal(digit_half, mnist.x)


def test_balanced_subset_is_seeded_balanced_and_in_order():
    from pags.datasets.subset import balanced_subset

    labels = torch.arange(300) % 3
    data = ImageSplit(torch.arange(300.0).view(300, 1, 1, 1).repeat(1, 1, 2, 2), labels, {"flag": labels == 0})
    subset = balanced_subset(data, 30, 3, seed=5, split="train", key="k")
    assert torch.bincount(subset.y).tolist() == [10, 10, 10]
    assert torch.equal(subset.extras["flag"], subset.y == 0)
    order = subset.x[:, 0, 0, 0].long()
    assert torch.equal(order, order.sort().values) and torch.equal(data.y[order], subset.y)  # original order kept
    assert torch.equal(balanced_subset(data, 30, 3, 5, "train", "k").x, subset.x)  # seeded
    assert not torch.equal(balanced_subset(data, 30, 3, 5, "test", "k").x, subset.x)  # own stream per split
    with pytest.raises(DataError, match="'k'.*class 0 has only 100"):
        balanced_subset(data, 330, 3, 5, "train", "k")
