"""Each result's record of the code and values that made it, beside the result.

Snakemake keeps what made an output (its params, among them the ``code`` digest of
``pags.provenance``; its inputs, its software environment) in ``.snakemake/`` only, and
compares it with the plan to see a params change. A folder of results copied without
``.snakemake/`` (``rsync results/``, a fresh clone, ``.snakemake/`` deleted to clear a
lock) has no such record: Snakemake then takes every result for current, whatever changed.

So every result carries a copy of Snakemake's record, in a hidden file beside it,
``.<name>.provenance.json`` (``sidecar_path``), and each plan syncs the two
(``sync_records``), before Snakemake builds its DAG:

- a result whose record is in ``.snakemake/`` but not (or not so) beside it gets it
  beside it;
- a result whose record is beside it but not in ``.snakemake/`` gets it back there, so
  that Snakemake's own triggers (params, input, software environment) compare it with the
  plan exactly as they would have where the result was made, and ``pags.stale`` explains;
- a result with neither gets a record that matches no plan (``NO_RECORD``): Snakemake
  plans it as changed, a dry run shows it, and a run stops before any job
  (``check_recorded``) unless ``--touch`` accepts it as it is.

Records are kept in Snakemake's own format, read and written through its persistence
classes (``snakemake_store``): Snakemake decides what is stale, nothing else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .errors import ProvenanceError
from .io import save_json

SUFFIX = ".provenance.json"
# A params entry that no plan gives: Snakemake records params as their reprs, so this is
# the repr of a string, which ``pags.stale`` recognises.
NO_RECORD = repr("pags: no record of the code and values that made this result")
# Snakemake compares recorded params from this record format on (persistence.params_changed).
RECORD_FORMAT = 6


class RecordStore(Protocol):
    """Snakemake's records by output path (``snakemake_store``), or a stand-in in tests."""

    def read(self, path: str) -> dict[str, Any] | None: ...

    def write(self, path: str, record: dict[str, Any]) -> None: ...

    def incomplete(self, path: str) -> bool: ...


def sidecar_path(result: str | os.PathLike) -> Path:
    """``<folder>/.<name>.provenance.json`` for the result ``<folder>/<name>``."""
    result = Path(result)
    return result.with_name(f".{result.name}{SUFFIX}")


def read_sidecar(result: str | os.PathLike) -> dict[str, Any] | None:
    """The record beside ``result``, or None if there is none (or it cannot be read)."""
    try:
        return json.loads(sidecar_path(result).read_text())["record"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_sidecar(result: str | os.PathLike, record: dict[str, Any]) -> None:
    save_json({"result": Path(result).name, "record": record}, sidecar_path(result))


def result_files(results: str | os.PathLike, skip: Iterable[str] = ()) -> Iterator[str]:
    """Every file under the folder ``results`` as a path relative to the working
    directory (``results/...``, Snakemake's key for it), sorted; not hidden files
    (sidecars, temporary files) nor anything under the folders ``skip``."""
    skip = {os.path.normpath(s) for s in skip}
    for folder, dirs, files in os.walk(results):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and os.path.join(folder, d) not in skip)
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(folder, name).as_posix()


def is_placeholder(record: dict[str, Any] | None) -> bool:
    return record is not None and record.get("params") == [NO_RECORD]


def placeholder() -> dict[str, Any]:
    """The record of a result that has none: params that match no plan."""
    return {"record_format_version": RECORD_FORMAT, "params": [NO_RECORD], "incomplete": False}


@dataclass
class Synced:
    """What ``sync_records`` did: results whose record it put back into ``.snakemake/``,
    results it wrote a sidecar for, and results that have no record anywhere."""

    restored: list[str] = field(default_factory=list)
    exported: list[str] = field(default_factory=list)
    unrecorded: list[str] = field(default_factory=list)


def sync_records(files: Iterable[str], store: RecordStore) -> Synced:
    """Make each result's record the same in ``store`` (Snakemake's) and beside it (see
    the module docstring); ``store`` wins where both have one and they differ, as the
    newer. A result with neither gets ``placeholder()`` in ``store``, unless Snakemake
    marked it incomplete (its job was cut off; Snakemake reruns it, or asks to)."""
    synced = Synced()
    for path in files:
        recorded, beside = store.read(path), read_sidecar(path)
        if recorded is None and beside is None and store.incomplete(path):
            continue
        if recorded is None or is_placeholder(recorded):
            if beside is not None:
                store.write(path, beside)
                synced.restored.append(path)
            else:
                if recorded is None:
                    store.write(path, placeholder())
                synced.unrecorded.append(path)
        elif recorded != beside:
            write_sidecar(path, recorded)
            synced.exported.append(path)
    return synced


def check_recorded(outputs: Iterable[str], unrecorded: Iterable[str], example: int = 10) -> None:
    """Raise ``ProvenanceError`` naming the files among ``outputs`` (of the jobs about to
    run) that have no record, and the two ways out."""
    files = sorted(set(map(str, outputs)) & set(unrecorded))
    if not files:
        return
    more = f" and {len(files) - example} more" if len(files) > example else ""
    raise ProvenanceError(
        f"{len(files)} result(s) carry no record of the code and values that made them (neither "
        f"'{sidecar_path('<result>')}' beside them nor .snakemake/ metadata): {', '.join(files[:example])}{more}. "
        "They were copied without their records or made by an older version, so nothing tells whether the "
        "config and code still make them. Fix: after checking that they were made by this config and code, "
        "accept them as they are with your command plus `--touch`; or delete them, so that the run makes them again."
    )


def snakemake_store(backend: Any) -> RecordStore:
    """Snakemake's records of this working directory, through its persistence class of
    ``backend`` (``workflow.workflow_settings.persistence_backend``) without locking."""
    from snakemake.persistence import MetadataRecord
    from snakemake.settings.types import PersistenceBackend

    if backend == PersistenceBackend.DB:
        from snakemake.persistence.db import DbPersistence as Persistence
    else:
        from snakemake.persistence.file import FilePersistence as Persistence
    persistence = Persistence(nolock=True)

    class Store:
        def read(self, path: str) -> dict[str, Any] | None:
            record = persistence._read_record(path)
            return None if record is None else json.loads(record.model_dump_json())

        def write(self, path: str, record: dict[str, Any]) -> None:
            persistence._write_record(path, MetadataRecord.model_validate(record))
            persistence._clear_cache()

        def incomplete(self, path: str) -> bool:
            return bool(persistence._filter_incomplete_keys([path]))

    return Store()


def producer_filter(rules: Iterable[Any], skip_rules: Iterable[str] = ()) -> Callable[[str], bool]:
    """Whether a file is an output of one of ``rules`` (Snakemake's, by their output
    patterns), those named ``skip_rules`` aside."""
    skip = set(skip_rules)
    rules = [r for r in rules if r.name not in skip and r.output]
    return lambda path: any(r.is_producer(path) for r in rules)
