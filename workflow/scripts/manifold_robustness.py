"""Rules manifold_robustness, bayes_manifold_robustness: on/off-manifold robustness and
where the input gradient lies, with estimated (and, on synthetic data, exact) tangent spaces."""

import pandas as pd
import torch
from pags.datasets import load_split
from pags.datasets.synthetic import BayesOptimal, SyntheticManifold
from pags.evaluate import accuracy
from pags.io import load_torch, save_csv
from pags.manifold.metrics import TABLE_METRICS, manifold_table
from pags.records import read_trained
from pags.runtime import job_log, pick_device
from pags.stats import nan_metrics

with job_log(snakemake) as log:
    torch.set_num_threads(snakemake.threads)
    device = pick_device(snakemake.resources)
    settings = snakemake.params.settings
    test = load_split(snakemake.input.test)
    n = settings["n_images"]
    tangents = {"autoencoder": load_torch(snakemake.input.tangents, what="tangent spaces")["basis"][:n]}
    signal_basis = None
    if "manifold" in snakemake.input.keys():
        manifold = SyntheticManifold.from_dict(load_torch(snakemake.input.manifold, what="manifold"))
        exact = manifold.tangent_basis().float()
        tangents["true"] = exact.expand(len(tangents["autoencoder"]), *exact.shape)
        signal_basis = manifold.signal_basis().float()
    if "model" in snakemake.input.keys():
        columns, model = read_trained(snakemake.input.model, snakemake.input.record)
    else:  # the Bayes-optimal reference of the synthetic data
        model = BayesOptimal(manifold)
        columns = {
            "objective": "bayes",
            "strength": "0",
            "strength_value": 0.0,
            "seed": 0,
            "label": "Bayes optimal",
            "test_accuracy": accuracy(model, test, torch.device("cpu")),
            "status": "ok",
        }
    if model is None:  # diverged in training: the same rows, every metric NaN
        index = pd.MultiIndex.from_product([list(tangents), settings["step_sizes"]], names=["tangent", "step_size"])
        table = nan_metrics(index.to_frame(index=False), TABLE_METRICS)
    else:
        table = manifold_table(
            model.to(device),
            test.floats()[:n].to(device),
            {name: q.to(device) for name, q in tangents.items()},
            signal_basis=None if signal_basis is None else signal_basis.to(device),
            step_sizes=settings["step_sizes"],
            sigma=settings["small_noise_sigma"],
            draws=settings["small_noise_draws"],
            seed=settings["seed"],
        )
    for i, (column, value) in enumerate(columns.items()):
        table.insert(i, column, value)
    save_csv(table, snakemake.output[0])
    log.info("\n%s", table.to_string())
