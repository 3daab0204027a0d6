"""A throwaway single-node SLURM cluster on localhost, for the SLURM integration test.

Everything lives in one directory: slurm.conf, gres.conf, a fresh munge key, munged's
socket/pid/seed files, slurmctld's state, slurmd's spool, the logs. Nothing under /etc,
/run or /var is written, and no configuration there is read: munged gets every path on
its command line (``--force``: its socket's directory is private to this user, where
munged wants everyone to reach it), the SLURM daemons get ``-f <dir>/slurm.conf`` (and
find gres.conf beside it; there is no cgroup.conf, none is needed without cgroup
plugins), and clients (sbatch, squeue, scontrol, sinfo, ...) find the config through
``SLURM_CONF`` in ``cluster.env``, which jobs inherit. One exception is patched over: the
slurm-jobstep executor clears ``SLURM_CONF`` before its nested ``srun`` inside a job, so
``<dir>/bin/srun``, first on the jobs' PATH, sets it again (see ``write_config``). The
munge socket reaches SLURM through ``AuthInfo=socket=...`` (used by auth/munge and
cred/munge alike), so a munged of the host, if any, is neither used nor disturbed.
Ports are free ports picked at start, so a cluster of the host is not disturbed either.
The daemons run as the current user (root or not) and die with the process that started
them (``PR_SET_PDEATHSIG``), even when it is killed before it can stop them.

The partition, ``pags``, is not the default partition: a job submitted without
``-p pags`` is refused, so a run that passes shows that the partition it was given
reached every job.

The node is what the workflow's SLURM profile needs, not what the machine has: with
``SlurmdParameters=config_overrides`` slurmd reports the configured CPUs and memory, so
the profile's requests (8 CPUs per GPU, 32 GB per training job, growing with retries)
are accepted, as on a real GPU node. No resource is enforced (no cgroups:
proctrack/pgid, task/none; memory is not a consumable resource), so jobs share the
real cores. Processes are tracked by process group, as cgroups track them on a real
cluster: a killed or requeued job ends every process it started (Snakemake starts its
jobs in no process group of their own) before SLURM counts it as ended; with proctrack/linuxproc a
child of a killed process outlived its job, and a requeued training ran beside it.

The node declares two GPUs, backed by /dev/null and /dev/zero in gres.conf:
enough for SLURM to accept and schedule ``--gpus=1`` like on a real cluster (without
them sbatch refuses a GPU job with "Invalid generic resource"). Jobs cannot use them:
``cluster.env`` sets ``PAGS_DEVICE=cpu``, so the jobs that asked for one run on the CPU
instead of stopping for want of a GPU.

No slurmdbd: ``sacct`` fails here (clients must use ``squeue``), and finished jobs stay
visible to squeue/scontrol for ``MinJobAge`` seconds (an hour), long enough for a test
to read what every job of a run asked for after the run.

Usage::

    with SlurmCluster(tmp_dir) as cluster:   # raises SlurmUnavailable if it cannot start
        subprocess.run(["sinfo"], env={**os.environ, **cluster.env})

``python tests/slurm_cluster.py DIR`` starts one and keeps it up until Ctrl-C (for
trying things by hand: ``export SLURM_CONF=DIR/slurm.conf``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workflow_helpers import subprocess_env

PARTITION = "pags"
CPUS = 16  # >= the profile's cpus_per_gpu for training (8)
REAL_MEMORY_MB = 200_000  # >= the profile's largest request: 32000 * attempt, 3 attempts
GPU_FILES = ("/dev/null", "/dev/zero")  # two "GPUs": the two GPU jobs of a stage run side by side
MIN_JOB_AGE_S = 3600
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "sinfo", "srun", "scancel", "munge", "unmunge")
# Daemons live in sbin, which a non-root PATH often lacks.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/local/sbin"])


class SlurmUnavailable(RuntimeError):
    """SLURM or munge cannot run here; the message says why (a test skips with it)."""


def find_executable(name: str) -> str | None:
    return shutil.which(name, path=SEARCH_PATH)


def missing_executables() -> list[str]:
    return [name for name in (*DAEMONS, *CLIENTS) if find_executable(name) is None]


def die_with_parent() -> None:
    """In the child, before exec: have the kernel SIGTERM it when the test process dies.

    So that the daemons do not outlive a test run that was killed (by ``timeout``, by CI)
    before the fixture could stop them. Linux only; elsewhere a no-op.
    """
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"({path.name}: no log)"
    return f"--- {path.name} ---\n" + "\n".join(text[-lines:])


class SlurmCluster:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.host = socket.gethostname().split(".")[0]
        self.user = pwd.getpwuid(os.getuid()).pw_name
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket"
        self.logs = self.root / "log"
        self.processes: dict[str, subprocess.Popen] = {}
        self.partition = PARTITION

    # ---- environment for clients ----------------------------------------------

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def env(self) -> dict[str, str]:
        """Variables a client process needs to talk to this cluster (merge into os.environ).

        Jobs inherit them (the SLURM executor submits with ``--export=ALL``).
        """
        # PAGS_DEVICE=cpu, which jobs inherit: the node's GPUs are /dev/null and /dev/zero,
        # so a job that asked for one is told to use the CPU (else it stops: pags.runtime).
        return {
            "SLURM_CONF": str(self.conf),
            "PATH": os.pathsep.join([str(self.bin), SEARCH_PATH]),
            "PAGS_DEVICE": "cpu",
        }

    def client(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(args),
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    # ---- configuration --------------------------------------------------------

    def write_config(self) -> None:
        for d in ("munge", "state", "spool", "log"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        # munged refuses group/other-writable directories on the paths it uses
        for d in (self.root, self.root / "munge"):
            d.chmod(0o700)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)

        ctld_port, slurmd_port = _free_port(), _free_port()
        while slurmd_port == ctld_port:
            slurmd_port = _free_port()
        r = self.root
        self.conf.write_text(f"""\
# single-node test cluster (tests/slurm_cluster.py); every path is under {r}
ClusterName=pagstest
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser={self.user}
SlurmdUser={self.user}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
GresTypes=gpu
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=defer_batch=0
SlurmdTimeout=60
SlurmctldTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge={MIN_JOB_AGE_S}
MessageTimeout=20
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={CPUS} RealMemory={REAL_MEMORY_MB} Gres=gpu:{len(GPU_FILES)} State=UNKNOWN
PartitionName={self.partition} Nodes={self.host} Default=NO MaxTime=INFINITE State=UP
""")
        # Inside a job, snakemake's slurm-jobstep executor runs the rule with a nested
        # `srun`, after removing every SLURM_* variable but the job's identity from its
        # environment, SLURM_CONF included. On a real cluster that srun then reads
        # /etc/slurm/slurm.conf (or slurmd's /run/slurm/conf); this cluster writes nothing
        # there, so an `srun` first on the jobs' PATH gives the real one its config back.
        self.bin.mkdir(exist_ok=True)
        srun = self.bin / "srun"
        srun.write_text(
            "#!/bin/sh\n"
            "# the test cluster's config for a srun whose SLURM_CONF was removed (tests/slurm_cluster.py)\n"
            f"SLURM_CONF={self.conf}\nexport SLURM_CONF\n"
            f'exec {find_executable("srun")} "$@"\n'
        )
        srun.chmod(0o755)
        (r / "gres.conf").write_text("".join(f"NodeName={self.host} Name=gpu File={f}\n" for f in GPU_FILES))

    # ---- processes ------------------------------------------------------------

    def _spawn(self, name: str, args: list[str]) -> None:
        exe = find_executable(name)
        out = open(self.logs / f"{name}.out", "wb")
        try:
            self.processes[name] = subprocess.Popen(
                [exe, *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,  # keep Ctrl-C of the test run away from the daemons
                preexec_fn=die_with_parent,
            )
        finally:
            out.close()

    def _check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise SlurmUnavailable(f"{name} exited with status {proc.returncode}\n{self.diagnostics()}")

    def diagnostics(self) -> str:
        files = [self.logs / f"{n}.out" for n in self.processes] + [
            self.logs / "munged.log",
            self.logs / "slurmctld.log",
            self.logs / "slurmd.log",
        ]
        return "\n".join(_tail(f) for f in files if f.exists())

    def _wait(self, what: str, ready, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            if ready():
                return
            if time.monotonic() > deadline:
                raise SlurmUnavailable(f"timed out after {timeout:.0f}s waiting for {what}\n{self.diagnostics()}")
            time.sleep(0.25)

    def start(self, timeout: float = 60) -> SlurmCluster:
        missing = missing_executables()
        if missing:
            raise SlurmUnavailable("not installed: " + ", ".join(missing) + " (apt-get install slurm-wlm munge)")
        self.write_config()
        m = self.root / "munge"
        self._spawn(
            "munged",
            [
                "--foreground",
                # The socket's directory is private (only this user's processes, all of
                # this cluster's, use it); without --force munged insists that everyone
                # can reach it, which a pytest tmp_path (under a 0700 directory) is not.
                "--force",
                f"--socket={self.munge_socket}",
                f"--key-file={m / 'munge.key'}",
                f"--pid-file={m / 'munged.pid'}",
                f"--seed-file={m / 'munged.seed'}",
                f"--log-file={self.logs / 'munged.log'}",
            ],
        )
        self._wait("munged's socket", self.munge_socket.exists, 20)
        # A credential made and decoded through the socket: the key and socket work.
        munge = subprocess.run(
            [find_executable("munge"), "-n", "-S", str(self.munge_socket)], capture_output=True, timeout=20
        )
        unmunge = subprocess.run(
            [find_executable("unmunge"), "-S", str(self.munge_socket)],
            input=munge.stdout,
            capture_output=True,
            timeout=20,
        )
        if munge.returncode != 0 or unmunge.returncode != 0:
            raise SlurmUnavailable(
                f"munge round trip failed: {(munge.stderr + unmunge.stderr).decode(errors='replace')}\n"
                f"{self.diagnostics()}"
            )

        self._spawn("slurmctld", ["-D", "-f", str(self.conf)])
        self._wait(
            "slurmctld to answer", lambda: self.client("scontrol", "ping", timeout=10).stdout.count("UP") > 0, 30
        )
        self._spawn("slurmd", ["-D", "-f", str(self.conf), "-N", self.host])
        self._wait("the node to be idle", self.node_idle, timeout)
        return self

    def node_idle(self) -> bool:
        proc = self.client("sinfo", "--noheader", "--nodes", self.host, "--format=%T", timeout=10)
        return proc.returncode == 0 and proc.stdout.strip() == "idle"

    def cancel_jobs(self, timeout: float = 30) -> None:
        """scancel every job still queued or running, and wait until none runs.

        A run killed by its timeout leaves its jobs running (the SLURM executor cancels
        them only on a clean shutdown); their processes belong to slurmstepd, not to
        slurmd, so stopping the daemons alone would leave them behind.
        """
        if "slurmctld" not in self.processes or self.processes["slurmctld"].poll() is not None:
            return
        try:
            self.client("scancel", "--user", self.user, "--full", timeout=10)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                proc = self.client("squeue", "--noheader", "--format=%i", timeout=10)
                if proc.returncode != 0 or not proc.stdout.strip():
                    return
                time.sleep(0.5)
        except subprocess.TimeoutExpired:
            pass

    def stop(self) -> None:
        """Cancel leftover jobs, then SIGTERM each daemon (slurmd, slurmctld, munged)."""
        self.cancel_jobs()
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        self.processes.clear()

    def __enter__(self) -> SlurmCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/pags-slurm")
    root.mkdir(parents=True, exist_ok=True)
    with SlurmCluster(root) as cluster:
        print(f"cluster up: export SLURM_CONF={cluster.conf}")
        print(cluster.client("sinfo").stdout)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


# munged's and slurmd's sockets live in the cluster's directory: Unix socket paths are
# limited to 107 bytes, so a long pytest base directory falls back to a short one.
MAX_ROOT_LENGTH = 60
PROFILE = Path(__file__).resolve().parents[1] / "slurm"


def running_cluster(tmp_path_factory):
    """A pytest fixture's body: a started cluster, stopped afterwards; the test is
    skipped, with the reason, where SLURM cannot start."""
    import pytest

    root = tmp_path_factory.mktemp("slurm")
    if len(str(root)) > MAX_ROOT_LENGTH:
        root = Path(tempfile.mkdtemp(prefix="pags-slurm-"))
    cluster = SlurmCluster(root)
    try:
        cluster.start()
    except SlurmUnavailable as e:
        cluster.stop()
        pytest.skip(f"cannot start a SLURM cluster here: {e}")
    except BaseException:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


def profile_default_resources() -> list[str]:
    """The profile's default-resources as Snakemake's profile parser turns them into arguments."""
    from snakemake.profiles import ProfileConfigFileParser

    with open(PROFILE / "config.yaml") as f:
        return list(ProfileConfigFileParser().parse(f).get("default-resources", []))


def profile_command(cluster: SlurmCluster, workdir: Path, configfile: Path, *args: str) -> list[str]:
    """``snakemake --profile slurm`` on ``cluster``, with only the site's settings given,
    as a user of this cluster would: the partition, no account, squeue for job status.

    ``--default-resources`` on the command line replaces the profile's as a whole
    (Snakemake does not merge them), so the profile's own entries are passed along."""
    snakefile = PROFILE.parent / "Snakefile"
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--profile",
        str(PROFILE),
        "-s",
        str(snakefile),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        "--replace-workflow-config",
        "--default-resources",
        *profile_default_resources(),
        f"slurm_partition={cluster.partition}",
        "--slurm-no-account",
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--jobs",
        "4",
        *args,
    ]


@contextlib.contextmanager
def started(cluster: SlurmCluster, command: list[str], cwd: Path, timeout: int):
    """The command, started under ``timeout -k 10`` (Snakemake ignores SIGTERM while jobs
    run), with its output piped; stopped if the test ends early.

    However the test ends, Snakemake goes with it: if the test is interrupted (Ctrl-C, a
    failed assertion, the limit), ``timeout`` is sent SIGTERM, which it passes on to
    Snakemake, and SIGKILLs it 10 s later; if the test process dies, the kernel sends
    ``timeout`` that SIGTERM.
    """
    proc = subprocess.Popen(
        ["timeout", "-k", "10", str(timeout), *command],
        cwd=str(cwd),
        env={**subprocess_env(), **cluster.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    try:
        yield proc
    except BaseException:
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        raise


def run(cluster: SlurmCluster, command: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    """The command to its end (see ``started``)."""
    with started(cluster, command, cwd, timeout) as proc:
        stdout, stderr = proc.communicate(timeout=timeout + 30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def slurm_jobs(cluster: SlurmCluster) -> list[dict[str, str]]:
    """Every job the cluster knows of (finished ones included), as scontrol's key=value fields."""
    proc = cluster.client("scontrol", "show", "job", "--oneliner")
    assert proc.returncode == 0, proc.stderr
    if "No jobs in the system" in proc.stdout:
        return []
    return [
        dict(field.split("=", 1) for field in line.split() if "=" in field)
        for line in proc.stdout.splitlines()
        if line.strip()
    ]


def job_rule(job: dict[str, str]) -> str:
    """The rule a SLURM job ran; for a group job, the rule of its members.

    The executor writes ``rule_<rule>[_wildcards_...]`` in a job's comment, and
    ``rule_<group id>_<its rules>`` for a group job, whose log it puts under
    ``slurm_logs/group_<group id>_<its rules>/``; the groups of the profile hold one rule
    each."""
    match = re.fullmatch(r"rule_(.+?)(?:_wildcards_.*)?", job.get("Comment", ""))
    assert match, f"job {job.get('JobId')} has no rule in its comment: {job}"
    if not is_group(job):
        return match.group(1)
    rules = [rule for rule in profile_groups() if match.group(1).endswith(f"_{rule}")]
    assert len(rules) == 1, f"group job {job.get('JobId')} of no single grouped rule: {job}"
    return rules[0]


def is_group(job: dict[str, str]) -> bool:
    return "/slurm_logs/group_" in job.get("StdOut", "")


def read_profile(path: Path = PROFILE / "config.yaml") -> dict:
    """The profile as Snakemake reads it: a YTE template (its ``__definitions__`` applied,
    e.g. the partitions' time limits in the runtimes), before it becomes arguments."""
    import yte

    with open(path) as f:
        return yte.process_yaml(f, require_use_yte=True)


def profile_groups() -> dict[str, str]:
    """The profile's ``groups``: rule -> group id (a pattern with wildcards)."""
    return read_profile().get("groups") or {}
