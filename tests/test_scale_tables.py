"""The end-to-end tables' values, recomputed directly from the files the tiny run read
and wrote (``tiny_run``, conftest.py): the noise-robustness table of the PGD model at every
std is the mean softmax-L1 change at x + s M n over the first n_images test images, with
n the standard normal draw of the configured seed and M the signal or distractor half."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from pags.datasets import load_split
from pags.records import read_trained


@pytest.mark.slow
def test_noise_robustness_table_rows_equal_a_direct_computation(tiny_run):
    settings = tiny_run.config["distractor"]["noise_robustness"]
    table = pd.read_csv(tiny_run.results / tiny_run.dataset / "tables" / "noise_robustness.csv")
    model_dir = tiny_run.model_dir("pgd", "1_4_8")
    rows = table[table["objective"] == "pgd"].sort_values("noise_std")

    start, stop, count = settings["stds"]["logspace"]
    stds = [0.0, *np.logspace(start, stop, count)]
    assert rows["noise_std"].to_numpy() == pytest.approx(stds, rel=1e-12)

    _, model = read_trained(model_dir / "model.pt", model_dir / "train.json")
    test = load_split(tiny_run.results / tiny_run.dataset / "data" / "test.pt")
    n = settings["n_images"]
    x = test.floats()[:n]
    # the digit's half: the top half of the 56 x 28 image where the digit is on top
    on_top = test.extras["digit_on_top"][:n].view(-1, 1, 1, 1)
    top = torch.zeros_like(x)
    top[..., : x.shape[-2] // 2, :] = 1
    signal = torch.where(on_top, top, 1 - top)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(settings["seed"]))
    assert settings["draws"] == 1
    with torch.no_grad():
        clean = model(x).softmax(1)
        for row in rows.itertuples():
            for region, mask in (("signal", signal), ("distractor", 1 - signal)):
                change = (model(x + row.noise_std * mask * noise).softmax(1) - clean).abs().sum(1).double()
                assert getattr(row, f"{region}_change") == pytest.approx(change.mean().item(), rel=1e-4, abs=1e-7)
                sem = change.std().item() / math.sqrt(n)
                assert getattr(row, f"{region}_sem") == pytest.approx(sem, rel=1e-3, abs=1e-7)
            if row.noise_std > 0:
                assert row.ratio == pytest.approx(row.signal_change / row.distractor_change, rel=1e-9)
    assert rows["signal_change"].iloc[-1] > 0.01  # the largest std moves the softmax: the check has teeth
