"""The rules are glue: what a job reads and which params it gets is said in one place,
``pags.plan`` (or the module that owns the value), not in the .smk files.

Read from the .smk files' Python tokens: no rule file reads ``config[...]`` (the
validated config is ``Plan``'s to interpret), and no lambda spans more than one line (a
longer one is logic, which belongs to a named, tested function).
"""

from __future__ import annotations

import io
import tokenize
from pathlib import Path
from types import SimpleNamespace

import pytest
from pags.config import validated_config
from pags.plan import Plan
from workflow_helpers import REPO, tiny_config

RULE_FILES = sorted([REPO / "Snakefile", *(REPO / "workflow" / "rules").glob("*.smk")])
OPENING, CLOSING = "([{", ")]}"


def tokens(source: str) -> list[tokenize.TokenInfo]:
    return list(tokenize.generate_tokens(io.StringIO(source).readline))


def config_reads(source: str) -> list[int]:
    """Lines where a name ``config`` (bare or an attribute, as ``plan.config``) is subscripted."""
    toks = [t for t in tokens(source) if t.type not in (tokenize.COMMENT, tokenize.NL)]
    return [
        a.start[0]
        for a, b in zip(toks, toks[1:])
        if a.type == tokenize.NAME and a.string == "config" and b.type == tokenize.OP and b.string == "["
    ]


def lambda_spans(source: str) -> list[tuple[int, int]]:
    """(first line, last line) of each lambda: from ``lambda`` to the comma, closing
    bracket or end of line that ends its expression."""
    toks = tokens(source)
    spans = []
    for i, tok in enumerate(toks):
        if tok.type != tokenize.NAME or tok.string != "lambda":
            continue
        depth, end = 0, tok.end[0]
        for t in toks[i + 1 :]:
            if t.type == tokenize.OP and t.string in OPENING:
                depth += 1
            elif t.type == tokenize.OP and t.string in CLOSING:
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and (t.type == tokenize.NEWLINE or (t.type == tokenize.OP and t.string == ",")):
                break
            if t.type not in (tokenize.NL, tokenize.COMMENT):
                end = t.end[0]
        spans.append((tok.start[0], end))
    return spans


@pytest.mark.parametrize("path", RULE_FILES, ids=[p.name for p in RULE_FILES])
def test_rule_files_leave_the_config_to_the_plan(path: Path):
    lines = config_reads(path.read_text())
    assert not lines, f"{path.name} reads config[...] at lines {lines}: name a function of pags.plan.Plan instead"


@pytest.mark.parametrize("path", RULE_FILES, ids=[p.name for p in RULE_FILES])
def test_rule_files_hold_no_multiline_lambda(path: Path):
    long = [(a, b) for a, b in lambda_spans(path.read_text()) if b > a]
    assert not long, f"{path.name} has lambdas over several lines at {long}: name a function of pags.plan.Plan instead"


def test_the_checks_find_what_they_look_for():
    """Known answers, so that the checks above cannot pass by finding nothing."""
    source = (
        "rule r:\n"
        "    params:\n"
        '        a=config["x"],  # config[ in a comment is no read\n'
        "        b=lambda w: plan.f(w),\n"
        '        c=lambda w: {\n            k: v for k, v in plan.config["y"].items()\n        },\n'
        "        d=f(lambda w: (w,\n            1)),\n"
    )
    assert config_reads(source) == [3, 6]
    assert lambda_spans(source) == [(4, 4), (5, 7), (8, 9)]


def test_plan_functions_take_a_data_set_or_a_jobs_wildcards():
    """What the rules name directly (``plan.num_classes``) answers as the call with the
    data set's name does; ``setting`` reads the job's experiment, or a named one."""
    config = validated_config(tiny_config())
    plan = Plan(config)
    dataset = plan.distractor_dataset
    w = SimpleNamespace(dataset=dataset)
    assert dataset == "digits_distractor"
    assert plan.num_classes(w) == plan.num_classes(dataset) == 10
    assert plan.noise_stds(w) == plan.noise_stds(dataset) and len(plan.noise_stds(w)) == 7  # 0 and 6 in logspace
    assert plan.setting("noise_robustness", "n_images")(w) == 40
    assert plan.setting("seed", dataset=dataset)(None) == config["distractor"]["seed"]
    assert plan.train_priority(w) == 1 and plan.train_priority(SimpleNamespace(dataset="other")) == 0
