# The paper's claims checked on the run's tables, the last job of every run (rule all),
# told at its end (onsuccess, onerror) and on the report's front page.


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
        settings=plan.claims_settings(),
        distractor=plan.distractor_dataset,
        sweeps=plan.sweep_datasets,
        plot_steps=plan.plot_steps(),
        pretrained=plan.pretrained_datasets,
        top1_tolerance=plan.top1_tolerances(),
    script:
        "../scripts/claims.py"
