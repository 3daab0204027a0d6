"""pags: which models have perceptually-aligned gradients?

The science of the workflow as pure functions on tensors; the Snakemake rules in
``workflow/rules`` are thin wrappers that call into this package.
"""

__version__ = "0.1.0"
