"""Raw data under data.root as what the data jobs are made of (``DatasetSpec.raw``,
``Plan.raw_data``): a replaced raw file reruns its data set and what follows; moving
data.root with the same files reruns nothing; a download gives the data it was planned with.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from pags import stale
from pags.datasets.idx import ALL_FILES
from pags.datasets.imagenet64 import ARCHIVES, CLASS_MAP
from pags.datasets.registry import raw_digest
from workflow_helpers import (
    REPO,
    accept_results,
    describe,
    output,
    planned_jobs,
    run_snakemake,
    tiny_config,
    write_config,
)


def write_files(root: Path, names: list[str], body: bytes = b"x") -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(body)


def mnist_files(root: Path, gzipped: bool = False) -> None:
    if gzipped:
        write_files(root, [f"MNIST/raw/{n}.gz" for n in ALL_FILES], gzip.compress(b"idx"))
    else:
        write_files(root, [f"MNIST/raw/{n}" for n in ALL_FILES])


def imagenet_val(root: Path) -> None:
    """The two archives (the whole set, unpacked, is tested in test_imagenet_val.py)."""
    write_files(root, ["imagenet/ILSVRC2012_devkit_t12.tar.gz", "imagenet/ILSVRC2012_img_val.tar"])


# (data set, split, a writer of what its loader reads, one of those files)
LAYOUTS = {
    "mnist": ("mnist", "train", mnist_files, f"MNIST/raw/{ALL_FILES[0]}"),
    "mnist_gz": ("mnist", "train", lambda r: mnist_files(r, gzipped=True), f"MNIST/raw/{ALL_FILES[1]}.gz"),
    "cifar10_npz": (
        "cifar10",
        "test",
        lambda r: np.savez(r / "cifar10_test.npz", x=np.zeros((2, 32, 32, 3), np.uint8), y=np.zeros(2)),
        "cifar10_test.npz",
    ),
    "imagenet64": (
        "imagenet64",
        "test",
        lambda r: write_files(r, [f"imagenet64/{n}" for n in (*ARCHIVES["test"], CLASS_MAP)]),
        f"imagenet64/{ARCHIVES['test'][0]}",
    ),
    "imagenet_val": ("imagenet", "test", imagenet_val, "imagenet/ILSVRC2012_img_val.tar"),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_replaced_raw_file_changes_the_digest_and_a_moved_root_does_not(tmp_path, layout):
    dataset, split, write, changed = LAYOUTS[layout]
    root = tmp_path / "data"
    root.mkdir()
    write(root)
    digest = raw_digest(dataset, str(root), split, False)
    assert re.fullmatch(r"raw [0-9a-f]{16} \([1-9]\d* files\)", digest)
    moved = tmp_path / "elsewhere" / "data"
    shutil.copytree(root, moved)  # copy2: times kept, as mv, rsync -a and cp -a keep them
    assert raw_digest(dataset, str(moved), split, False) == digest
    path = moved / changed
    before = path.stat()
    body = path.read_bytes()
    path.write_bytes(gzip.compress(b"other") if changed.endswith(".gz") else body + b"more")
    assert raw_digest(dataset, str(moved), split, False) != digest
    if not changed.endswith(".gz"):  # the same size, another time: a rewrite
        path.write_bytes(body)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
        assert raw_digest(dataset, str(moved), split, False) != digest


def test_generated_data_sets_have_no_raw_files():
    assert raw_digest("digits", "anywhere", "train", False) is None
    assert raw_digest("synthetic", "anywhere", "train", False) is None


def test_a_download_gives_the_data_it_was_planned_with(tmp_path, monkeypatch):
    """Absent archives that the job downloads count as the pinned ones they will be, so
    the first run's download reruns nothing afterwards."""
    from torchvision.datasets import MNIST

    bodies = {f"{n}.gz": gzip.compress(n.encode()) for n in ALL_FILES}
    monkeypatch.setattr(MNIST, "resources", [(n, hashlib.md5(b).hexdigest()) for n, b in bodies.items()])
    planned = raw_digest("mnist", str(tmp_path), "train", True)
    for name, body in bodies.items():  # what fetch leaves, once each md5 matched
        write_files(tmp_path, [f"MNIST/raw/{name}"], body)
    assert raw_digest("mnist", str(tmp_path), "train", True) == planned


def test_every_rule_that_reads_data_root_has_the_raw_param():
    """A rule whose script reads data.root without the state of the files it reads would
    keep its results when the files change."""
    readers = {p.name for p in (REPO / "workflow" / "scripts").glob("*.py") if 'config["data"]' in p.read_text()}
    assert readers, "no script reads data.root"
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"\n *rule\b", smk.read_text())[1:]:
            if "    script:" in block and block.split("    script:")[1].split('"')[1].rsplit("/", 1)[1] in readers:
                assert re.search(r"raw=plan\.\w*raw_data\b", block), f"{block.split(':')[0]} in {smk.name}"


@pytest.mark.slow
def test_a_replaced_raw_file_reruns_its_data_set_and_a_moved_root_nothing(tmp_path):
    """MNIST as the distractor's digits, from files under data.root: the data files
    recorded (``--touch``), then a raw file replaced, then data.root moved."""
    config = tiny_config()
    root = tmp_path / "data"
    mnist_files(root)
    config["data"]["root"] = str(root)
    config["distractor"]["dataset"] = "mnist"
    configfile = write_config(tmp_path / "config.yaml", config)
    workdir = tmp_path / "work"
    data = [workdir / "results" / "mnist" / "data" / f"{split}.pt" for split in ("train", "test")]
    for path in data:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"made from the files under data.root")
    accept_results(workdir, configfile, *data)
    targets = [str(p.relative_to(workdir)) for p in data]
    # MNIST can be downloaded: its data jobs are rule fetch_dataset (base_dataset's, run locally)
    assert "fetch_dataset" not in planned_jobs(run_snakemake(workdir, configfile, "-n", *targets))

    moved = tmp_path / "moved" / "data"
    shutil.move(root, moved)
    config["data"]["root"] = str(moved)
    configfile = write_config(tmp_path / "moved.yaml", config)
    proc = run_snakemake(workdir, configfile, "-n", *targets)
    assert proc.returncode == 0 and "fetch_dataset" not in planned_jobs(proc), describe(proc)

    (moved / "MNIST" / "raw" / ALL_FILES[0]).write_bytes(b"120 images rather than 100")
    proc = run_snakemake(workdir, configfile, "-n", *targets)
    assert planned_jobs(proc).get("fetch_dataset") == 2, describe(proc)
    assert "raw data under data.root changed" in stale.report(stale.planned_jobs(output(proc)))
