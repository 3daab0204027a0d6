"""``posterior_trained``: grad log p(y | x) estimated from the trained denoiser, as its
class-conditional score minus its null class's (unconditional) score: label dropout in
training gives it the null class, as in classifier-free guidance."""

from ...errors import ConfigError
from .. import score_difference
from .spec import ScoreBackendSpec
from .trained import denoiser_input, trained_score


def check_label_dropout(key: str, dataset: str, score: dict, config: dict) -> None:
    if not score["denoiser"].get("label_dropout"):
        raise ConfigError(
            f"config key '{key}.score.denoiser.label_dropout': posterior_trained needs the unconditional score "
            "from the class-conditional denoiser's null class. Fix: set it above 0 (e.g. 0.15)."
        )


def load(context):
    score = trained_score(context)
    return score_difference(score, score)  # the label's score minus the null class's


SPEC = ScoreBackendSpec(
    name="posterior_trained",
    label="grad log p(y|x), trained denoiser",
    posterior=True,
    inputs=denoiser_input,
    load=load,
    check=check_label_dropout,
    denoiser=True,
)
