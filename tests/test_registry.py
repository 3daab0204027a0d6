"""pags.registry: the one discovery and lookup of objectives, data sets and score backends."""

from __future__ import annotations

import itertools
import sys
from dataclasses import dataclass

import pytest
from pags.registry import discover, lookup


@dataclass(frozen=True)
class Spec:
    name: str


def package(tmp_path, monkeypatch, modules: dict[str, str]) -> str:
    """A package ``plugins_<n>`` under ``tmp_path`` with ``modules`` (name -> source)."""
    name = f"plugins_{next(PACKAGES)}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "registry_test_spec", sys.modules[__name__])
    return name


PACKAGES = itertools.count()
MEMBER = "from registry_test_spec import Spec\nSPEC = Spec({!r})\n"


def test_members_in_the_order_given_then_by_name_support_modules_left_out(tmp_path, monkeypatch):
    modules = {n: MEMBER.format(n) for n in ("b", "a", "z", "first")}
    name = package(tmp_path, monkeypatch, {**modules, "helpers": "X = 1\n", "_private": "Y = 2\n"})
    specs = discover(name, Spec, support=("helpers",), first=("z", "first"))
    assert list(specs) == ["z", "first", "a", "b"] and specs["a"] == Spec("a")


def test_a_member_without_a_spec_or_misnamed_is_an_error_naming_the_module(tmp_path, monkeypatch):
    name = package(tmp_path, monkeypatch, {"toy": "LOSS = None\n"})
    with pytest.raises(TypeError, match=rf"{name}\.toy defines no SPEC = Spec\(\.\.\.\)"):
        discover(name, Spec)
    name = package(tmp_path, monkeypatch, {"toy": MEMBER.format("other")})
    with pytest.raises(ValueError, match=rf"{name}\.toy: SPEC\.name is 'other'"):
        discover(name, Spec)


def test_lookup_names_the_known_members():
    specs = {"a": Spec("a"), "b": Spec("b")}
    assert lookup(specs, "b", "thing") == Spec("b")
    with pytest.raises(KeyError, match=r"unknown thing 'c'; known: \['a', 'b'\]"):
        lookup(specs, "c", "thing")
    with pytest.raises(ValueError, match="unknown thing 'c'"):
        lookup(specs, "c", "thing", ValueError)
