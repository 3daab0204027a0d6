"""The search for an objective's regimes (pags.search) on curves whose turns are known:
accuracy falls past s = 1/sqrt(7), alignment peaks at 10^-1.5, the off-manifold change
halves at 0.01."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pags.grid import expand_grid
from pags.search import next_strengths, search_curve, turns

REFERENCE = {"accuracy": 0.9, "off_change": 1.0}
SETTINGS = {"max_accuracy_drop": 0.1, "off_below": 0.5}
ACCURACY_TURN = 1 / math.sqrt(7)  # 0.9 - accuracy(s) = 0.8 / (1 + s^-2) > 0.1 from here on
PEAK = 10**-1.5
SEPARATION = 0.01  # off-manifold change 1 / (1 + (s / 0.01)^2) < 0.5 beyond it


def start_grid(start, stop, num):
    """A search's first round from ``start`` to ``stop``."""
    return expand_grid({"search": {"start": [math.log10(start), math.log10(stop), num]}})


def measure(strengths, diverged=()):
    """The curve a model at each strength would give."""
    s = np.asarray(sorted(strengths), dtype=float)
    return pd.DataFrame(
        {
            "strength_value": s,
            "accuracy": 0.9 - 0.8 / (1 + s**-2.0),
            "alignment": 0.3 + 0.3 * np.exp(-((np.log10(s) - math.log10(PEAK)) ** 2) / 0.5),
            "on_change": 1 / (1 + (s / 10) ** 2),
            "off_change": 1 / (1 + (s / SEPARATION) ** 2),
            "status": ["diverged" if v in diverged else "ok" for v in s],
        }
    )


def search(start, factor=2.0, extend=10.0, max_models=20, diverged=()):
    """Rounds of next_strengths until it adds nothing: (every strength tried, rounds)."""
    tried, rounds = list(start), 0
    while True:
        new = next_strengths(
            measure(tried, diverged), REFERENCE, factor=factor, extend=extend, max_models=max_models, **SETTINGS
        )
        if not new:
            return sorted(tried), rounds
        assert not set(new) & set(tried)  # a round never retrains a strength
        tried += new
        rounds += 1


def bracket(tried, inside):
    """The tried strengths either side of the first where ``inside`` turns True."""
    s = np.asarray(tried)
    first = int(np.argmax(inside(s)))
    return s[first - 1], s[first]


def test_the_search_brackets_every_turn_to_the_factor_with_fewer_models_than_a_grid():
    start = start_grid(1e-4, 1e2, 4)
    assert start == [1e-4, 1e-2, 1.0, 100.0]
    tried, rounds = search(start)
    lo, hi = bracket(tried, lambda s: 0.9 - (0.9 - 0.8 / (1 + s**-2.0)) > 0.1)
    assert lo < ACCURACY_TURN < hi and hi / lo <= 2
    lo, hi = bracket(tried, lambda s: 1 / (1 + (s / SEPARATION) ** 2) < 0.5)
    assert lo <= SEPARATION < hi and hi / lo <= 2
    alignment = measure(tried)["alignment"].to_numpy()
    peak = int(np.argmax(alignment))
    assert tried[peak - 1] < PEAK < tried[peak + 1]
    assert tried[peak] / tried[peak - 1] <= 2 and tried[peak + 1] / tried[peak] <= 2
    # a log grid with the same resolution over the same range: factor 2 over 6 decades
    grid = math.ceil(math.log(1e6) / math.log(2)) + 1
    assert len(tried) <= 13 < grid == 21 and rounds >= 2


def test_the_search_extends_a_range_that_stops_short_of_the_turns():
    # 1e-3 .. 1e-2: accuracy never falls and the peak is at the strongest, so it looks above;
    # the weakest is not past any turn, so it does not look below
    tried, _ = search(start_grid(1e-3, 1e-2, 2), max_models=30)
    assert min(tried) == 1e-3 and max(tried) > ACCURACY_TURN
    lo, hi = bracket(tried, lambda s: 0.9 - (0.9 - 0.8 / (1 + s**-2.0)) > 0.1)
    assert lo < ACCURACY_TURN < hi and hi / lo <= 2


def test_the_search_stops_at_its_budget_ends_first():
    tried, _ = search(start_grid(1e-3, 1e-2, 2), max_models=5)
    assert len(tried) == 5
    # the first round extends the range (10 x the strongest) before it bisects
    assert 0.1 in tried


def test_a_bracketed_curve_adds_nothing_and_a_diverged_end_is_not_extended():
    curve = measure([0.005, 0.01, 0.02, 0.0316, 0.05, 0.3, 0.5])
    assert next_strengths(curve, REFERENCE, factor=2, extend=10, max_models=50, **SETTINGS) == []
    # accuracy never falls below 0.1 of the standard's, but the strongest diverged: no look beyond it
    curve = measure([1e-3, 2e-3, 4e-3], diverged=(4e-3,))
    kinds = {(t.kind, t.hi) for t in turns(curve, REFERENCE, **SETTINGS)}
    assert ("accuracy falls", None) not in kinds and ("alignment peak", None) not in kinds


def test_a_weakest_strength_past_a_turn_looks_below_it():
    curve = measure([0.05, 0.1])  # off-manifold change already below half the standard's
    assert next_strengths(curve, REFERENCE, factor=2, extend=10, max_models=50, **SETTINGS)[0] == 0.005


def test_search_curve_averages_seeds_against_the_standard_model():
    rows = measure([0.01, 0.1]).assign(objective="gnorm")
    models = pd.concat(
        [
            rows.assign(seed=0),
            rows.assign(seed=1, accuracy=rows["accuracy"] - 0.02),
            pd.DataFrame([{"objective": "standard", "strength_value": 0.0, "seed": 0, **measure([1e-9]).iloc[0]}]),
        ]
    ).assign(status="ok")
    curve, reference = search_curve(models, "gnorm")
    assert curve["accuracy"].to_numpy() == pytest.approx(measure([0.01, 0.1])["accuracy"] - 0.01)
    assert reference["accuracy"] == pytest.approx(0.9) and list(curve["strength_value"]) == [0.01, 0.1]
    with pytest.raises(ValueError, match="standard"):
        search_curve(models[models["objective"] != "standard"], "gnorm")


def test_bad_settings_raise():
    with pytest.raises(ValueError, match="exceed 1"):
        next_strengths(measure([0.1, 1]), REFERENCE, factor=1, extend=10, max_models=9, **SETTINGS)


def test_a_round_on_a_runs_tables_adds_what_the_pure_function_adds(tmp_path, monkeypatch, capsys):
    # a finished run's alignment and manifold tables for gnorm at the coarse start and the
    # standard model; python -m pags.search reads them through the demo's config
    from pags.search.__main__ import main
    from workflow_helpers import DEMO_EXPERIMENTS

    start = start_grid(1e-4, 1e2, 4)
    standard = pd.DataFrame([{"strength_value": 0.0, "accuracy": 0.9, "alignment": 0.3, "on_change": 1.0}])
    models = pd.concat([standard.assign(objective="standard", off_change=1.0, status="ok"), measure(start)])
    models = models.fillna({"objective": "gnorm"}).assign(seed=0)
    alignment = models.rename(columns={"accuracy": "test_accuracy", "alignment": "similarity"})
    # the demo's regimes read the cosine with grad log p(y | x); other rows are left alone
    alignment = pd.concat(
        [alignment.assign(score="posterior", metric="cosine"), alignment.assign(score="trained", similarity=9.0)]
    )
    manifold = pd.concat(
        [
            models.assign(tangent="autoencoder", step_size=0.5),
            models.assign(tangent="true", step_size=0.5, off_change=0),
        ]
    )
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results/synthetic/tables").mkdir(parents=True)
    alignment.to_csv("results/synthetic/tables/alignment.csv", index=False)
    manifold.to_csv("results/synthetic/tables/manifold_robustness.csv", index=False)
    main([str(DEMO_EXPERIMENTS), "--dataset", "synthetic", "--factor", "2", "--max-models", "20"])
    printed = capsys.readouterr().out
    expected = next_strengths(measure(start), REFERENCE, factor=2, extend=10, max_models=20, **SETTINGS)
    assert expected and f"add {', '.join(f'{v:.4g}' for v in expected)};" in printed
    assert "gnorm: 4 strengths tried" in printed and "accuracy falls: 0.01 .. 1 (not bracketed)" in printed
    assert "smooth: not in the run's tables" in printed


def search_config(max_models=4, rounds=1):
    """The tiny sweep with gnorm's grid a search from 0.01 and 1, the exact score only."""
    from test_sweep_workflow import tiny_sweep_config

    config = tiny_sweep_config()
    sweep = config["sweep"]["synthetic"]
    search = {"start": [-2, 0, 2], "factor": 3, "extend": 10, "max_models": max_models, "rounds": rounds}
    sweep["objectives"] = {"standard": {"grid": [0]}, "gnorm": {"grid": {"search": search}}}
    sweep["score"] = {k: v for k, v in sweep["score"].items() if k != "denoiser"} | {"backends": ["analytic"]}
    sweep["alignment"] = {"metrics": ["cosine"]}
    sweep["regimes"] = {"metric": "cosine", "score": "analytic"}
    config["figures"] = {"gallery": {"n_images": 2, "n_strengths": 3}}
    return config


def gallery_strengths(work):
    """The gnorm strengths the search's gallery drew, from its log."""
    log = (work / "results/logs/figures/fig_gallery_synthetic_gnorm.log").read_text()
    return [line.split(" gnorm ")[1].split(":")[0] for line in log.splitlines() if " gnorm " in line]


@pytest.mark.slow
def test_a_search_runs_as_checkpoints_and_trains_each_strength_once(tmp_path):
    import json

    from pags.gallery import spread
    from pags.grid import format_strength
    from pags.search import metric_rows, search_round
    from workflow_helpers import describe, nothing_to_be_done, run_snakemake, write_config

    work, target = tmp_path / "work", "results/synthetic/tables/regimes.csv"
    gallery = "results/figures/fig_gallery_synthetic_gnorm.png"
    work.mkdir()
    config = search_config()
    proc = run_snakemake(work, write_config(tmp_path / "config.yaml", config), target, gallery)
    assert proc.returncode == 0, describe(proc)
    results = work / "results/synthetic"
    rounds = [json.loads((results / f"search/gnorm/round={r}.json").read_text()) for r in (0, 1)]
    assert rounds[0]["strengths"] == [0.01, 1.0]
    # round 1 adds what the pure function adds on the models of round 0, read from the run's tables
    tables = {t: pd.read_csv(results / f"tables/{t}.csv") for t in ("alignment", "manifold_robustness")}
    models = metric_rows(tables["alignment"], tables["manifold_robustness"], "analytic", "cosine", 0.5)
    models = models[models["strength_value"].isin([0.0, *rounds[0]["strengths"]])]
    search = config["sweep"]["synthetic"]["objectives"]["gnorm"]["grid"]["search"]
    added = search_round(models, "gnorm", search, max_accuracy_drop=0.1, off_below=0.5)
    assert rounds[1]["added"] == added and added and rounds[1]["strengths"] == sorted([0.01, 1.0, *added])
    # the sweep's tables hold the models of the last round, one per strength
    regimes = pd.read_csv(results / "tables/regimes.csv")
    assert sorted(regimes.loc[regimes["objective"] == "gnorm", "strength_value"]) == rounds[1]["strengths"]
    assert len(list((results / "models/gnorm").iterdir())) == len(rounds[1]["strengths"])
    # the gallery waits for the search and spreads its 3 strengths over what it found
    assert gallery_strengths(work) == [format_strength(s) for s in spread(rounds[1]["strengths"], 3)]
    # a finished search reruns nothing; a wider one trains only its new strengths
    assert nothing_to_be_done(run_snakemake(work, tmp_path / "config.yaml", "-n", target))
    trained = {p: p.stat().st_mtime for p in (results / "models/gnorm").glob("*/seed=0/model.pt")}
    wider = write_config(tmp_path / "wider.yaml", search_config(max_models=5, rounds=2))
    proc = run_snakemake(work, wider, target, gallery)
    assert proc.returncode == 0, describe(proc)
    after = {p: p.stat().st_mtime for p in (results / "models/gnorm").glob("*/seed=0/model.pt")}
    assert {p: after[p] for p in trained} == trained and len(after) == 5
    # with the regimes table of the narrower search already there, the gallery still waits
    last = json.loads((results / "search/gnorm/round=2.json").read_text())["strengths"]
    assert gallery_strengths(work) == [format_strength(s) for s in spread(last, 3)]
