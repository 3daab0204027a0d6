"""Rule synthetic_dataset: the ground-truth manifold and train/test samples from it."""

from pags.datasets import save_split, split_generator
from pags.datasets.synthetic import make_manifold
from pags.io import save_torch
from pags.runtime import job_log

with job_log(snakemake) as log:
    spec = dict(snakemake.params.spec)
    sizes = {"train": spec.pop("n_train"), "test": spec.pop("n_test")}
    manifold = make_manifold(**spec)
    for split, n in sizes.items():
        save_split(manifold.sample(n, split_generator(spec["seed"], split)), snakemake.output[split])
    save_torch(manifold.to_dict(), snakemake.output.manifold)
    log.info("manifold of dimension %d (%d signal) in %d pixels", manifold.k, manifold.k_signal, manifold.dim)
