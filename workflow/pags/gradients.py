"""Input gradients of a classifier, with the logit conventions the paper uses."""

from __future__ import annotations

import torch
from torch import nn

GRADIENT_TARGETS = ("label", "predicted", "logit_sum")


def input_gradient(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, target: str = "label"
) -> torch.Tensor:
    """d(selected logit)/dx per image, before the softmax.

    ``label``: the true class's logit; ``predicted``: the predicted class's logit (with a
    class-conditional score); ``logit_sum``: the sum of all logits (with an unconditional one).
    """
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    logits = model(x)
    if target == "logit_sum":
        selected = logits.sum(-1)
    elif target == "predicted":
        selected = logits.gather(1, logits.argmax(1, keepdim=True)).squeeze(1)
    elif target == "label":
        if y is None:
            raise ValueError("target 'label' needs the labels y")
        selected = logits.gather(1, y.view(-1, 1)).squeeze(1)
    else:
        raise ValueError(f"gradient target must be one of {GRADIENT_TARGETS}, got {target!r}")
    (grad,) = torch.autograd.grad(selected.sum(), x)
    return grad


def input_gradients(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, target: str, device: torch.device, batch_size: int = 250
) -> torch.Tensor:
    """``input_gradient`` over all of ``x`` (floats, on the CPU) in batches on ``device``."""
    return torch.cat(
        [
            input_gradient(model, x[i : i + batch_size].to(device), y[i : i + batch_size].to(device), target).cpu()
            for i in range(0, len(x), batch_size)
        ]
    )
