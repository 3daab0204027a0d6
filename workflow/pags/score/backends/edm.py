"""``edm``: the score of a pretrained EDM denoiser (Karras et al. 2022; ``pags.score.edm``),
the network named by ``score.edm_network``, a ``weights`` entry."""

from ... import paths
from ...compatibility import check_edm_config, check_edm_network
from ...datasets.registry import data_shape
from ...errors import ConfigError
from ..edm import edm_score, load_edm
from .spec import ScoreBackendSpec, ScoreContext


def check_network(
    network: str, conditional: bool, key: str, dataset: str, score: dict, config: dict, conditional_key=None
) -> None:
    """Before any job: ``network`` is a ``weights`` entry whose EDM configuration fits the
    data set's images (at ``score.image_side`` where set), classes and conditioning."""
    if network not in config["weights"]:
        raise ConfigError(
            f"config key '{key}': {network!r} is not an entry of 'weights'. Fix: name an EDM network listed "
            "under weights (e.g. edm-cifar10-32x32-uncond-vp; add its url and pinned sha256 there)."
        )
    shape, classes = data_shape(config, dataset)
    if score["image_side"] is not None:
        shape = (shape[0], score["image_side"], score["image_side"])
    section = key.rsplit(".score.", 1)[0]
    check_edm_config(
        network,
        num_classes=classes,
        image_shape=shape,
        conditional=conditional,
        dataset=dataset,
        key=key,
        conditional_key=conditional_key,
        allow_key=f"{section}.score.allow_other_data",
        allow_other_data=score["allow_other_data"],
    )


def load_network(context: ScoreContext, input_name: str, network: str, sha256, conditional: bool, key: str, **kw):
    """An EDM network as a score function, checked before computing anything: its own
    label_dim, resolution and channels against the data and the config (a conditional
    network used unconditionally would get all-zero labels)."""
    net = load_edm(context.inputs[input_name], sha256, f"weights.{network}", context.edm_source)
    props = check_edm_network(
        net,
        network=network,
        num_classes=context.num_classes,
        image_shape=context.image_shape,
        conditional=conditional,
        dataset=context.dataset,
        key=key,
        **kw,
    )
    return edm_score(net.to(context.device), props.label_dim if conditional else 0)


SPEC = ScoreBackendSpec(
    name="edm",
    label="EDM score",
    inputs=lambda dataset, score: {"weights": paths.weights_file(score["edm_network"])},
    params=lambda score, weights: {
        "edm_network": score["edm_network"],
        "sha256": weights[score["edm_network"]]["sha256"],
    },
    weights=lambda score: [score["edm_network"]],
    check=lambda key, dataset, score, config: check_network(
        score["edm_network"],
        score["conditional"],
        f"{key}.score.edm_network",
        dataset,
        score,
        config,
        conditional_key=f"{key}.score.conditional",
    ),
    load=lambda context: load_network(
        context,
        "weights",
        context.settings["edm_network"],
        context.settings["sha256"],
        context.conditional,
        f"{context.key}.edm_network",
        conditional_key=f"{context.key}.conditional",
    ),
    edm=True,
)
