"""What is stale and why: ``python -m pags.stale [snakemake options]``.

Runs ``snakemake -n`` with the options given (``--profile``, ``--configfile``, targets,
...) and, for every job that Snakemake would rerun because its params changed, says which
values changed (``training.lr: 0.1 -> 0.05``) and which files of its code (``code``
param, ``pags.provenance.code_version``: ``pags.objectives``), grouping the jobs that
changed alike. Jobs rerun for other reasons (no output yet, an input rewritten by a stale
job) are counted; results without any record of what made them (``pags.sidecar``) are
named as such. Snakemake records each output's params as an unnamed list of their
``repr``s and prints in a dry run the ones that differ, before and now; this reads them
back, pairs each old value with its new one and compares them key by key.

Exit status: 0, or Snakemake's when the dry run fails (its output is printed).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .provenance import code_parts
from .sidecar import NO_RECORD

PARAMS_REASON = "Params have changed since last execution: "
BEFORE, NOW = "before: ", " now: "
NOTHING = "<nothing exclusive>"


@dataclass
class PlannedJob:
    rule: str
    output: str = ""
    reasons: str = ""


def planned_jobs(text: str) -> list[PlannedJob]:
    """The jobs of a dry run's output: ``rule name:`` (or ``localrule``) blocks with their
    ``output:`` and ``reason:`` lines indented 4 spaces more; the members of a group job
    are indented under its ``group job`` line."""
    jobs: list[PlannedJob] = []
    indent = None
    for line in text.splitlines():
        header = re.fullmatch(r"( *)(?:local)?(?:rule|checkpoint) (\S+):", line)
        if header:
            jobs.append(PlannedJob(header.group(2)))
            indent = " " * (len(header.group(1)) + 4)
            continue
        if indent is None or not line.startswith(indent) or line[len(indent)] == " ":
            continue
        key, _, value = line[len(indent) :].partition(": ")
        if key == "output":
            jobs[-1].output = value.split(", ")[0]
        elif key == "reason":
            jobs[-1].reasons = value
    return jobs


def _literals(text: str) -> list[Any]:
    """The comma-separated Python literals at the start of ``text`` (Snakemake joins the
    params' reprs with commas), up to the end or a following reason ("; ...")."""
    text = text.strip()
    if text == NOTHING:
        return []
    ends = [len(text)] + [m.start() for m in re.finditer(r";\s", text)][::-1]
    for end in ends:
        try:
            return list(ast.literal_eval(f"[{text[:end].strip()}]"))
        except (SyntaxError, ValueError):
            continue
    raise ValueError(f"cannot read the params Snakemake printed: {text[:200]}")


def params_change(reasons: str) -> tuple[list[Any], list[Any]] | None:
    """(values before, values now) of a job's params change, or None if it has none."""
    start = reasons.find(PARAMS_REASON)
    if start < 0:
        return None
    text = reasons[start + len(PARAMS_REASON) :]
    text = text[text.index(BEFORE) + len(BEFORE) :]
    before, now = text.split(NOW, 1)
    return _literals(before), _literals(now)


def value_changes(old: Any, new: Any, path: str = "") -> list[str]:
    """``key.path: old -> new`` for every leaf that differs, keys of mappings followed."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes = []
        for key in sorted(set(old) | set(new), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in old:
                changes.append(f"{where}: added, {new[key]!r}")
            elif key not in new:
                changes.append(f"{where}: removed, was {old[key]!r}")
            else:
                changes += value_changes(old[key], new[key], where)
        return changes
    if old == new:
        return []
    return [f"{path or 'value'}: {old!r} -> {new!r}"]


def code_changes(old: str, new: str) -> list[str]:
    """The files whose code changed between two ``code_version`` strings."""
    before, now = code_parts(old), code_parts(new)
    if not before or not now:
        return [f"code: {old.split(' (')[0]} -> {new.split(' (')[0]} (recorded without the digests of its files)"]
    changed = [name for name in now if name in before and before[name] != now[name]]
    changes = [f"code of {name} changed" for name in changed]
    changes += [f"code: now also runs {name}" for name in now if name not in before]
    changes += [f"code: no longer runs {name}" for name in before if name not in now]
    return changes


def _is_code(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("code ")


def _is_raw(value: Any) -> bool:
    """The state of the raw files under data.root a data job reads (``Plan.raw_data``)."""
    return isinstance(value, str) and re.fullmatch(r"raw [0-9a-f]{16} \(\d+ files\)", value) is not None


def _shared_keys(a: Any, b: Any) -> int:
    return len(set(a) & set(b)) if isinstance(a, dict) and isinstance(b, dict) else -1


def describe_change(before: Sequence[Any], now: Sequence[Any]) -> list[str]:
    """What changed between a job's recorded params and its current ones: code files and
    value paths. Params are unnamed: a code string pairs with a code string, a mapping
    with the recorded mapping that shares most of its keys, other values in order."""
    old, changes = list(before), []
    if old == [ast.literal_eval(NO_RECORD)]:
        return [
            "no record of the code and values that made it (copied without it?): accept it with --touch "
            "after checking, or delete it (pags.sidecar)"
        ]
    for value in now:
        if _is_code(value):
            match = next((o for o in old if _is_code(o)), None)
        elif _is_raw(value):
            match = next((o for o in old if _is_raw(o)), None)
        elif isinstance(value, dict):
            match = max(old, key=lambda o: _shared_keys(o, value), default=None)
            match = match if _shared_keys(match, value) > 0 else None
        else:
            match = next((o for o in old if type(o) is type(value) and not _is_code(o) and not _is_raw(o)), None)
        if match is None:
            changes.append(f"new value {value!r}")
            continue
        old.remove(match)
        if _is_raw(value):
            changes.append(
                f"raw data under data.root changed ({match.split('(')[1][:-1]} then, {value.split('(')[1][:-1]} now)"
            )
        else:
            changes += code_changes(match, value) if _is_code(value) else value_changes(match, value)
    changes += [f"value no longer given: {o!r}" for o in old]
    return changes


def report(jobs: Iterable[PlannedJob], shown: int = 3) -> str:
    """The stale jobs grouped by rule and by what changed, then the count of the others."""
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    others: dict[str, int] = defaultdict(int)
    for job in jobs:
        change = params_change(job.reasons)
        if change is None:
            if job.rule != "all":
                others[job.rule] += 1
            continue
        groups[job.rule, tuple(describe_change(*change))].append(job.output)
    if not groups and not others:
        return "Nothing is stale."
    lines = []
    for (rule, changes), outputs in sorted(groups.items()):
        more = f", and {len(outputs) - shown} more" if len(outputs) > shown else ""
        lines.append(f"{rule}: {len(outputs)} job(s) stale ({', '.join(outputs[:shown])}{more})")
        lines += [f"    {c}" for c in changes]
    if others:
        counts = ", ".join(f"{rule} {n}" for rule, n in sorted(others.items()))
        lines.append(
            f"Also planned, as their inputs are stale or missing, or for other reasons (snakemake -n): {counts}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        return proc.returncode
    print(report(planned_jobs(proc.stdout + proc.stderr)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
