"""``posterior``: the synthetic data set's exact grad log p(y | x), the theory's reference
for a robust model's gradient (Bayes' rule on its closed-form class scores)."""

from .. import posterior_gradient
from .analytic import load_manifold, manifold_input
from .spec import ScoreBackendSpec

SPEC = ScoreBackendSpec(
    name="posterior",
    label="Bayes-optimal gradient",
    posterior=True,
    exact=True,
    inputs=manifold_input,
    load=lambda context: posterior_gradient(load_manifold(context)),
)
