"""``analytic``: the exact score of the synthetic data set, in closed form."""

from ... import paths
from ...datasets.synthetic import SyntheticManifold
from ...io import load_torch
from .. import analytic_score
from .spec import ScoreBackendSpec, ScoreContext


def manifold_input(dataset: str, score: dict) -> dict[str, str]:
    return {"manifold": paths.manifold_file(dataset)}


def load_manifold(context: ScoreContext) -> SyntheticManifold:
    """The synthetic data set's exact manifold, on the job's device."""
    return SyntheticManifold.from_dict(load_torch(context.inputs["manifold"], what="manifold")).to(context.device)


SPEC = ScoreBackendSpec(
    name="analytic",
    label="exact score",
    exact=True,
    inputs=manifold_input,
    load=lambda context: analytic_score(load_manifold(context)),
)
