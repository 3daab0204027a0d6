# Searches (pags.search): a sweep objective whose grid is {search: ...} finds its strengths
# round by round. Each round is a checkpoint; the sweep's tables read the last round's.

import json


checkpoint search_round:
    input:
        unpack(lambda w: search_round_inputs(w)),
    output:
        paths.search_round_file("{dataset}", "{objective}", "{round}"),
    log:
        f"{LOGS}/{{dataset}}/search/{{objective}}/round={{round}}.log",
    wildcard_constraints:
        dataset=one_of(plan.sweep_datasets),
        round=r"\d+",
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("search_round.py"),
        settings=plan.search_params,
    script:
        "../scripts/search_round.py"


def read_round(path):
    with open(path) as f:
        return json.load(f)["strengths"]


def search_round_inputs(w):
    """Round 0 reads nothing; a later one the previous round's strengths and the tables
    of their models and of the standard model."""
    if int(w.round) == 0:
        return {}
    previous = checkpoints.search_round.get(
        dataset=w.dataset, objective=w.objective, round=int(w.round) - 1
    ).output[0]
    return {
        "previous": previous,
        **plan.search_metrics(w.dataset, w.objective, read_round(previous)),
    }


def searched_strengths(dataset, objective):
    """The strengths of a search after its last round (an input function's helper: it
    waits for the checkpoint)."""
    rounds = plan.experiment(dataset)["objectives"][objective]["grid"]["search"][
        "rounds"
    ]
    last = checkpoints.search_round.get(
        dataset=dataset, objective=objective, round=rounds
    ).output[0]
    return read_round(last)


plan.searched = searched_strengths
