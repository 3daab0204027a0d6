"""A write that runs out of space says so, names the file, and leaves nothing under its
name or beside it. The full disk is simulated where the writers report it: torch.save's
zip writer ("unexpected pos ... vs ..."), and the OSError of a plain write (ENOSPC, EDQUOT)."""

from __future__ import annotations

import errno

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import torch
from pags import io
from pags.errors import NoSpaceLeft
from pags.figures.style import save_figure

# torch 2.x's message when the file system fills under torch.save (the writer's position
# no longer matches the bytes it meant to write)
TORCH_FULL = "[enforce fail at inline_container.cc:672] . unexpected pos 53056 vs 52976"


def full(error):
    def write(*args, **kwargs):
        raise error

    return write


def assert_reported(error_info, path):
    message = str(error_info.value)
    assert f"'{path}'" in message and "no space left" in message and "Fix:" in message
    assert list(path.parent.iterdir()) == [], "a partial or temporary file was left behind"


def test_torch_save_on_a_full_disk_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "save", full(RuntimeError(TORCH_FULL)))
    path = tmp_path / "out" / "model.pt"
    with pytest.raises(NoSpaceLeft) as error:
        io.save_torch({"w": torch.zeros(3)}, path)
    assert_reported(error, path)
    assert "unexpected pos 53056 vs 52976" in str(error.value)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_json_and_csv_on_a_full_disk_name_the_file(tmp_path, monkeypatch, code):
    monkeypatch.setattr(io.Path, "write_text", full(OSError(code, "No space left on device")))
    path = tmp_path / "out" / "train.json"
    with pytest.raises(NoSpaceLeft) as error:
        io.save_json({"a": 1}, path)
    assert_reported(error, path)
    monkeypatch.setattr(pd.DataFrame, "to_csv", full(OSError(code, "No space left on device")))
    path = tmp_path / "tables" / "alignment.csv"
    with pytest.raises(NoSpaceLeft) as error:
        io.save_csv(pd.DataFrame({"a": [1]}), path)
    assert_reported(error, path)


def test_a_figure_on_a_full_disk_names_the_file(tmp_path, monkeypatch):
    fig = plt.figure()
    monkeypatch.setattr(type(fig), "savefig", full(OSError(errno.ENOSPC, "No space left on device")))
    path = tmp_path / "figures" / "fig.pdf"
    with pytest.raises(NoSpaceLeft) as error:
        save_figure(fig, path, tmp_path / "figures" / "fig.png")
    assert_reported(error, path)


def test_other_write_errors_pass_unchanged(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "save", full(RuntimeError("something else")))
    with pytest.raises(RuntimeError, match="something else"):
        io.save_torch({}, tmp_path / "x.pt")
    monkeypatch.setattr(io.Path, "write_text", full(PermissionError(errno.EACCES, "Permission denied")))
    with pytest.raises(PermissionError):
        io.save_json({}, tmp_path / "x.json")
