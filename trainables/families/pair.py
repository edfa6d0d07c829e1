"""``pair``: two networks trained together with a penalty on how similar their outputs are.

The trial builds two networks (``Family.networks = 2``: members 0 and 1 of
`trainables.member.member_seeds`, the same architecture) and trains them together
(`trainables.joint`): each step both take the same batch and one gradient of

    L(f1) + L(f2) + weight * penalty(f1, f2)

updates both. The trial predicts with their mean probability (the mean output for
regression), and reports and checkpoints the two like a two-member deep ensemble; every cost
column counts both networks.

The penalty compares the two networks' predictions p1, p2 on the batch: the class
probabilities (softmax of the logits, on the simplex) for classification, the outputs for
regression. ``pair_penalty`` chooses how and ``pair_direction`` which way it pushes:

| ``pair_penalty`` | ``agree`` | ``diverse`` |
|---|---|---|
| ``l2`` | + mean_i ‖p1_i - p2_i‖² | - mean_i ‖p1_i - p2_i‖² |
| ``adaptive_l2`` | the same times clip(|L1 - L2|, 0, 1) | the same times clip(|L1 - L2|, 0, 1) |
| ``cosine`` | + (1 - cos) | + cos |

``cos`` is the mean over rows of the cosine similarity of p1_i and p2_i (for regression's single
output: of the two networks' output vectors over the batch). ``agree`` is co-regularization
(Sindhwani, Niyogi & Belkin 2005; with probabilities, close to deep mutual learning, Zhang et
al. 2018): the networks are pulled towards each other. ``diverse`` pushes them apart, as
negative correlation learning does (Liu & Yao 1999: for two networks its penalty is
-(f1 - f2)²/4, our ``l2`` diverse up to the factor). On the simplex ‖p1 - p2‖² ≤ 2, so a
``diverse`` ``l2`` term is bounded. On regression outputs it is bounded only while
weight <= 1/2 (then (f1 - y)² + (f2 - y)² ≥ (f1 - f2)² / 2 keeps the total >= 0); a larger
weight is refused.

``adaptive_l2`` scales the weight by the gap between the two networks' losses on the batch,
clipped to [0, 1] and detached (a schedule, not an objective: the networks are not trained
to equalise their losses): the pull (or push) is strongest while one network is clearly
worse than the other, and vanishes when they do equally well.

rho ``weight`` >= 0. Not learnable by cross_reg: the weight multiplies a term of the training
loss only; it is not in the forward pass, so with the weights held fixed the loss on the
regularization split does not depend on it. A hypergradient through one training step, as
the t1t2 rival computes for a single network, could learn it; through the joint step of two
networks that is not built (mode='t1t2' is refused). At weight 0 no penalty is computed and the two
networks train exactly as two plain runs on the same batch order (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..coerce import ConfigError
from ..options import Option
from ..regularizers import Family, Regularizer, expand_rho
from .mixup import output_width

if TYPE_CHECKING:
    from ..config import TrialConfig

NAMES = ("weight",)
#: the largest ``diverse`` l2 weight on regression outputs that keeps the loss bounded below
REGRESSION_DIVERSE_MAX = 0.5


def adaptive_factor(loss_1: torch.Tensor, loss_2: torch.Tensor) -> torch.Tensor:
    """``clip(|L1 - L2|, 0, 1)`` of the two networks' losses, detached."""
    return (loss_1.detach() - loss_2.detach()).abs().clamp(0.0, 1.0)


def predictions(outputs: torch.Tensor, task: str) -> torch.Tensor:
    """What the penalty compares: class probabilities (float32 softmax) or the outputs."""
    return torch.softmax(outputs.float(), dim=-1) if task == "classification" else outputs.float()


def cosine(p1: torch.Tensor, p2: torch.Tensor) -> torch.Tensor:
    """Mean cosine similarity of the rows; of the whole columns for one output per row."""
    if p1.shape[-1] == 1:
        return F.cosine_similarity(p1.reshape(-1), p2.reshape(-1), dim=0)
    return F.cosine_similarity(p1, p2, dim=-1).mean()


def squared_distance(p1: torch.Tensor, p2: torch.Tensor) -> torch.Tensor:
    """mean_i ‖p1_i - p2_i‖²."""
    return (p1 - p2).pow(2).sum(dim=-1).mean()


def penalty(out_1: torch.Tensor, out_2: torch.Tensor, loss_1: torch.Tensor, loss_2: torch.Tensor,
            *, kind: str, direction: str, task: str) -> torch.Tensor:
    """The penalty of the module doc (before the weight) on one batch."""
    p1, p2 = predictions(out_1, task), predictions(out_2, task)
    if kind == "cosine":
        cos = cosine(p1, p2)
        return cos if direction == "diverse" else 1.0 - cos
    distance = squared_distance(p1, p2)
    term = distance if direction == "agree" else -distance
    if kind == "adaptive_l2":
        term = adaptive_factor(loss_1, loss_2) * term
    return term


class PairFamily(Regularizer):
    """The coupling of the two networks (member 0's regularizer supplies it; see the module
    doc). Draws nothing."""

    def __init__(self, weight: float, kind: str, direction: str) -> None:
        super().__init__(learned=False)
        self.weight = float(weight)
        self.kind = kind
        self.direction = direction

    def rho_values(self) -> dict[str, float]:
        return {"weight": self.weight}

    def coupling(self, outputs: Sequence[torch.Tensor], losses: Sequence[torch.Tensor],
                 task: str) -> torch.Tensor | None:
        if self.weight == 0.0:
            return None
        if len(outputs) != 2:
            raise ValueError(f"pair couples two networks, got {len(outputs)}")
        return self.weight * penalty(outputs[0], outputs[1], losses[0], losses[1],
                                     kind=self.kind, direction=self.direction, task=task)


PENALTIES = ("l2", "adaptive_l2", "cosine")
DIRECTIONS = ("agree", "diverse")
#: this family's own knobs (keys of its configs only, `--set pair_penalty=cosine`)
OPTIONS = (
    Option("pair_penalty", "l2", choices=PENALTIES,
           help="how the penalty compares the two networks' predictions (the table above)"),
    Option("pair_direction", "agree", choices=DIRECTIONS,
           help="agree pulls the networks together (co-regularization), diverse apart"),
)


def rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    return NAMES


def build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
          generator: torch.Generator | None) -> PairFamily:
    (weight,) = expand_rho(config.rho, rho_names(model, input_shape), "pair")
    penalty, direction = config.option("pair_penalty"), config.option("pair_direction")
    if (direction == "diverse" and penalty != "cosine"
            and weight > REGRESSION_DIVERSE_MAX and output_width(model, input_shape) == 1):
        raise ConfigError(
            f"rho={weight!r}: pair_direction='diverse' with pair_penalty="
            f"{penalty!r} subtracts weight * (f1 - f2)^2 on regression outputs, "
            f"unbounded below for a weight above {REGRESSION_DIVERSE_MAX} (family 'pair')")
    return PairFamily(weight, penalty, direction)


FAMILY = Family(
    name="pair",
    description="two networks trained together on L1 + L2 + weight * a penalty on their outputs' "
                "similarity (pair_penalty l2 / adaptive_l2 / cosine, pair_direction agree or "
                "diverse), predicting with their mean probability (not learnable by cross_reg: "
                "the weight is not in the forward pass)",
    learnable=False,
    stochastic=False,
    # diverse weights much above 1 swamp the data losses (digits: chance accuracy at 5);
    # adaptive_l2 scales the weight by the loss gap (0.08 on average on digits): raise rho_high
    search_range=(0.01, 3.0),
    rho_names=rho_names,
    build=build,
    options=OPTIONS,
    networks=2,
)
