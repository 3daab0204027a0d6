"""``trained``: the score of the denoiser this workflow trains (EDM's preconditioning,
``pags.score.denoiser``), by Tweedie's formula."""

from ... import paths
from ..denoiser import denoiser_score, load_denoiser
from .spec import ScoreBackendSpec, ScoreContext


def denoiser_input(dataset: str, score: dict) -> dict[str, str]:
    return {"denoiser": f"{paths.denoiser_dir(dataset)}/model.pt"}


def trained_score(context: ScoreContext):
    return denoiser_score(load_denoiser(context.inputs["denoiser"]).to(context.device))


SPEC = ScoreBackendSpec(
    name="trained",
    label="trained score",
    inputs=denoiser_input,
    load=trained_score,
    denoiser=True,
)
