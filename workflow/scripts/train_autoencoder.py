"""Rule train_autoencoder: the autoencoder whose decoder spans the estimated tangent spaces;
resumes from its checkpoint if a run of this job was cut off."""

import torch
from pags.checkpoint import Checkpoint
from pags.datasets import load_split
from pags.io import save_json
from pags.manifold.autoencoder import reconstruction_error, save_autoencoder, train_autoencoder
from pags.runtime import job_log, keep_freed_memory, pick_device

with job_log(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    keep_freed_memory()  # no fresh pages for each step's activations (pags.runtime)
    device = pick_device(snakemake.resources)
    settings = dict(snakemake.params.settings)
    generator = torch.Generator(device=device).manual_seed(settings.pop("seed"))
    checkpoint = Checkpoint.of_job(snakemake)
    model, history = train_autoencoder(
        load_split(snakemake.input.train).x, generator=generator, device=device, checkpoint=checkpoint, **settings
    )
    test_mse = reconstruction_error(model, load_split(snakemake.input.test).x)
    save_autoencoder(model.cpu(), snakemake.output.model)
    save_json(
        {"settings": snakemake.params.settings, "history": history, "test_mse": test_mse},
        snakemake.output.record,
    )
    checkpoint.delete()
    log.info("test reconstruction MSE per pixel %.5f", test_mse)
