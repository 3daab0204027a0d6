"""Rule train_denoiser: the trained score backend's denoiser (EDM preconditioning); resumes
from its checkpoint if a run of this job was cut off."""

import math

import torch
from pags.checkpoint import Checkpoint
from pags.datasets import load_split
from pags.io import save_json
from pags.runtime import job_log, pick_device
from pags.score.denoiser import denoising_error, save_denoiser, train_denoiser

with job_log(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    device = pick_device(snakemake.resources)
    settings = dict(snakemake.params.settings)
    generator = torch.Generator(device=device).manual_seed(settings.pop("seed"))
    train, test = load_split(snakemake.input.train, mmap=True), load_split(snakemake.input.test, mmap=True)
    num_classes = snakemake.params.num_classes  # the data set's, not the largest label seen
    checkpoint = Checkpoint.of_job(snakemake)
    model, history = train_denoiser(
        train.x,
        train.y if snakemake.params.conditional else None,
        num_classes,
        generator=generator,
        device=device,
        checkpoint=checkpoint,
        **settings,
    )
    # Held-out check at the median training noise level (not the scores' sigma, so that
    # changing that sigma does not retrain): the denoiser must beat the noisy input.
    sigma = math.exp(settings["p_mean"])
    mse, noisy_mse = denoising_error(model, test.x, test.y, sigma, torch.Generator(device=device).manual_seed(0))
    save_denoiser(model.cpu(), snakemake.output.model)
    save_json(
        {
            "settings": snakemake.params.settings,
            "sigma_data": model.sigma_data,
            "history": history,
            "test_mse": {"sigma": sigma, "denoised": mse, "noisy": noisy_mse},
        },
        snakemake.output.record,
    )
    checkpoint.delete()
    log.info("test MSE per pixel at sigma %g: denoised %.5f, noisy %.5f", sigma, mse, noisy_mse)
