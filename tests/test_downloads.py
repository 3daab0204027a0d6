"""Downloads end complete or not at all, say why they failed, and never touch a file in place;
what a run needs of its weight files and EDM's source is checked before any job.

A local HTTP server (127.0.0.1, in the test; no external network) serves a file whole, or
announces its Content-Length and closes the connection after part of the body, as a
server or a proxy that drops a transfer does. Every download path of the workflow is
tried against it: ``pags.download`` itself, the weight files (``pags.weights.fetch``,
pinned and unpinned) and the data sets (MNIST's and CIFAR-10's published archives).
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import random
import socket
import tarfile
import threading
from pathlib import Path

import pytest
import yaml
from pags.datasets import cifar10, mnist
from pags.datasets.mnist import decompress_archives
from pags.download import download
from pags.errors import ConfigError, DataError, DownloadError, WeightsError
from pags.score.edm import check_edm_source
from pags.weights import check_usable, fetch, sha256_file, unpinned_path
from workflow_helpers import DEMO_EXPERIMENTS, describe, planned_jobs, run_snakemake, write_config

FULL = bytes(range(256)) * (4 * 4096)  # 4 MiB
CUT = 1 << 20  # the server closes after 1 MiB


class Server:
    """Serves ``files`` (path -> bytes); a path in ``cut`` gets its full Content-Length but
    only its first ``CUT`` bytes, then the connection closes."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut: set[str] = set()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:CUT] if self.path in server.cut else body)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    s = Server()
    yield s
    s.close()


def beside(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.parent.iterdir()) if dest.parent.is_dir() else []


def test_a_download_cut_short_is_deleted_and_reported(server, tmp_path):
    server.files["/w"] = FULL
    server.cut.add("/w")
    dest = tmp_path / "dl" / "w"
    with pytest.raises(DownloadError, match=f"truncated: {CUT} of {len(FULL)} bytes"):
        download(f"{server.url}/w", dest)
    assert beside(dest) == []  # neither the file nor a temporary one
    server.cut.clear()  # the retry starts clean and gets the whole file
    download(f"{server.url}/w", dest)
    assert dest.read_bytes() == FULL and beside(dest) == ["w"]


def test_an_unreachable_server_says_why(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=rf"cannot download http://127.0.0.1:{port}/w: .*[Cc]onnection refused"):
        download(f"http://127.0.0.1:{port}/w", tmp_path / "w")
    assert beside(tmp_path / "w") == []


def test_a_truncated_weight_file_is_never_kept_for_pinning(server, tmp_path):
    server.files["/net.pkl"] = FULL
    server.cut.add("/net.pkl")
    dest = tmp_path / "weights" / "net"
    for sha256 in (None, hashlib.sha256(FULL).hexdigest()):  # unpinned, as config.yaml ships EDM's; pinned
        with pytest.raises(WeightsError, match=f"truncated: {CUT} of {len(FULL)} bytes.*snakemake prefetch"):
            fetch(f"{server.url}/net.pkl", sha256, dest, "weights.net")
        assert beside(dest) == [], "a truncated download was kept"
    server.cut.clear()
    with pytest.raises(WeightsError, match="pins none"):
        fetch(f"{server.url}/net.pkl", None, dest, "weights.net")
    assert unpinned_path(dest).read_bytes() == FULL  # what is offered for pinning is the whole file


def mnist_archives() -> dict[str, bytes]:
    from torchvision.datasets import MNIST

    noise = random.Random(0)  # incompressible: each archive is larger than what the server cuts it to
    return {name: gzip.compress(noise.randbytes(2 * CUT)) for name, _ in MNIST.resources}


def test_mnist_download_cut_short(server, tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    archives = mnist_archives()
    server.files.update({f"/mnist/{name}": body for name, body in archives.items()})
    first = MNIST.resources[0][0]
    server.cut.add(f"/mnist/{first}")
    monkeypatch.setattr(MNIST, "mirrors", [f"{server.url}/mnist/"])
    monkeypatch.setattr(MNIST, "resources", [(n, hashlib.md5(b).hexdigest()) for n, b in archives.items()])
    raw = tmp_path / "MNIST" / "raw"
    with pytest.raises(
        DataError,
        match=rf"MNIST's {first} could not be downloaded: .*truncated: {CUT} of {len(archives[first])} bytes.*snakemake prefetch",
    ):
        mnist.fetch_mnist(tmp_path)
    assert beside(raw / first) == []
    server.cut.clear()
    mnist.fetch_mnist(tmp_path)
    decompress_archives(tmp_path)  # what the loader does next
    for name, body in archives.items():
        assert (raw / name.removesuffix(".gz")).read_bytes() == gzip.decompress(body)


def test_cifar10_download_cut_short(server, tmp_path, monkeypatch):
    from torchvision.datasets import CIFAR10

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        content = random.Random(0).randbytes(2 * CUT)
        info = tarfile.TarInfo(f"{CIFAR10.base_folder}/data_batch_1")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    archive = buffer.getvalue()
    assert len(archive) > CUT
    server.files["/cifar.tar.gz"] = archive
    server.cut.add("/cifar.tar.gz")
    monkeypatch.setattr(CIFAR10, "url", f"{server.url}/cifar.tar.gz")
    monkeypatch.setattr(CIFAR10, "tgz_md5", hashlib.md5(archive).hexdigest())
    with pytest.raises(
        DataError, match=f"CIFAR-10 could not be downloaded: .*truncated: {CUT} of {len(archive)} bytes"
    ):
        cifar10.fetch_cifar10(tmp_path)
    assert list(tmp_path.iterdir()) == []
    server.cut.clear()
    cifar10.fetch_cifar10(tmp_path)
    assert (tmp_path / CIFAR10.base_folder / "data_batch_1").read_bytes() == content


@pytest.mark.slow
def test_a_weight_file_put_in_place_and_pinned_is_used_not_deleted(tmp_path):
    """The instructions of a failed download, followed: the file is copied to
    results/weights/<name> and its digest pinned. The next runs use it; none remakes it
    (which would delete it first, as pinning changed the params of the failed job)."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    config = yaml.safe_load(DEMO_EXPERIMENTS.read_text())
    config["sweep"]["synthetic"]["alignment"]["metrics"].append("lpips")
    config["weights"] = {"alexnet": {"url": "http://127.0.0.1:9/alexnet.pth", "sha256": None}}  # a dead link
    target = "results/weights/alexnet"
    proc = run_snakemake(workdir, write_config(tmp_path / "unpinned.yaml", config), target)
    log = workdir / "results/logs/weights/alexnet.log"
    assert proc.returncode != 0 and "copy it to 'results/weights/alexnet'" in log.read_text(), describe(proc)

    copied = workdir / target
    copied.parent.mkdir(parents=True, exist_ok=True)
    copied.write_bytes(b"the published AlexNet, copied by hand")
    config["weights"]["alexnet"]["sha256"] = sha256_file(copied)
    pinned = write_config(tmp_path / "pinned.yaml", config)
    proc = run_snakemake(workdir, pinned, "-n", "results/synthetic/tables/alignment.csv")
    assert proc.returncode == 0, describe(proc)
    assert "alignment" in planned_jobs(proc) and "fetch_weights" not in planned_jobs(proc), describe(proc)
    proc = run_snakemake(workdir, pinned, "prefetch")
    assert proc.returncode == 0, describe(proc)
    assert copied.read_bytes() == b"the published AlexNet, copied by hand"


def test_what_a_run_checks_of_a_weight_file_before_any_job(tmp_path):
    dest = tmp_path / "weights" / "w"
    with pytest.raises(WeightsError, match=r"'weights.w.url' is null.*copy the file to"):
        check_usable(dest, None, None, "weights.w")
    check_usable(dest, "https://example.org/w", None, "weights.w")  # absent, fetchable: fine
    dest.parent.mkdir()
    unpinned_path(dest).write_bytes(b"downloaded")
    with pytest.raises(WeightsError, match=f"set 'weights.w.sha256: {hashlib.sha256(b'downloaded').hexdigest()}'"):
        check_usable(dest, "https://example.org/w", None, "weights.w")
    check_usable(dest, None, hashlib.sha256(b"downloaded").hexdigest(), "weights.w")  # pinned now: fetch verifies it
    dest.write_bytes(b"in place")
    with pytest.raises(WeightsError, match=r"not the pinned .*'weights.w.sha256'"):
        check_usable(dest, None, "0" * 64, "weights.w")
    check_usable(dest, None, hashlib.sha256(b"in place").hexdigest(), "weights.w")


def test_edm_source_is_checked_before_any_job(tmp_path):
    with pytest.raises(ConfigError, match="'edm_source' is null"):
        check_edm_source(None)  # EDM's torch_utils is not importable here
    with pytest.raises(ConfigError, match="is not a directory"):
        check_edm_source(str(tmp_path / "absent"))
    check_edm_source(str(tmp_path))
