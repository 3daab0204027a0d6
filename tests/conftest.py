"""Shared test setup: import ``pags`` from the source tree without installing it."""

import sys
from pathlib import Path

import torch

WORKFLOW_DIR = Path(__file__).resolve().parents[1] / "workflow"
if str(WORKFLOW_DIR) not in sys.path:
    sys.path.insert(0, str(WORKFLOW_DIR))

# The tests' models are tiny: extra OpenMP threads only add overhead, and on a busy
# machine their spin-waiting slows each step by up to 100x.
torch.set_num_threads(1)
