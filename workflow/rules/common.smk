# Glue between Snakemake and the package: the validated config, its plan (pags.plan:
# every input and params function the rules name), wildcard constraints, code versions
# and the checks run before any job.

import functools
import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.settings.types import DeploymentMethod
from snakemake_interface_executor_plugins.settings import ExecMode

# Jobs import the package from this checkout, so the code that ran is the code in the repo.
PACKAGE_DIR = str(Path(workflow.basedir) / "workflow")
if PACKAGE_DIR not in sys.path:
    sys.path.insert(0, PACKAGE_DIR)
# Set, not required, so no `envvars:` directive; `update` rather than item assignment,
# which `snakemake --lint` mistakes for a read of a variable the user must define.
if PACKAGE_DIR not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ.update(
        PYTHONPATH=os.pathsep.join(
            p for p in (PACKAGE_DIR, os.environ.get("PYTHONPATH")) if p
        )
    )

from pags import paths, preflight, sidecar
from pags.config import validated_config
from pags.datasets import BASE_DATASETS
from pags.datasets.registry import loader_module
from pags.errors import ConfigError, PagsError
from pags.image_selection import IMAGES_PATTERN
from pags.grid import STRENGTH_PATTERN
from pags.objectives import objective_module
from pags.plan import Plan
from pags.provenance import code_modules, code_version
from pags.runtime import gpu_requested
from pags.score.backends import BACKENDS, backend_module
from pags.slurm_groups import run_group_members_at_once
from pags.verdict import end_of_run

# The SLURM profile's groups (several models per GPU) run their members at once.
run_group_members_at_once()

SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"
# Digested once per script and modules while snakemake plans (many jobs share a script,
# and each digest parses its modules): each job checks at its start that the code is still the one
# planned (pags.provenance.check_job_code), so an edit during a run stops its jobs.
planned_code = functools.cache(code_version)

try:
    # Params hold values only: validated_config sorts the config's keys and makes the
    # integers of number-typed keys floats, so key order and `1` vs `1.0` rerun nothing.
    canonical_config = validated_config(config)
    preflight.check_at_parse(canonical_config)
except ConfigError as e:
    raise WorkflowError(str(e)) from None
config.clear()
config.update(canonical_config)
plan = Plan(config)


def one_of(names):
    """A wildcard constraint that matches exactly ``names`` (nothing, if empty)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


wildcard_constraints:
    base="|".join(BASE_DATASETS),
    split="train|test",
    strength=STRENGTH_PATTERN,
    seed=r"\d+",
    backend=one_of(BACKENDS),
    conditioning="cond|uncond",
    sigma=STRENGTH_PATTERN,
    images=IMAGES_PATTERN,


RESULTS, LOGS, FIGURES = paths.RESULTS, paths.LOGS, paths.FIGURES
# One model's folder, as a pattern of the rules' wildcards.
MODEL_DIR = paths.model_dir("{dataset}", "{objective}", "{strength}", "{seed}")


# The registries whose members jobs import by name at run time: package -> (the module of
# a member, the members the config uses).
REGISTRIES = {
    "pags.objectives": (objective_module, plan.configured_objectives),
    "pags.score.backends": (backend_module, plan.configured_backends),
}


def script_code(name, *modules):
    """The ``code`` param of the jobs that run ``workflow/scripts/<name>``, a digest of
    the script and the package modules it imports, blind to comments, docstrings and
    formatting (``pags.provenance``), so that a change to what a job runs reruns it.
    ``modules``: what the script imports by name at run time (a data set's loader). A
    script that uses a registry (objectives' labels and colours, score backends' labels)
    also covers the modules of the members the config uses, and no other member's."""
    script = SCRIPTS / name
    used = code_modules(script)
    for package, (module_of, configured) in REGISTRIES.items():
        if package in used:
            modules = (*modules, *map(module_of, configured()))
    return planned_code(script, extra=modules)


def wildcard_code(name):
    """The ``code`` param of a job on one model, one score or one data set: as
    ``script_code``, covering the objective (``objective`` wildcard), score backend
    (``backend`` wildcard) or data set loader (``base`` wildcard) it runs and no other, so
    that adding or editing one reruns only its own jobs. (The Bayes-optimal reference has
    no objective.)"""

    def code(w):
        return planned_code(
            SCRIPTS / name,
            extra=(
                *([loader_module(w.base)] if hasattr(w, "base") else []),
                *([objective_module(w.objective)] if hasattr(w, "objective") else []),
                *([backend_module(w.backend)] if hasattr(w, "backend") else []),
            ),
        )

    return code


def train_amp(wildcards, resources):
    """Whether a training job computes in bfloat16 autocast: ``training.amp`` where the job
    asks for a GPU (it has no effect on the CPU). A param derived from resources, which
    Snakemake leaves out of its params trigger: switching amp, like the device, retrains
    nothing (``--forcerun train_model`` does)."""
    amp = plan.experiment(wildcards.dataset)["training"]["amp"]
    return amp and gpu_requested(resources)


def unknown_target(wildcards):
    """Raise the error of an unknown target, listing the figures the config makes."""
    raise WorkflowError(
        f"'{wildcards.target}' is not a target of this workflow. Figure targets of this config: "
        f"{', '.join(plan.figure_names())}, and fig_gallery (every gallery); or name a file under "
        f"{RESULTS}/ that a rule makes. `snakemake --list-target-rules` lists every rule."
    )


def absent_weights():
    """The weight files not in place: the only ones rule fetch_weights makes."""
    return [n for n in plan.weight_names() if not os.path.exists(paths.weights_file(n))]


def check_before_jobs(jobs, unrecorded=()):
    """``pags.preflight.check_before_jobs``, and that no job would overwrite a result that
    has no record (``unrecorded``, from ``sync_records``) unless ``--touch`` accepts them,
    as the workflow's error (``onstart``)."""
    jobs = list(jobs)
    try:
        if not workflow.touch:
            sidecar.check_recorded((f for job in jobs for f in job.output), unrecorded)
        preflight.check_before_jobs(config, jobs, script_interpreter())
    except PagsError as e:
        raise WorkflowError(str(e)) from None


def report_front_page():
    """The report's front page: the verdict the claims job wrote, else a page saying how
    to get one (the report is built after the run, in the run's working directory)."""
    verdict = Path(paths.claims_file("rst"))
    if verdict.is_file():
        return str(verdict.resolve())
    return str(Path(workflow.basedir) / "workflow" / "report" / "front_page.rst")


def print_verdict():
    """The claims' verdict at the end of a run whose targets include them (onsuccess,
    onerror): their counts and failing rows, or why they were not checked."""
    jobs = [job for job in workflow.dag.jobs if job.rule.name == "claims"]
    if jobs:
        checked = workflow.dag.noneedrun_finished(jobs[0])
        logger.info(end_of_run(paths.claims_file("csv"), checked))


def script_interpreter():
    """The Python that Snakemake starts script jobs with: this one, unless they run in
    conda environments or containers (snakemake/script's ``py_exec``)."""
    own = {DeploymentMethod.CONDA, DeploymentMethod.APPTAINER}
    return (
        None
        if own & set(workflow.deployment_settings.deployment_method)
        else sys.executable
    )


def sync_records():
    """``pags.sidecar.sync_records`` on the files under results/ that a rule makes (not the
    weight files, which their pinned sha256 identifies, nor logs), where the run is
    planned (not in its jobs); returns the results without a record. Called once the
    rules are defined, before Snakemake plans, and again when the run ends."""
    if workflow.exec_mode != ExecMode.DEFAULT:
        return []
    is_result = sidecar.producer_filter(workflow.rules)
    skip = (LOGS, os.path.dirname(paths.weights_file("name")))
    files = [f for f in sidecar.result_files(RESULTS, skip) if is_result(f)]
    synced = sidecar.sync_records(
        files, sidecar.snakemake_store(workflow.workflow_settings.persistence_backend)
    )
    if synced.restored:
        logger.info(
            f"pags: the records of {len(synced.restored)} result(s) were taken from beside them."
        )
    if synced.unrecorded:
        logger.warning(
            f"pags: {len(synced.unrecorded)} result(s) have no record of the code and values that made them "
            f"(e.g. {synced.unrecorded[0]}); they are planned as changed. A run stops before any job and says "
            "what to do."
        )
    return synced.unrecorded
