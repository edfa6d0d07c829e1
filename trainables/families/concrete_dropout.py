"""``concrete_dropout``: a dropout rate per Linear layer, learned with theta on the training
objective through the concrete relaxation (Gal, Hron & Kendall, "Concrete Dropout",
NeurIPS 2017). No regularization split is involved: the rates are theta-side parameters.

Where: the input of every ``nn.Linear`` layer, in registration order (``mlp``: the pixels into
the first layer, each hidden layer's output into the next, the last one into the head), as the
paper's ConcreteDropout wrapper drops a layer's input. rho ``p_i`` is the drop probability of
layer i's input units; the configured rho is where it starts (the authors' code: 0.1) and the
rows report where it went (``rho/p_i``). ``p = sigmoid(logit)``: always in (0, 1).

The relaxed mask, per unit and per forward pass, u ~ U(0, 1) from the regularizer's generator
(the paper's eq. for the concrete distribution, temperature t pinned at 0.1 as in the paper):

    z = sigmoid((log p - log(1 - p) + log u - log(1 - u)) / t)      (a relaxed "drop")
    x -> x * (1 - z) / (1 - p)                                       (inverted dropout)

The objective (paper, section 3): the mean training loss plus (1/N) KL(q || prior), with

    KL / N = sum_i [ l^2 (1 - p_i) / (2 N) ||M_i||^2  -  (K_i / N) H(p_i) ]

where M_i is layer i's weight matrix in the paper's parametrisation (no rescaling by 1/(1-p)),
K_i its input dimension (``in_features``), H(p) = -p log p - (1 - p) log(1 - p) the Bernoulli
entropy, N the number of rows of the training split and l the prior length-scale. With inverted
dropout the stored weight is W_i = (1 - p_i) M_i, so the weight term is l^2 ||W_i||^2 /
(2 N (1 - p_i)) (the form of the authors' code). Biases are not in the term (the paper's M
only; the authors' code adds them). Pinned: l = 1e-4 (the authors' reference notebooks) and
the paper's 1/N weighting (the authors' code weights the same bracket by 2/N: wr = l^2/N,
dr = 2/N). The term is `Regularizer.train_penalty`, added to every theta step's loss; the logits are
parameters of the model (each Linear layer holds ``concrete_p_logit``), so the theta optimiser
moves them, the model's state_dict checkpoints them, and cross_reg / t1t2 refuse the family.

Evaluation keeps the relaxed masks on and averages K samples (MC dropout, as the paper's
predictions; ``stochastic``), like ``gaussian_dropout``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..coerce import ConfigError
from ..regularizers import Family, Regularizer, expand_rho
from .dropout import refuse_model_dropout

if TYPE_CHECKING:
    from ..config import TrialConfig

#: the concrete relaxation's temperature (the paper's t = 0.1)
TEMPERATURE = 0.1
#: the prior length-scale l of the weight term (the authors' reference notebooks)
LENGTH_SCALE = 1e-4
#: where u is clamped, so that log u and log(1 - u) stay finite (the authors' code: 1e-7)
EPS = 1e-7
LOGIT = "concrete_p_logit"


def open_rate(value: float, learned: bool) -> str | None:
    """The initial drop probability: strictly inside (0, 1) (its logit must be finite)."""
    return None if 0.0 < value < 1.0 else "must lie in (0, 1) (an initial drop probability)"


def layers(model: nn.Module) -> list[nn.Linear]:
    found = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not found:
        raise ConfigError("family='concrete_dropout' drops the inputs of nn.Linear layers and the "
                          "model has none")
    return found


class ConcreteDropoutFamily(Regularizer):
    """Concrete dropout on the inputs of ``linears`` (see the module doc)."""

    stochastic = True
    linears: list[nn.Linear]

    def __init__(self, linears: Sequence[nn.Linear], p: Sequence[float], names: Sequence[str],
                 generator: torch.Generator | None) -> None:
        super().__init__(learned=False)  # the rates are theta's: no rho optimiser
        if len(p) != len(linears) or len(names) != len(linears):
            raise ValueError(f"concrete_dropout: {len(p)} rates and {len(names)} names for "
                             f"{len(linears)} layers")
        self.names = list(names)
        self.generator = generator
        self._on = True  # False inside `off`
        # plain attributes, not submodules: the layers belong to the model
        object.__setattr__(self, "linears", list(linears))
        for i, (layer, rate) in enumerate(zip(linears, p)):
            logit = math.log(rate) - math.log1p(-rate)
            layer.register_parameter(LOGIT, nn.Parameter(
                torch.full((), logit, dtype=layer.weight.dtype, device=layer.weight.device)))
            layer.register_forward_pre_hook(partial(self._drop, i))

    def logits(self) -> torch.Tensor:
        return torch.stack([getattr(layer, LOGIT) for layer in self.linears])

    def rates(self) -> torch.Tensor:
        return torch.sigmoid(self.logits())

    def rho_values(self) -> dict[str, float]:
        return {n: float(p) for n, p in zip(self.names, self.rates().detach().cpu())}

    def noisy_at_eval(self) -> bool:
        return True  # MC-dropout predictions: the masks are drawn in eval mode too

    @contextlib.contextmanager
    def off(self) -> Iterator[None]:
        """No masks: every unit kept unscaled, the deterministic network (inverted dropout's
        expected activation), for the noise-off test metrics."""
        self._on = False
        try:
            yield
        finally:
            self._on = True

    def _drop(self, index: int, module: nn.Module, inputs: tuple) -> tuple | None:
        if not self._on:
            return None
        (x, *rest) = inputs
        logit = getattr(module, LOGIT)
        u = torch.rand(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)
        u = u.clamp(EPS, 1.0 - EPS)
        drop = torch.sigmoid((logit + torch.log(u) - torch.log1p(-u)) / TEMPERATURE)
        keep = torch.sigmoid(-logit)  # 1 - p, accurate however small
        return (x * (1.0 - drop) / keep, *rest)

    def train_penalty(self, n_train: int) -> torch.Tensor:
        """(1/N) KL of the module doc, summed over the layers."""
        total = torch.zeros((), device=self.linears[0].weight.device)
        for layer in self.linears:
            logit = getattr(layer, LOGIT)
            p, q = torch.sigmoid(logit), torch.sigmoid(-logit)  # q = 1 - p, accurate however small
            entropy = -(p * F.logsigmoid(logit) + q * F.logsigmoid(-logit))  # finite for any logit
            weight = LENGTH_SCALE ** 2 * layer.weight.pow(2).sum() / (2.0 * n_train * q)
            total = total + weight - layer.in_features * entropy / n_train
        return total


def rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(f"p_{i}" for i in range(len(layers(model))))


def build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
          generator: torch.Generator | None) -> ConcreteDropoutFamily:
    refuse_model_dropout(config, "concrete_dropout")
    names = rho_names(model, input_shape)
    return ConcreteDropoutFamily(layers(model), expand_rho(config.rho, names, "concrete_dropout"),
                                 names, generator)


FAMILY = Family(
    name="concrete_dropout",
    description="concrete (relaxed Bernoulli) dropout on each Linear layer's input, the rates "
                "learned with theta on the training loss plus the paper's KL term (not learnable "
                "by cross_reg: no regularization split)",
    learnable=False,
    stochastic=True,
    search_range=(0.01, 0.5),
    rho_names=rho_names,
    build=build,
    domain=open_rate,
    learned_with_theta=True,
)
