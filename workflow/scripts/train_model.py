"""Rule train_model: train one model; resume from its checkpoint if a run was cut off."""

import torch
from pags.checkpoint import Checkpoint
from pags.datasets import load_split
from pags.errors import TrainingDiverged
from pags.io import save_json
from pags.joblock import exclusive
from pags.models import save_diverged, save_model
from pags.runtime import job_log, keep_freed_memory, pick_device
from pags.train import diverged_record, fit

with job_log(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    keep_freed_memory()  # no fresh pages for each step's activations (pags.runtime)
    device = pick_device(snakemake.resources, amp=snakemake.params.amp)
    # The model's values (params.hparams) and how its arithmetic is done (amp, not a value).
    hparams = snakemake.params.hparams
    hparams = {**hparams, "training": {**hparams["training"], "amp": snakemake.params.amp}}
    checkpoint = Checkpoint.of_job(snakemake)
    # One writer of the checkpoint and the model: a second copy of this job stops here.
    with exclusive(checkpoint.path.with_name("checkpoint.lock"), f"the model in {checkpoint.path.parent}"):
        log.info("training %s on %s", hparams, device)
        try:
            model, spec, record = fit(
                hparams,
                # Memory-mapped: ImageNet-64's 15.7 GB are read as batches need them.
                load_split(snakemake.input.train, mmap=True),
                load_split(snakemake.input.test, mmap=True),
                checkpoint,
                device,
                num_classes=snakemake.params.num_classes,
            )
        except TrainingDiverged as e:
            # Recorded, not raised: the sweep goes on, and tables and figures mark this point.
            log.error("TrainingDiverged: %s", e)
            save_diverged(str(e), snakemake.output.model)
            save_json(diverged_record(hparams, str(e)), snakemake.output.record)
        else:
            save_model(model.cpu(), spec, snakemake.output.model)
            save_json(record, snakemake.output.record)
            log.info("test accuracy %.4f after %.0fs", record["test_accuracy"], record["wall_seconds"])
        checkpoint.delete()
