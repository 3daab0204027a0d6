"""Rule distractor_dataset: stack each digit with the letter on a random half; first
the class-balanced subset of the digits that config key ``distractor.subset`` asks for."""

from pags.datasets import load_split, save_split, split_generator
from pags.datasets.distractor import add_distractor, letter_image
from pags.datasets.subset import balanced_subset
from pags.runtime import job_log

with job_log(snakemake) as log:
    digits = load_split(snakemake.input[0])
    subset, split = snakemake.params.subset, snakemake.wildcards.split
    if subset is not None:
        key = f"distractor.subset.{split}"
        digits = balanced_subset(digits, subset["n"], snakemake.params.num_classes, subset["seed"], split, key)
    letter = snakemake.params.letter  # a letter, or {letter, font} where distractor.font is set
    letter = letter if isinstance(letter, dict) else {"letter": letter, "font": "dejavu_sans_bold"}
    letter = letter_image(letter["letter"], letter["font"], size=digits.x.shape[-1]).expand(digits.x.shape[1:])
    generator = split_generator(snakemake.params.seed, split)
    data = add_distractor(digits, letter, generator)
    save_split(data, snakemake.output[0])
    log.info("%d images, digit on top in %.1f%%", len(data), 100 * data.extras["digit_on_top"].float().mean())
