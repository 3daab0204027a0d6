"""The run's verdict where a user looks: the terminal at the end of a run, the report's front page.

Both tell the claims table (``pags.claims``) in a few lines: how many claims hold, fail
and are not measured, and every row that fails with the numbers behind it. The full
table is ``results/claims.md`` (and ``.csv``, and the report's Claims section).
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pandas as pd

from .claims import COLUMNS, verdict_counts

NUMBERS = ("value", "threshold")  # the claims table's numeric columns; the rest is text


def read_claims(path: str | Path) -> pd.DataFrame:
    """The claims table written by the ``claims`` rule (``pags.claims.COLUMNS``), with
    empty text cells as ``""`` (not NaN) and strengths as written (``"1_4_8"``)."""
    text = [c for c in COLUMNS if c not in NUMBERS]
    table = pd.read_csv(path, dtype=dict.fromkeys(text, str))
    return table.assign(**{c: table[c].fillna("") for c in text})


def _failing(table: pd.DataFrame) -> list[str]:
    """One line per failing row: figure, claim, data set, objective (and strength), detail."""
    lines = []
    for r in table[table["verdict"] == "fails"].itertuples():
        where = " ".join(p for p in (r.dataset, r.objective, r.strength) if p)
        lines.append(f"{r.figure}, {r.claim}, {where}: {r.detail}")
    return lines


def terminal_summary(table: pd.DataFrame, path: str | Path) -> str:
    """The verdict for the end of a run: the counts, then each failing row indented.

    ``path`` is the table to read in full (named on the first line)."""
    lines = [f"The paper's claims on this run ({path}): {verdict_counts(table)}."]
    failing = _failing(table)
    if failing:
        lines.append("Failing:")
        lines += [f"  {line}" for line in failing]
    return "\n".join(lines)


def _readable(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def end_of_run(path: str | Path, checked: bool) -> str:
    """What to print when a run ends: the verdict of the claims table at ``path``.

    ``checked``: whether this run's claims job finished or was already up to date. If it
    did not (a job the claims need failed), the message says so, and gives the counts of
    an earlier table at ``path`` with its date, if there is one. Never raises for a
    missing or empty table (``snakemake --touch`` can leave one): it says so."""
    path = Path(path)
    if checked:
        if _readable(path):
            return terminal_summary(read_claims(path), path)
        return f"The claims table {path} is missing or empty: run the same command again to check the claims."
    message = "The claims were not checked: a job they need did not finish (its error is above)."
    if _readable(path):
        written = datetime.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
        message += f" The last check ({path}, {written}): {verdict_counts(read_claims(path))}."
    return message


def _rst_escaped(text: str) -> str:
    """``text`` as literal reStructuredText: its markup characters escaped."""
    return re.sub(r"([\\*`|_<>\[\]])", r"\\\1", text)


def front_page(table: pd.DataFrame) -> str:
    """The report's front page (reStructuredText): the counts and the failing rows.

    Snakemake renders the page through Jinja2 (its caption templating), so the table's
    text is kept raw."""
    failing = _failing(table)
    lines = [
        "The paper's claims on this run",
        "==============================",
        "",
        "{% raw %}",
        f"**{verdict_counts(table)}**: Srinivas, Bordt & Lakkaraju (NeurIPS 2023), checked on this run's",
        "tables (section Claims, ``results/claims.csv``).",
        "",
    ]
    if failing:
        lines += ["Failing:", ""] + [f"- {_rst_escaped(line)}" for line in failing] + [""]
    lines += ["{% endraw %}", ""]
    return "\n".join(lines)
