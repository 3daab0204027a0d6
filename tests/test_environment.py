"""The pinned environment: constraints.txt, envs/pags.yaml, and what installs use them.

constraints.txt holds the exact versions the test suite passed with; the README's quick
start and CI install with it, and envs/pags.yaml (the rules' conda environment) repeats
its pins. Requirements are resolved recursively from the installed packages' metadata
(envs/pins.py, which also writes both files).
"""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.utils import canonicalize_name
from pags.datasets import BASE_DATASETS
from pags.datasets.registry import loader_module
from pags.robustness_checkpoints import UNPICKLER_MODULES
from workflow_helpers import REPO

CONSTRAINTS = REPO / "constraints.txt"
CONDA_ENV = REPO / "envs" / "pags.yaml"


def load_pins_module():
    spec = importlib.util.spec_from_file_location("pins", REPO / "envs" / "pins.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pins = load_pins_module()


@pytest.fixture(scope="module")
def constraints() -> dict[str, str]:
    return pins.parse_pins(CONSTRAINTS.read_text())


def test_constraints_are_exact_pins_with_a_header():
    text = CONSTRAINTS.read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert text.startswith("#") and "python envs/pins.py" in header, "no header saying how to regenerate"
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!_-]+", line), f"not an exact pin: {line!r}"


def test_constraints_pin_torch_and_torchvision(constraints):
    assert constraints["torch"] == "2.14.1"
    assert constraints["torchvision"] == "0.29.1"


@pytest.mark.parametrize("extra", [None, "test"])
def test_constraints_pin_everything_pags_needs(constraints, extra):
    """Every distribution that pags's dependencies (and the test extra's) need, recursively."""
    needed = pins.closure(pins.pags_requirements(extra))
    assert {"torch", "snakemake", "numpy", "pygments"} <= needed
    if extra == "test":
        assert {"pytest", "snakefmt"} <= needed
    assert sorted(needed - constraints.keys()) == [], "run `python envs/pins.py`"


def test_installed_requirements_are_consistent():
    proc = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_reports_can_be_built_from_a_plain_install():
    """``snakemake --report`` needs pygments: ``pip install -e .`` (no extra) must bring it."""
    assert "pygments" in pins.closure(pins.pags_requirements())


def test_conda_env_repeats_the_pins(constraints):
    """envs/pags.yaml pins, with the versions of constraints.txt, what the rules need."""
    env = yaml.safe_load(CONDA_ENV.read_text())
    entries = [e for e in env["dependencies"] if isinstance(e, dict)]
    assert len(entries) == 1 and list(entries[0]) == ["pip"], env["dependencies"]
    pip_pins = pins.parse_pins("\n".join(entries[0]["pip"]))
    assert {name: constraints.get(name) for name in pip_pins} == pip_pins, "run `python envs/pins.py`"
    for name in ("torch", "torchvision", "lpips", "diffusers", "numpy", "pandas", "scikit-image", "pillow"):
        assert name in pip_pins, name
    assert CONDA_ENV.read_text() == pins.conda_env_text(constraints), "run `python envs/pins.py`"


def test_installs_use_the_constraints():
    readme = REPO.joinpath("README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = quick_start.strip().splitlines()
    assert len(commands) == 2, commands
    assert all("pip install -c constraints.txt -e " in c for c in commands), commands
    ci = [line for line in REPO.joinpath(".ci", "run").read_text().splitlines() if "pip install" in line]
    assert ci and all("-c constraints.txt" in line for line in ci), ci


WORKFLOW = REPO / "workflow"


def module_file(name: str) -> Path | None:
    """The file of pags module ``name`` (``pags.datasets.mnist``), or None if it is none."""
    base = WORKFLOW.joinpath(*name.split("."))
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def imports(path: Path) -> set[str]:
    """What the file at ``path`` imports: pags modules by full name, others by top-level name."""
    package = ".".join(path.relative_to(WORKFLOW).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the file's package, one level up per extra dot
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}".rstrip(".")
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names if module_file(f"{base}.{alias.name}")}
    return {name if name.startswith("pags") else name.split(".")[0] for name in found}


def third_party_modules(files: list[Path]) -> set[str]:
    """The top-level modules other than the standard library's that ``files`` import,
    directly or through the pags modules they import."""
    seen, todo, modules = set(), list(files), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imports(path):
            if name.startswith("pags"):
                parts = name.split(".")  # a module imports its packages' __init__ too
                todo += [f for f in (module_file(".".join(parts[:k])) for k in range(1, len(parts) + 1)) if f]
            elif name not in sys.stdlib_module_names:
                modules.add(name)
    return modules


def test_every_module_the_jobs_need_is_a_pinned_dependency(constraints):
    """A job never stops on a missing module: each one the code imports, or unpickling
    imports (dill, for the robustness checkpoints), comes from a distribution that
    pyproject.toml's dependencies need, pinned in constraints.txt; and each one the jobs'
    scripts need is in the rules' environment too (Snakemake's process, which parses the
    workflow, has Snakemake's own)."""
    from importlib.metadata import packages_distributions

    scripts = sorted((WORKFLOW / "scripts").glob("*.py"))
    loaders = [module_file(loader_module(name)) for name in BASE_DATASETS]  # imported by name at run time
    jobs = third_party_modules(scripts + loaders) | set(UNPICKLER_MODULES)
    everything = third_party_modules(sorted(WORKFLOW.rglob("*.py"))) | jobs
    assert {"torch", "dill", "lpips", "sklearn"} <= jobs and "snakemake" in everything - jobs
    provided = packages_distributions()
    needed = pins.closure(pins.pags_requirements())
    env = yaml.safe_load(CONDA_ENV.read_text())
    rule_env = pins.parse_pins("\n".join(next(e for e in env["dependencies"] if isinstance(e, dict))["pip"]))
    for module in sorted(everything):
        assert module in provided, f"{module} is not installed: add it to pyproject.toml and reinstall"
        distribution = canonicalize_name(provided[module][0])
        assert distribution in needed, f"{module} ({distribution}) is no dependency of pags: add it to pyproject.toml"
        assert distribution in constraints, f"{distribution} is not pinned: run `python envs/pins.py`"
        if module in jobs:
            assert distribution in rule_env, f"{distribution} is not in envs/pags.yaml: run `python envs/pins.py`"
