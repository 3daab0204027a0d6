"""The run's verdict as a user sees it: the end-of-run summary and the report's front page,
from a claims table built by hand (pags.claims.row)."""

from __future__ import annotations

import html
import os

import pandas as pd
from docutils.core import publish_parts
from jinja2 import Environment
from pags.claims import COLUMNS, not_measured, row
from pags.io import save_csv
from pags.verdict import end_of_run, front_page, read_claims, terminal_summary

# A failing row whose detail holds reStructuredText and Jinja2 markup, which must show as written.
FAILING_DETAIL = "peak at the strongest | 57.36: *not* `below` x_i_ {{ eps }} {% raw %}"


def claims_table() -> pd.DataFrame:
    rows = [
        row("noise_robustness", "mnist_distractor", "pgd", "holds", strength="1_4_8", value=2.08, detail="ratio 2.08"),
        row("alignment_peak", "cifar10", "gnorm", "fails", value=0.15, detail=FAILING_DETAIL),
        row("theorem3", "cifar10", "gnorm", "holds", value=0.01, detail="4 of 4 models within 0.05"),
        not_measured("theorem4", "synthetic", "the run has no synthetic sweep (sweep.synthetic)"),
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_the_claims_table_reads_back_as_written(tmp_path):
    table = claims_table()
    save_csv(table, tmp_path / "claims.csv")
    back = read_claims(tmp_path / "claims.csv")
    pd.testing.assert_frame_equal(back, table, check_dtype=False)


def test_the_terminal_summary_counts_the_verdicts_and_lists_each_failing_row(tmp_path):
    summary = terminal_summary(claims_table(), "results/claims.csv").splitlines()
    assert summary[0] == "The paper's claims on this run (results/claims.csv): 2 holds, 1 fails, 1 not measured."
    assert summary[1:] == ["Failing:", f"  Fig. 3 bottom, alignment_peak, cifar10 gnorm: {FAILING_DETAIL}"]
    holding = claims_table().assign(verdict="holds")
    assert (
        terminal_summary(holding, "c.csv")
        == "The paper's claims on this run (c.csv): 4 holds, 0 fails, 0 not measured."
    )


def test_a_run_whose_claims_were_not_checked_says_so_and_gives_the_last_check(tmp_path):
    path = tmp_path / "claims.csv"
    assert end_of_run(path, checked=False).startswith("The claims were not checked: a job they need did not finish")
    save_csv(claims_table(), path)
    os.utime(path, (0, 0))  # 1970: an earlier run's table
    message = end_of_run(path, checked=False)
    assert "The claims were not checked" in message and "1970-01-01" in message, message
    assert message.endswith(": 2 holds, 1 fails, 1 not measured."), message
    assert end_of_run(path, checked=True) == terminal_summary(claims_table(), path)


def test_a_missing_or_empty_table_is_said_not_raised(tmp_path):
    path = tmp_path / "claims.csv"
    assert end_of_run(path, checked=True).endswith(
        "is missing or empty: run the same command again to check the claims."
    )
    path.touch()  # as `snakemake --touch` leaves a table it never wrote
    assert "is missing or empty" in end_of_run(path, checked=True)
    assert (
        end_of_run(path, checked=False)
        == "The claims were not checked: a job they need did not finish (its error is above)."
    )


def rendered(page: str) -> str:
    """The front page as Snakemake's report renders it: Jinja2, then docutils to HTML."""
    text = Environment(trim_blocks=True, lstrip_blocks=True).from_string(page).render()
    parts = publish_parts(text, writer="html", settings_overrides={"report_level": 2})
    return parts["html_body"]


def test_the_front_page_says_the_verdict_and_shows_each_failing_detail_as_written():
    body = rendered(front_page(claims_table()))
    assert "system-message" not in body, body  # docutils found no markup error
    text = html.unescape(body)
    assert "The paper's claims on this run" in text
    assert "2 holds, 1 fails, 1 not measured" in text
    assert f"Fig. 3 bottom, alignment_peak, cifar10 gnorm: {FAILING_DETAIL}" in " ".join(text.split())
    assert "ratio 2.08" not in text  # only the failing rows
