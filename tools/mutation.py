"""Mutation testing of the science modules: does a change that moves a number fail a test?

Each mutant is one small edit of one module's syntax tree: an arithmetic or comparison
operator swapped, a number changed, a product or quotient replaced by one of its factors
(``step_size * eps`` -> ``step_size``), a call replaced by its first argument
(``unit_direction(v, c)`` -> ``v``), a sign or a ``not`` dropped, ``and``/``or`` or
``True``/``False`` swapped. A mutant is *killed* when the module's quick tests fail (or
run past a time limit) with it, and *survives* when they pass: a survivor is a change no
test sees, to be killed by a new test or shown to be equivalent (docs/mutation.md).

Usage, from the repository root (the default is every module of ``MODULES``):

    OMP_NUM_THREADS=1 nice -n 10 python tools/mutation.py [MODULE ...] [--tests 'TEST ... [-k EXPR]']
        [--log results.jsonl] [--killed-in earlier.jsonl ...]

MODULE is a path under workflow/pags (``manifold/robustness.py``); ``--tests`` replaces
the module's pytest arguments (``MODULES``). The run works on a copy of the repository
in a temporary directory (the working tree is never edited) and forks one pytest per
mutant, in its own process group, from a process that has imported torch once. ``--log`` records each
mutant's result as it comes and resumes from it; ``--killed-in`` takes an earlier run's
killed mutants as killed (with tests only added since, they still are) and reruns only
its survivors. It prints every survivor and a table per module (docs/mutation.md).
mutmut does not fit this layout: it names modules from their path below ``src/`` only,
and the tests import ``pags``, not ``workflow.pags``.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import resource
import shlex
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path("workflow/pags")

# module -> its quick tests (the slow marker is deselected), those that pin its numbers first:
# with -x a mutant is killed at the first failing test.
MODULES = {
    "norms.py": ["tests/test_scale_attacks.py", "tests/test_pgd_steps.py"],
    "attacks.py": ["tests/test_scale_attacks.py", "tests/test_pgd_steps.py", "tests/test_attacks_objectives.py"],
    "objectives/pgd.py": [
        "tests/test_scale_objectives.py",
        "tests/test_attacks_objectives.py",
        "tests/test_objectives.py",
    ],
    "objectives/gnorm.py": [
        "tests/test_scale_objectives.py",
        "tests/test_attacks_objectives.py",
        "tests/test_objectives.py",
    ],
    "objectives/smooth.py": [
        "tests/test_scale_objectives.py",
        "tests/test_attacks_objectives.py",
        "tests/test_objectives.py",
    ],
    "objectives/randsmooth.py": [
        "tests/test_scale_objectives.py",
        "tests/test_attacks_objectives.py",
        "tests/test_objectives.py",
    ],
    "objectives/trades.py": [
        "tests/test_scale_objectives.py",
        "tests/test_attacks_objectives.py",
        "tests/test_objectives.py",
    ],
    "manifold/robustness.py": [
        "tests/test_scale_manifold.py",
        "tests/test_scale_invariant_normalisation.py",
        "tests/test_manifold.py",
        # the Jacobian, tangent-basis and autoencoder tests do not reach this module
        "-k",
        "not jacobian and not tangent_basis and not tangent_spaces and not truncated_basis and not autoencoder",
    ],
    "noise_robustness.py": ["tests/test_scale_noise_robustness.py", "tests/test_noise_robustness.py"],
    "alignment.py": [
        "tests/test_scale_alignment.py",
        "tests/test_scale_invariant_normalisation.py",
        "tests/test_score_alignment.py",
        # the metrics' tests, not the score's or the denoiser's in the same file; the slow
        # test of LPIPS's shipped heads too (-m "" lifts the quick set's marker filter)
        "-k",
        "scale or normalise or metric or ssim or lpips or alexnet or similarities",
        "-m",
        "",
    ],
    "resize.py": ["tests/test_scale_alignment.py", "tests/test_pretrained.py", "-k", "scale or resiz or antialias"],
    "score/__init__.py": ["tests/test_scale_score.py", "tests/test_score_alignment.py"],
    "score/edm.py": ["tests/test_scale_score.py", "tests/test_score_alignment.py"],
    "score/denoiser.py": ["tests/test_scale_score.py", "tests/test_score_alignment.py"],
    "regimes.py": [
        "tests/test_scale_regimes.py",
        "tests/test_score_alignment.py",
        "tests/test_claims.py",
        # the regime rule's tests in test_score_alignment.py, not the score's or the metrics'
        "-k",
        "scale or claims or regime or excessive or aligned or gain or diverged or nan_reference",
    ],
    "stats.py": ["tests/test_scale_regimes.py", "tests/test_claims.py"],
    "claims.py": ["tests/test_scale_claims.py", "tests/test_claims.py"],
}

# Libraries the tests import, loaded once before forking (seconds of every test run);
# never pags itself, whose modules must be read from the mutated files.
PRELOAD = ("numpy", "pandas", "pytest", "yaml", "torch.func", "torch.nn.functional", "torchvision")

SWAP_BINOP = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Pow: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.MatMult: ast.Mult,
}
SWAP_COMPARE = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
# Calls that only build or check things: replacing them by their argument is no mutant of the science.
KEEP_CALLS = {"isinstance", "len", "range", "float", "int", "str", "bool", "list", "tuple", "dict", "set", "zip"}


@dataclass
class Mutant:
    line: int
    what: str
    tree: ast.Module


def _docstring_nodes(tree: ast.AST) -> set[int]:
    """ids of docstring constants (not mutated)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def _skipped(tree: ast.Module) -> set[int]:
    """ids of nodes never mutated: docstrings, imports, ``raise`` statements and whatever
    lies inside them, and annotations."""
    skip = _docstring_nodes(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom | ast.Raise):
            skip |= {id(n) for n in ast.walk(node)}
        for field in ("annotation", "returns"):
            sub = getattr(node, field, None)
            if sub is not None:
                skip |= {id(n) for n in ast.walk(sub)}
    return skip


def _replacements(node: ast.AST) -> list[tuple[str, ast.AST]]:
    """(description, replacement node) for every mutant of this one node."""
    out: list[tuple[str, ast.AST]] = []
    if isinstance(node, ast.BinOp):
        new = SWAP_BINOP.get(type(node.op))
        if new is not None:
            out.append((f"{type(node.op).__name__} -> {new.__name__}", ast.BinOp(node.left, new(), node.right)))
        if isinstance(node.op, ast.Mult | ast.Div | ast.Pow):
            out.append(("keep only the left operand", node.left))
        if isinstance(node.op, ast.Mult):
            out.append(("keep only the right operand", node.right))
    elif isinstance(node, ast.Compare) and len(node.ops) == 1:
        new = SWAP_COMPARE.get(type(node.ops[0]))
        if new is not None:
            out.append(
                (f"{type(node.ops[0]).__name__} -> {new.__name__}", ast.Compare(node.left, [new()], node.comparators))
            )
    elif isinstance(node, ast.BoolOp):
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        out.append((f"{type(node.op).__name__} -> {new.__name__}", ast.BoolOp(new(), node.values)))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.Not):
        out.append((f"drop {type(node.op).__name__}", node.operand))
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = node.value
        for new_value in ([value + 1] if value else [1]) + ([0] if value not in (0, 1) else []):
            out.append((f"{value!r} -> {new_value!r}", ast.Constant(type(value)(new_value))))
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        out.append((f"{node.value} -> {not node.value}", ast.Constant(not node.value)))
    elif isinstance(node, ast.Call) and node.args and not isinstance(node.args[0], ast.Starred):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name not in KEEP_CALLS:
            out.append((f"call {name}(...) -> its first argument", node.args[0]))
    return out


class _Replace(ast.NodeTransformer):
    def __init__(self, target: ast.AST, replacement: ast.AST):
        self.target, self.replacement = target, replacement

    def generic_visit(self, node):
        if node is self.target:
            return self.replacement
        return super().generic_visit(node)


def mutants(source: str) -> list[Mutant]:
    """Every mutant of a module's source, one per (node, replacement). Each is made on a
    fresh parse, so a replacement that reuses the node's children edits only its own tree."""
    tree = ast.parse(source)
    skip = _skipped(tree)
    out = []
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip or not hasattr(node, "lineno"):
            continue
        for k, (what, _) in enumerate(_replacements(node)):
            fresh = ast.parse(source)
            target = next(n for i, n in enumerate(ast.walk(fresh)) if i == index)
            mutated = _Replace(target, _replacements(target)[k][1]).visit(fresh)
            out.append(Mutant(node.lineno, what, ast.fix_missing_locations(mutated)))
    return out


def run_tests(workdir: Path, tests: list[str], timeout: float) -> tuple[int, float]:
    """(exit status, seconds) of the quick tests, in a child forked from this process
    (torch already imported); 124 if they ran past ``timeout``."""
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: run pytest on the copy, never return
        try:
            os.setsid()  # its own process group: a test that signals its group cannot stop this run
            os.chdir(workdir)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            import pytest

            code = pytest.main(["-x", "-q", "-p", "no:cacheprovider", "-m", "not slow", *tests])
        except BaseException:
            code = 99
        os._exit(int(code))
    deadline = start + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), time.monotonic() - start
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return 124, time.monotonic() - start
        time.sleep(0.05)


def copy_repo(destination: Path) -> Path:
    """The parts of the repository the quick tests read, without caches."""
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".snakemake", "results", "mutants")
    for part in (
        "workflow",
        "tests",
        "demo",
        "pilot",
        "profiles",
        "envs",
        "Snakefile",
        "config.yaml",
        "pyproject.toml",
    ):
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, destination / part, ignore=ignore)
        elif source.exists():
            shutil.copy2(source, destination / part)
    return destination


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished test runs so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def read_log(log: Path | None, module: str) -> dict[tuple[int, str], dict]:
    """The results of ``module`` in a JSON-lines log, by (index, description)."""
    if log is None or not log.exists():
        return {}
    entries = (json.loads(line) for line in log.read_text().splitlines())
    return {(e["index"], e["what"]): e for e in entries if e["module"] == module}


def mutate_module(workdir: Path, module: str, tests: list[str], log: Path | None, killed_in: list[Path]) -> dict:
    """Run every mutant of ``module``; each result is appended to ``log`` (JSON lines) as it
    comes, and mutants already there are not run again, so an interrupted run resumes.
    Mutants that a log of ``killed_in`` records as killed are taken as killed unrun: with
    tests only added since, they still are."""
    path = workdir / PACKAGE / module
    original = path.read_text()
    done = read_log(log, module)
    for earlier in killed_in:
        for key, entry in read_log(earlier, module).items():
            if entry["killed"]:
                done.setdefault(key, {**entry, "seconds": 0.0, "cpu": 0.0})
    found = mutants(original)
    if len(done) < len(found):
        status, baseline = run_tests(workdir, tests, timeout=600)
        if status != 0:
            raise SystemExit(f"{module}: the tests fail without a mutant (exit {status}): {' '.join(tests)}")
        timeout = max(300.0, 10 * baseline)  # generous: the machine is shared, and a slow run is no kill
    entries = []
    try:
        for index, m in enumerate(found):
            entry = done.get((index, m.what))
            if entry is None:
                path.write_text(ast.unparse(m.tree) + "\n")
                cpu, start = _children_cpu(), time.monotonic()
                status, _ = run_tests(workdir, tests, timeout)
                entry = {
                    "module": module,
                    "index": index,
                    "line": m.line,
                    "what": m.what,
                    "killed": status != 0,
                    "status": status,
                    "seconds": time.monotonic() - start,
                    "cpu": _children_cpu() - cpu,
                }
                if log is not None:
                    with open(log, "a") as f:
                        f.write(json.dumps(entry) + "\n")
                if not entry["killed"]:
                    print(f"  SURVIVED {module}:{m.line}: {m.what}", flush=True)
            entries.append(entry)
    finally:
        path.write_text(original)
    return {
        "module": module,
        "mutants": len(found),
        "killed": sum(e["killed"] for e in entries),
        "survived": [f"{module}:{e['line']}: {e['what']}" for e in entries if not e["killed"]],
        "seconds": sum(e["seconds"] for e in entries),
        "cpu": sum(e["cpu"] for e in entries),
    }


def present(args: list[str], workdir: Path) -> list[str]:
    """pytest ``args`` without the test files that ``workdir`` lacks; options kept."""
    return [
        a
        for i, a in enumerate(args)
        if a.startswith("-") or (i and args[i - 1] in ("-k", "-m")) or (workdir / a.split("::")[0]).exists()
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"paths under {PACKAGE} (default: all of MODULES)")
    parser.add_argument("--tests", type=shlex.split, help="pytest arguments to run instead of the module's own")
    parser.add_argument("--log", type=Path, help="JSON-lines file of results: appended to, and resumed from")
    parser.add_argument(
        "--killed-in", type=Path, nargs="+", default=[], help="earlier runs' logs: their killed mutants are not rerun"
    )
    args = parser.parse_args(argv)
    modules = args.modules or list(MODULES)
    unknown = [m for m in modules if m not in MODULES and not args.tests]
    if unknown:
        raise SystemExit(f"no tests known for {unknown}: pass --tests, or add the module to MODULES")
    # a stop signal unwinds normally: the module is restored and the copy removed
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    sys.dont_write_bytecode = True  # a mutant's bytecode must never be cached as the module's
    import torch  # imported once here, inherited by every forked test run

    torch.set_num_threads(1)
    for name in PRELOAD:
        importlib.import_module(name)
    results = []
    with tempfile.TemporaryDirectory(prefix="pags-mutation-") as tmp:
        workdir = copy_repo(Path(tmp))
        for module in modules:
            tests = args.tests or present(MODULES[module], workdir)
            print(
                f"{module}: {len(mutants((workdir / PACKAGE / module).read_text()))} mutants, tests {' '.join(tests)}",
                flush=True,
            )
            results.append(mutate_module(workdir, module, tests, args.log, args.killed_in))
    print("\n| module | mutants | killed | survived | killed share | wall s | CPU s |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        share = r["killed"] / r["mutants"] if r["mutants"] else float("nan")
        print(
            f"| {r['module']} | {r['mutants']} | {r['killed']} | {len(r['survived'])} | {share:.0%} "
            f"| {r['seconds']:.0f} | {r['cpu']:.0f} |"
        )
    total = sum(r["mutants"] for r in results)
    killed = sum(r["killed"] for r in results)
    print(
        f"\ntotal: {total} mutants, {killed} killed ({killed / max(total, 1):.0%}), "
        f"{sum(r['seconds'] for r in results):.0f} s wall, {sum(r['cpu'] for r in results):.0f} s CPU"
    )
    for r in results:
        for s in r["survived"]:
            print(f"survived: {s}")


if __name__ == "__main__":
    main()
