"""An objective's own seeds (``objectives.<name>.seeds``): which models a run trains and
what each seed's model is."""

from __future__ import annotations

import copy
from types import SimpleNamespace

from pags.config import validated_config
from pags.grid import format_strength
from pags.plan import Plan
from workflow_helpers import TinyRun, tiny_config


def test_more_seeds_of_the_standard_model_add_its_models_and_change_no_model():
    config = tiny_config()
    plan = Plan(validated_config(copy.deepcopy(config)))
    config["distractor"]["objectives"]["standard"]["seeds"] = [0, 3, 5]
    more = Plan(validated_config(config))
    dataset = TinyRun.dataset
    added = set(more.model_grid(dataset)) - set(plan.model_grid(dataset))
    assert added == {("standard", "0", 3), ("standard", "0", 5)}
    assert set(plan.model_grid(dataset)) <= set(more.model_grid(dataset))
    # the seed-0 models keep their params (nothing reruns), and seed 3 is a model of its own seed
    for objective, strength in (("standard", "0"), ("pgd", format_strength([1, 4, 8]))):
        w = SimpleNamespace(dataset=dataset, objective=objective, strength=strength, seed=0)
        assert more.train_hparams(w) == plan.train_hparams(w)
    w = SimpleNamespace(dataset=dataset, objective="standard", strength="0", seed=3)
    assert more.train_hparams(w)["seed"] == 3 and "seeds" not in more.train_hparams(w)["objective_options"]
    # the figures show the first seed's models, one per (objective, strength)
    assert more.first_seed_models(dataset) == plan.first_seed_models(dataset)
