"""Rule pretrained_model: one member of a pretrained family as a pags model, with its
top-1 on the validation set measured and checked against the published value."""

import torch
from pags.datasets.imagenet import val_batches
from pags.evaluate import accuracy, top1_row
from pags.io import save_json
from pags.models import save_model
from pags.pretrained import get_family
from pags.runtime import job_log, pick_device

with job_log(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    device = pick_device(snakemake.resources)
    p = snakemake.params.settings
    family = get_family(p["family"], f"pretrained.{snakemake.wildcards.dataset}.family")
    model = family.load(snakemake.input.weights, p["sha256"], f"weights.{p['weights']}").to(device)
    batches = val_batches(
        snakemake.config["data"]["root"], p["top1"]["n_images"], p["seed"], p["top1"]["batch_size"], snakemake.threads
    )
    measured = 100 * accuracy(model, batches, device, value_range=family.value_range)  # in %, as published
    row = top1_row(family, p["eps"], measured, p["top1"]["tolerance"])
    record = {
        "status": "ok",
        "hparams": {
            "objective": p["objective"],
            "strength": p["eps"],
            "seed": 0,
            "objective_options": {"eps_convention": "per_example"} if p["objective"] == "pgd" else {},
            "family": p["family"],
            "weights": p["weights"],
        },
        "test_accuracy": measured / 100,
        "top1_images": p["top1"]["n_images"],
        **row,
        "device": str(device),
    }
    save_model(model.cpu(), family.spec, snakemake.output.model)
    save_json(record, snakemake.output.record)
    log.info(
        "%s eps %g: top-1 %.2f%% on %d images (published %.2f%%)",
        p["family"],
        p["eps"],
        measured,
        p["top1"]["n_images"],
        row["published_top1"],
    )
