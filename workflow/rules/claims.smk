# The paper's claims checked on the run's tables, the last job of every run (rule all),
# told at its end (onsuccess, onerror) and on the report's front page.

from snakemake.logging import logger

from pags.verdict import end_of_run


def report_front_page():
    """The report's front page: the verdict the claims job wrote, else a page saying how
    to get one (the report is built after the run, in the run's working directory)."""
    verdict = Path(paths.claims_file("rst"))
    return str(verdict.resolve()) if verdict.is_file() else "../report/front_page.rst"


def print_verdict():
    """The claims' verdict at the end of a run whose targets include them."""
    jobs = [job for job in workflow.dag.jobs if job.rule.name == "claims"]
    if jobs:
        checked = workflow.dag.noneedrun_finished(jobs[0])
        logger.info(end_of_run(paths.claims_file("csv"), checked))


report: report_front_page()


rule claims:
    input:
        unpack(plan.claims_inputs),
    output:
        csv=paths.claims_file("csv"),
        md=paths.claims_file("md"),
        rst=paths.claims_file("rst"),
        html=report(
            paths.claims_file("html"),
            caption="../report/claims.rst",
            category="Claims",
        ),
    log:
        f"{LOGS}/claims.log",
    conda:
        "../../envs/pags.yaml"
    params:
        code=script_code("claims.py"),
        settings=config["claims"],
        distractor=plan.distractor_dataset,
        sweeps=plan.sweep_datasets,
        plot_steps=[
            config["sweep"][d]["manifold_robustness"]["plot_step"]
            for d in plan.sweep_datasets
        ],
        pretrained=plan.pretrained_datasets,
        top1_tolerance=[
            config["pretrained"][d]["top1"]["tolerance"]
            for d in plan.pretrained_datasets
        ],
    script:
        "../scripts/claims.py"
