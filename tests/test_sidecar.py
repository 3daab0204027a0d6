"""Each result carries its record beside it (``pags.sidecar``): results copied without
``.snakemake/`` rerun exactly what the original would, and results with no record anywhere
stop a run before any job until ``--touch`` accepts them or they are deleted.

Unit tests of the sync on a stand-in store, then runs on copies of the finished tiny run
(``tiny_run``, conftest.py).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from pags import stale
from pags.errors import ProvenanceError
from pags.sidecar import (
    NO_RECORD,
    check_recorded,
    placeholder,
    read_sidecar,
    result_files,
    sidecar_path,
    sync_records,
    write_sidecar,
)
from workflow_helpers import (
    describe,
    nothing_to_be_done,
    output,
    planned_jobs,
    provenance_triggered_rules,
    run_snakemake,
    updated_config,
    write_config,
)


class DictStore:
    """Snakemake's records, as a dict."""

    def __init__(self, records=None, incomplete=()):
        self.records = dict(records or {})
        self.cut_off = set(incomplete)

    def read(self, path):
        return self.records.get(path)

    def write(self, path, record):
        self.records[path] = record

    def incomplete(self, path):
        return path in self.cut_off


RECORD = {"record_format_version": 6, "params": ["'code 0123456789abcdef (x.py 01234567)'", "0.1"], "rule": "r"}


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("a.pt", "b.pt", "c.pt", "d.pt"):
        Path("results/x").mkdir(parents=True, exist_ok=True)
        Path("results/x", name).write_text(name)
    return [f"results/x/{n}" for n in ("a.pt", "b.pt", "c.pt", "d.pt")]


def test_sync_restores_exports_and_marks_results_without_a_record(results):
    a, b, c, d = results
    other = {**RECORD, "params": ["0.05"]}
    write_sidecar(b, RECORD)  # beside only: restored into the store
    write_sidecar(c, other)  # both, differing: the store's (newer) wins
    store = DictStore({a: RECORD, c: RECORD})  # a: in the store only, exported
    synced = sync_records(results, store)
    assert synced.restored == [b] and synced.exported == [a, c] and synced.unrecorded == [d]
    assert store.read(b) == RECORD and read_sidecar(a) == RECORD and read_sidecar(c) == RECORD
    assert store.read(d) == placeholder() and not sidecar_path(d).exists()
    # a second sync changes nothing, and a sidecar put back later replaces the placeholder
    again = sync_records(results, store)
    assert (again.restored, again.exported, again.unrecorded) == ([], [], [d])
    write_sidecar(d, RECORD)
    assert sync_records(results, store).restored == [d] and store.read(d) == RECORD


def test_an_output_of_a_cut_off_job_is_left_to_snakemake(results):
    store = DictStore(incomplete=[results[0]])
    assert results[0] not in sync_records(results, store).unrecorded
    assert store.read(results[0]) is None


def test_result_files_skip_sidecars_hidden_files_and_the_folders_named(results):
    write_sidecar(results[0], RECORD)
    Path("results/logs").mkdir()
    Path("results/logs/x.log").write_text("")
    Path("results/x/.a.pt.abcdefgh.tmp").write_text("")
    assert list(result_files("results", skip=["results/logs"])) == results


def test_check_recorded_names_the_files_and_both_ways_out():
    check_recorded(["results/a.pt"], ["results/b.pt"])  # not about to be overwritten: no error
    with pytest.raises(ProvenanceError, match=r"results/b\.pt.*--touch.*delete"):
        check_recorded(["results/a.pt", "results/b.pt"], ["results/b.pt"])


def test_stale_names_a_result_without_a_record():
    reasons = f"Params have changed since last execution: before: {NO_RECORD} now: 'code 0123456789abcdef (x.py 01)'"
    assert "no record" in stale.report([stale.PlannedJob("train_model", "results/m.pt", reasons)])


# ---- on copies of the finished tiny run ------------------------------------------------


def copy_results(tiny_run, destination: Path, sidecars: bool = True) -> Path:
    """A fresh working directory holding a copy of the tiny run's results/ only (file
    times kept, as ``rsync -a`` or ``cp -a`` keep them)."""
    ignore = None if sidecars else shutil.ignore_patterns("*.provenance.json")
    shutil.copytree(tiny_run.results, destination / "results", ignore=ignore)
    return destination


@pytest.mark.slow
def test_results_copied_alone_rerun_exactly_what_the_original_would(tiny_run, tmp_path):
    config = updated_config(tiny_run.config, ["distractor", "training", "lr"], 0.05)
    configfile = write_config(tmp_path / "lr.yaml", config)
    original = run_snakemake(tiny_run.workdir, configfile, "-n")
    copy = run_snakemake(copy_results(tiny_run, tmp_path / "copy"), configfile, "-n")
    assert original.returncode == 0 and copy.returncode == 0, describe(copy)
    assert planned_jobs(copy) == planned_jobs(original), describe(copy)
    assert "train_model" in provenance_triggered_rules(copy)
    assert "training.lr: 0.1 -> 0.05" in stale.report(stale.planned_jobs(output(copy)))


@pytest.mark.slow
def test_results_without_a_record_stop_the_run_until_touched(tiny_run, tmp_path):
    workdir = copy_results(tiny_run, tmp_path / "bare", sidecars=False)
    model = workdir / "results" / tiny_run.model_dir("standard", "0").relative_to(tiny_run.results) / "model.pt"
    before = model.stat().st_mtime_ns
    proc = run_snakemake(workdir, tiny_run.configfile)
    assert proc.returncode != 0, describe(proc)
    text = " ".join(output(proc).split())
    assert "carry no record" in text and "--touch" in text and "delete them" in text, describe(proc)
    named = re.findall(r"(results/\S+?)[,.]? ", text[text.index("carry no record") :])
    assert named and all((workdir / f).is_file() for f in named), describe(proc)
    assert model.stat().st_mtime_ns == before, "a job ran"
    touched = run_snakemake(workdir, tiny_run.configfile, "--touch")
    assert touched.returncode == 0, describe(touched)
    proc = run_snakemake(workdir, tiny_run.configfile, "-n")
    assert nothing_to_be_done(proc), describe(proc)
    assert read_sidecar(model) is not None and os.path.getsize(model) > 0
