"""Where the workflow keeps each artifact, relative to the working directory.

One function per kind of file, so that rules, input functions and tests write each path
once. Arguments are strings; a rule passes wildcard placeholders (``"{dataset}"``) and
gets the pattern of its output. Strengths are in canonical form (``pags.grid``).
"""

from __future__ import annotations

RESULTS = "results"
LOGS = f"{RESULTS}/logs"
FIGURES = f"{RESULTS}/figures"


def data_file(dataset: str, split: str) -> str:
    """A split of a data set as the rules exchange it (``pags.datasets.store``)."""
    return f"{RESULTS}/{dataset}/data/{split}.pt"


def manifold_file(dataset: str) -> str:
    """The exact manifold of a synthetic data set (``pags.datasets.synthetic``)."""
    return f"{RESULTS}/{dataset}/data/manifold.pt"


def test_images_file(dataset: str, key: str) -> str:
    """The test images at the indices ``key`` (``pags.image_selection.images_key``), as a split."""
    return f"{RESULTS}/{dataset}/data/test/images={key}.pt"


def model_dir(dataset: str, objective: str, strength: str, seed: str | int) -> str:
    """The folder of one model: ``model.pt`` and its training record ``train.json``."""
    return f"{RESULTS}/{dataset}/models/{objective}/{strength}/seed={seed}"


def search_round_file(dataset: str, objective: str, round: str | int) -> str:
    """The strengths of a search (``pags.search``) after ``round`` rounds."""
    return f"{RESULTS}/{dataset}/search/{objective}/round={round}.json"


def metric_file(dataset: str, objective: str, strength: str, seed: str | int, metric: str) -> str:
    """One model's table of one metric."""
    return f"{RESULTS}/{dataset}/metrics/{objective}/{strength}/seed={seed}/{metric}.csv"


def table_file(dataset: str, table: str) -> str:
    """A data set's tidy table (``manifold_robustness``, ``alignment``, ``regimes``, ...)."""
    return f"{RESULTS}/{dataset}/tables/{table}.csv"


def autoencoder_dir(dataset: str) -> str:
    """The autoencoder's ``model.pt`` and ``train.json``, and the tangent spaces."""
    return f"{RESULTS}/{dataset}/autoencoder"


def denoiser_dir(dataset: str) -> str:
    """The trained denoiser's ``model.pt`` and ``train.json``."""
    return f"{RESULTS}/{dataset}/denoiser"


def score_stem(dataset: str, backend: str, sigma: str, conditioning: str) -> str:
    """Scores of a backend at one sigma, ``cond`` or ``uncond``: ``<stem>.pt`` holds the
    first test images', ``<stem>/images=<key>.pt`` a gallery's."""
    return f"{RESULTS}/{dataset}/score/{backend}/sigma={sigma}/{conditioning}"


def weights_file(name: str) -> str:
    """A weight file of the config's ``weights:`` section."""
    return f"{RESULTS}/weights/{name}"


def figure_file(name: str, ext: str) -> str:
    """A figure, ``pdf`` or ``png``."""
    return f"{FIGURES}/{name}.{ext}"


def claims_file(ext: str) -> str:
    """The claims table: ``csv`` (tidy), ``md``, ``html`` (the report's Claims section) or
    ``rst`` (the verdict, the report's front page)."""
    return f"{RESULTS}/claims.{ext}"
