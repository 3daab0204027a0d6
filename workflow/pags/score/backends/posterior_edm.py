"""``posterior_edm``: grad log p(y | x) estimated as the difference of a class-conditional
and an unconditional EDM network's scores at the same sigma (``score.posterior_edm``,
two ``weights`` entries)."""

from ... import paths
from ...errors import ConfigError
from .. import score_difference
from .edm import check_network, load_network
from .spec import ScoreBackendSpec

PAIR = ("conditional", "unconditional")


def check_pair(key: str, dataset: str, score: dict, config: dict) -> None:
    if score["posterior_edm"] is None:
        raise ConfigError(
            f"config key '{key}.score.posterior_edm' is missing: posterior_edm needs a conditional and an "
            "unconditional EDM network. Fix: e.g. {conditional: edm-cifar10-32x32-cond-vp, unconditional: "
            "edm-cifar10-32x32-uncond-vp}, each an entry of 'weights'."
        )
    for conditioning, network in score["posterior_edm"].items():
        check_network(
            network, conditioning == "conditional", f"{key}.score.posterior_edm.{conditioning}", dataset, score, config
        )


def load(context):
    pair, sha256 = context.settings["posterior_edm"], context.settings["posterior_edm_sha256"]
    conditional, unconditional = (
        load_network(context, c, pair[c], sha256[c], c == "conditional", f"{context.key}.posterior_edm.{c}")
        for c in PAIR
    )
    return score_difference(conditional, unconditional)


SPEC = ScoreBackendSpec(
    name="posterior_edm",
    label="grad log p(y|x), EDM",
    posterior=True,
    inputs=lambda dataset, score: {c: paths.weights_file(n) for c, n in score["posterior_edm"].items()},
    params=lambda score, weights: {
        "posterior_edm": score["posterior_edm"],
        "posterior_edm_sha256": {c: weights[n]["sha256"] for c, n in score["posterior_edm"].items()},
    },
    weights=lambda score: list(score["posterior_edm"].values()),
    check=check_pair,
    load=load,
    edm=True,
)
