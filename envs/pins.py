"""Pin the environment: constraints.txt and the pip section of envs/pags.yaml.

Run it in the environment the test suite passed in (``pip install -c constraints.txt
-e '.[test]'`` then ``pytest``, or after an upgrade on purpose), from the repository root:

    python envs/pins.py           # rewrite constraints.txt and envs/pags.yaml
    python envs/pins.py --check   # exit 1 if either differs from what it would write

constraints.txt is ``pip freeze --all --exclude-editable --exclude pip`` of that
environment: every installed distribution at its exact version (setuptools too, which
torch needs at run time). envs/pags.yaml, the conda environment of the rules, gets the
same pins for what the rules import (pags's dependencies but Snakemake and its SLURM
plugin) and everything those need, resolved from the installed packages' metadata; pins
that only Linux needs (torch's CUDA libraries) carry a ``sys_platform == "linux"`` marker.
The yaml is copied by Snakemake before conda reads it, so it cannot refer to
constraints.txt by a relative path: it holds the pins itself.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
CONSTRAINTS = REPO / "constraints.txt"
CONDA_ENV = REPO / "envs" / "pags.yaml"
# pags's dependencies that jobs do not import: they run Snakemake, not the rules
NOT_IN_RULE_ENV = {"snakemake", "snakemake-executor-plugin-slurm"}
HEADER = """\
# The exact versions the test suite passed with. Install with
#     pip install -c constraints.txt -e .          (or -e '.[test]')
# Regenerate, in an environment where `pytest` passed, from the repository root:
#     python envs/pins.py
# (pip freeze --all --exclude-editable --exclude pip, and the same pins into envs/pags.yaml)
"""
PIP_SECTION = re.compile(r"^(  - pip:\n)(?:      - .*\n)*", re.MULTILINE)


def closure(requirements: list[str], environment: dict[str, str] | None = None) -> set[str]:
    """Canonical names of the installed distributions that ``requirements`` need, recursively,
    with markers evaluated in ``environment`` (default: this interpreter's)."""
    env = {**default_environment(), **(environment or {})}
    seen: set[str] = set()
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": extra}):
            continue
        name = canonicalize_name(req.name)
        key = f"{name}[{','.join(sorted(req.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            raise SystemExit(f"{req.name} (needed: {req}) is not installed here") from None
        for sub in dist.requires or []:
            r = Requirement(sub)
            # a requirement of an extra applies when that extra was asked for
            for wanted in sorted(req.extras) or [""]:
                todo.append((r, wanted))
    return {key.split("[")[0] for key in seen}


def pags_requirements(extra: str | None = None) -> list[str]:
    """pags's requirements as pyproject.toml declares them (``extra``'s too): read from the
    file, not from an installed copy's metadata, which is stale until pags is reinstalled."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *(project["optional-dependencies"][extra] if extra else [])]


def parse_pins(text: str) -> dict[str, str]:
    """``name==version`` lines (comments, blank lines and markers ignored) as {canonical name: version}."""
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"not an exact pin: {line!r}"
        pins[canonicalize_name(name)] = version.strip()
    return pins


def constraints_text() -> str:
    freeze = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--all", "--exclude-editable", "--exclude", "pip"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return HEADER + freeze


def rule_env_requirements() -> list[str]:
    return [r for r in pags_requirements() if canonicalize_name(Requirement(r).name) not in NOT_IN_RULE_ENV]


def conda_pip_lines(pins: dict[str, str]) -> list[str]:
    """The pip entries of envs/pags.yaml: the pinned closure of the rules' requirements."""
    requirements = rule_env_requirements()
    linux = closure(requirements, {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"})
    macos = closure(requirements, {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64"})
    lines = []
    for name in sorted(linux | macos):
        if name not in pins:
            raise SystemExit(f"{name} is needed by the rules but not pinned in {CONSTRAINTS.name}")
        marker = "" if name in macos else '; sys_platform == "linux"'
        if name not in linux:
            marker = '; sys_platform == "darwin"'
        lines.append(f"{name}=={pins[name]}{marker}")
    return lines


def conda_env_text(pins: dict[str, str]) -> str:
    text = CONDA_ENV.read_text()
    assert PIP_SECTION.search(text), f"{CONDA_ENV} has no `  - pip:` section"
    section = "  - pip:\n" + "".join(f"      - {line}\n" for line in conda_pip_lines(pins))
    return PIP_SECTION.sub(lambda _: section, text, count=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether the files are up to date")
    args = parser.parse_args()
    constraints = constraints_text()
    conda_env = conda_env_text(parse_pins(constraints))
    stale = [
        path
        for path, text in ((CONSTRAINTS, constraints), (CONDA_ENV, conda_env))
        if not path.is_file() or path.read_text() != text
    ]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(REPO)} differs from this environment's pins")
        return 1 if stale else 0
    for path, text in ((CONSTRAINTS, constraints), (CONDA_ENV, conda_env)):
        path.write_text(text)
    print(f"wrote {CONSTRAINTS.relative_to(REPO)} and {CONDA_ENV.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
