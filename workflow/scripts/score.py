"""Rule score: grad log p_sigma(x) at the first n test images, from one backend (resized
to ``image_side`` first where set)."""

import torch
from pags.compatibility import check_edm_network
from pags.datasets import load_split
from pags.datasets.synthetic import SyntheticManifold
from pags.grid import parse_strength
from pags.io import load_torch, save_torch
from pags.pretrained import images_for_score
from pags.runtime import job_log, pick_device
from pags.score import analytic_score, batched_scores, posterior_gradient, score_difference
from pags.score.denoiser import denoiser_score, load_denoiser
from pags.score.edm import edm_score, load_edm
from tqdm import tqdm

with job_log(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    device = pick_device(snakemake.resources)
    w, settings = snakemake.wildcards, snakemake.params.settings
    section = "pretrained" if w.dataset in snakemake.config["pretrained"] else "sweep"
    sigma, conditional = parse_strength(w.sigma), w.conditioning == "cond"
    test = load_split(snakemake.input.test)
    n = min(settings["n_images"], len(test))
    x, labels = test.floats()[:n], test.y[:n] if conditional else None
    if settings["image_side"] is not None:  # e.g. 224 px ImageNet scored at EDM's 64 px
        x = images_for_score(x, settings["image_side"])
    num_classes = settings["num_classes"]

    def edm(path, network, sha256, conditional, key, conditional_key=None):
        """An EDM network as a score function, checked before computing anything: its own
        label_dim, resolution and channels against the data and the config (a conditional
        network used unconditionally would get all-zero labels)."""
        net = load_edm(path, sha256, f"weights.{network}", snakemake.config["edm_source"])
        props = check_edm_network(
            net,
            network=network,
            num_classes=num_classes,
            image_shape=tuple(x.shape[1:]),
            conditional=conditional,
            dataset=w.dataset,
            key=key,
            conditional_key=conditional_key,
        )
        return edm_score(net.to(device), props.label_dim if conditional else 0)

    key = f"{section}.{w.dataset}.score"
    if w.backend in ("trained", "posterior_trained"):
        score = denoiser_score(load_denoiser(snakemake.input.denoiser).to(device))
        if w.backend == "posterior_trained":  # the label's score minus the null class's
            score = score_difference(score, score)
    elif w.backend == "edm":
        score = edm(
            snakemake.input.weights,
            settings["edm_network"],
            settings["sha256"],
            conditional,
            f"{key}.edm_network",
            f"{key}.conditional",
        )
    elif w.backend == "posterior_edm":
        pair, sha256 = settings["posterior_edm"], settings["posterior_edm_sha256"]
        score = score_difference(
            edm(
                snakemake.input.conditional,
                pair["conditional"],
                sha256["conditional"],
                True,
                f"{key}.posterior_edm.conditional",
            ),
            edm(
                snakemake.input.unconditional,
                pair["unconditional"],
                sha256["unconditional"],
                False,
                f"{key}.posterior_edm.unconditional",
            ),
        )
    else:
        manifold = SyntheticManifold.from_dict(load_torch(snakemake.input.manifold, what="manifold")).to(device)
        score = analytic_score(manifold) if w.backend == "analytic" else posterior_gradient(manifold)
    with tqdm(total=n, desc=f"{w.backend} score", mininterval=10) as bar:
        scores = batched_scores(score, x, sigma, labels, settings["batch_size"], device, bar.update)
    if not torch.isfinite(scores).all():
        raise RuntimeError(f"the {w.backend} score is not finite at sigma {sigma}")
    save_torch({"score": scores, "sigma": sigma, "conditional": conditional, "backend": w.backend}, snakemake.output[0])
    log.info(
        "%s score of %d images at sigma %g: mean norm %.4g", w.backend, n, sigma, scores.flatten(1).norm(dim=1).mean()
    )
