"""Rule score: grad log p_sigma(x) at the first n test images, from one backend
(``pags.score.backends``; resized to ``image_side`` first where set)."""

import torch
from pags.datasets import load_split
from pags.grid import parse_strength
from pags.io import save_torch
from pags.resize import images_for_score
from pags.runtime import job_log, pick_device
from pags.score import batched_scores
from pags.score.backends import ScoreContext, get_backend
from tqdm import tqdm

with job_log(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    device = pick_device(snakemake.resources)
    w, settings = snakemake.wildcards, snakemake.params.settings
    sigma, conditional = parse_strength(w.sigma), w.conditioning == "cond"
    test = load_split(snakemake.input.test)
    n = min(settings["n_images"], len(test))
    x, labels = test.floats()[:n], test.y[:n] if conditional else None
    if settings["image_side"] is not None:  # e.g. 224 px ImageNet scored at EDM's 64 px
        x = images_for_score(x, settings["image_side"])
    context = ScoreContext(
        inputs=dict(snakemake.input.items()),
        settings=settings,
        device=device,
        image_shape=tuple(x.shape[1:]),
        num_classes=settings["num_classes"],
        conditional=conditional,
        dataset=w.dataset,
        key=snakemake.params.key,
        # where EDM's modules are, not what the score is: read from the config, so that
        # moving the clone reruns nothing
        edm_source=snakemake.config["edm_source"],
    )
    score = get_backend(w.backend).load(context)
    with tqdm(total=n, desc=f"{w.backend} score", mininterval=10) as bar:
        scores = batched_scores(score, x, sigma, labels, settings["batch_size"], device, bar.update)
    if not torch.isfinite(scores).all():
        raise RuntimeError(f"the {w.backend} score is not finite at sigma {sigma}")
    save_torch({"score": scores, "sigma": sigma, "conditional": conditional, "backend": w.backend}, snakemake.output[0])
    log.info(
        "%s score of %d images at sigma %g: mean norm %.4g", w.backend, n, sigma, scores.flatten(1).norm(dim=1).mean()
    )
