"""``mixup``: each training batch replaced by convex combinations of its own examples.

Mixup (Zhang et al. 2018) trains on ``lam * x + (1 - lam) * x[perm]`` with the targets mixed
alike, ``lam * onehot(y) + (1 - lam) * onehot(y[perm])`` (class probabilities; the mixed values
for regression), ``perm`` a random permutation of the batch and ``lam ~ Beta(alpha, alpha)``,
one ``lam`` per batch as in the paper's code. rho ``alpha`` is the Beta parameter: small alpha
puts lam near 0 or 1 (little mixing), alpha = 1 is uniform, large alpha mixes half and half.
The cross-entropy of probability targets is the paper's loss,
``lam * CE(y) + (1 - lam) * CE(y[perm])``; ``train_loss`` reports it and ``train_acc`` counts
the argmax of the mixed targets (the label with the larger share).

The draws come from the regularizer's generator through `Regularizer.transform_batch`, which
the engine calls on theta steps only: evaluation and the regularization split see clean inputs
and true labels. lam is drawn as the inverse of the Beta(alpha, alpha) distribution function at
a uniform draw of that generator (``scipy.special.betaincinv``), since torch's Beta sampler
takes no generator. alpha = 0 means no mixing: nothing is drawn and the batch is untouched, so
the fixed twin at 0 is plain training bit for bit.

Not learnable: alpha shapes the training inputs, not a forward pass of the validation data, so
with the weights held fixed the loss on the clean regularization split does not depend on it.
Scoring the rho step on mixed validation inputs instead would give a gradient, but that
objective is lowest with no mixing at all, so it would only push alpha to 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..regularizers import Family, Regularizer, expand_rho

if TYPE_CHECKING:
    from ..config import TrialConfig

NAMES = ("alpha",)


def output_width(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """The model's number of outputs (classes; 1 for regression), from one forward pass of a
    two-sample batch of zeros in eval mode without gradients: no random numbers are drawn and
    no BatchNorm statistic moves (as `trainables.member.build_network`'s own check)."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(2, *input_shape, device=device))
    finally:
        model.train(training)
    return int(out.shape[-1])


def beta_quantile(alpha: float, u: float) -> float:
    """The ``u``-quantile of Beta(alpha, alpha): a Beta draw from a uniform one."""
    import scipy.special  # on first use: importing the family registry stays light

    return float(scipy.special.betaincinv(alpha, alpha, u))


class MixupFamily(Regularizer):
    """Mix each training batch with a permutation of itself (see the module doc)."""

    def __init__(self, alpha: float, n_out: int, generator: torch.Generator | None) -> None:
        super().__init__(learned=False)
        self.alpha = float(alpha)
        self.n_out = int(n_out)
        self.generator = generator

    def rho_values(self) -> dict[str, float]:
        return {"alpha": self.alpha}

    def draw(self, batch: int, device: torch.device) -> tuple[float, torch.Tensor]:
        """(lam, perm) for one batch, from the regularizer's generator."""
        where = self.generator.device if self.generator is not None else device
        u = float(torch.rand((), generator=self.generator, device=where))
        perm = torch.randperm(batch, generator=self.generator, device=where).to(device)
        return beta_quantile(self.alpha, u), perm

    def transform_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.transform_inputs(x, 1)
        if self.alpha == 0.0:
            return x, y
        lam, perm = self.draw(len(x), x.device)
        mixed = lam * x + (1.0 - lam) * x[perm]
        if y.is_floating_point():  # regression: the targets' values mix as the inputs do
            return mixed, lam * y + (1.0 - lam) * y[perm]
        onehot = F.one_hot(y, self.n_out).float()
        return mixed, lam * onehot + (1.0 - lam) * onehot[perm]


def rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    return NAMES


def build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
          generator: torch.Generator | None) -> MixupFamily:
    (alpha,) = expand_rho(config.rho, rho_names(model, input_shape), "mixup")
    return MixupFamily(alpha, output_width(model, input_shape), generator)


def nonnegative_alpha(value: float, learned: bool) -> str | None:
    return None if value >= 0 else "must be >= 0 (the Beta(alpha, alpha) parameter; 0 = no mixing)"


FAMILY = Family(
    name="mixup",
    description="mixup: each training batch mixed with a permutation of itself, inputs and "
                "labels alike, by lam ~ Beta(alpha, alpha) (not learnable: a validation loss on "
                "mixed inputs would only push alpha to 0)",
    learnable=False,
    stochastic=False,
    # Zhang et al. used 0.1 - 0.4 on ImageNet and 1 on CIFAR-10
    search_range=(0.05, 2.0),
    rho_names=rho_names,
    build=build,
    domain=nonnegative_alpha,
)
