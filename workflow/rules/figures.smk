# Figures, each a named target: `snakemake fig_noise_robustness` renders just that one.


rule fig_noise_robustness:
    input:
        f"{RESULTS}/{distractor_dataset()}/tables/noise_robustness.csv",
    output:
        pdf=report(
            f"{FIGURES}/fig_noise_robustness.pdf",
            caption="../report/fig_noise_robustness.rst",
            category="MNIST with distractor",
        ),
        png=f"{FIGURES}/fig_noise_robustness.png",
    log:
        f"{LOGS}/figures/fig_noise_robustness.log",
    conda:
        "../../envs/pags.yaml"
    script:
        "../scripts/fig_noise_robustness.py"


rule fig_distractor:
    input:
        test=f"{RESULTS}/{distractor_dataset()}/data/test.pt",
        models=first_seed_models(config["distractor"], distractor_dataset()),
        records=first_seed_models(
            config["distractor"], distractor_dataset(), file="train.json"
        ),
    output:
        pdf=report(
            f"{FIGURES}/fig_distractor.pdf",
            caption="../report/fig_distractor.rst",
            category="MNIST with distractor",
        ),
        png=f"{FIGURES}/fig_distractor.png",
    log:
        f"{LOGS}/figures/fig_distractor.log",
    conda:
        "../../envs/pags.yaml"
    params:
        n_examples=config["distractor"]["figures"]["n_examples"],
        noise_std=config["distractor"]["figures"]["noise_std"],
        gradient_target=config["distractor"]["figures"]["gradient_target"],
    script:
        "../scripts/fig_distractor.py"
