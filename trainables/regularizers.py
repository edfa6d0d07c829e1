"""What every regularizer family shares: the `Family` declaration, the `Regularizer` base
and the level-set machinery of the norm families.

Cross-regularization splits the parameters in two groups: theta (everything in the model)
is stepped on the training split, rho (the parameters of a `Regularizer`) on the
regularization split. rho always enters the forward pass directly, so the rho step is the
plain partial gradient dL_val/drho with theta held fixed: no unrolling, no Hessian.

Each family is one file under ``trainables/families/`` declaring a `Family`: its name, what
its rho is called on a given model (`Family.rho_names`), whether cross_reg can learn it,
whether it is stochastic, the range a fixed-value search draws from, its domain checks and
how to build its `Regularizer`. Each family runs learned (cross_reg: rho gets its own
optimiser) or fixed (rho frozen at the configured values: the fixed-lambda trainable the
searches tune).

`NormFamily` (used by l2, l1, weight_norm and the linear estimators): the amount of a penalty
R(w) is rho. A weight is parametrised as ``w = v + (rho - R(v)) * u``,
``u = grad R(v) / |grad R(v)|^2`` (u held constant), so at ``R(v) = rho`` the forward value is
``w = v``, dw/drho = u and dL/dv is the gradient minus its projection on grad R. For R = L2
norm this is exactly ``w = rho * v/|v|`` (the norm/direction split); for R = L1 norm it is
the sign projection. After every step v is retracted onto the level set ``R(v) = rho`` (see
`project_l1_sphere` for zeros and sign changes).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn.utils import parametrize

from .coerce import ConfigError
from .options import Option

if TYPE_CHECKING:
    from .config import TrialConfig


class Regularizer(nn.Module):
    """Base class: holds rho; the identity regularizer (family ``none``)."""

    #: a stochastic family needs K samples for a rho step and for evaluation
    stochastic: bool = False

    def __init__(self, learned: bool = False) -> None:
        super().__init__()
        self.learned = learned
        #: the run's generator a stochastic family draws from (checkpointed by the trial)
        self.generator: torch.Generator | None = None

    def rho_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters()) if self.learned else []

    def rho_values(self) -> dict[str, float]:
        return {}

    def noisy_at_eval(self) -> bool:
        """Whether the model's prediction is random at evaluation (noise on in eval mode), so
        that an evaluation averages several draws and `off` changes what it predicts. False
        for a family whose randomness acts in training only (dropout's masks) or on the inputs
        of a theta or rho step only (augmentation)."""
        return False

    def eval_samples(self, samples: int) -> int:
        """How many draws an evaluation averages: the trial's ``eval_samples`` (``samples``)
        for a model that is random at evaluation, 1 for a deterministic one. The count comes
        from the config, never from K, so that every strategy's models are scored alike."""
        return samples if self.noisy_at_eval() else 1

    def refresh(self) -> None:
        """Push the current rho into the model before a forward pass."""

    def transform_inputs(self, x: torch.Tensor, n_samples: int) -> torch.Tensor:
        """The inputs of ``n_samples`` stacked draws, shape (n_samples * B, ...)."""
        return x if n_samples == 1 else x.repeat(n_samples, *([1] * (x.dim() - 1)))

    def transform_batch(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A theta step's (inputs, targets); only theta steps call it (never a rho step or an
        evaluation). Targets are the labels, or for classification probabilities of shape
        (B, n_classes) (mixup's mixed labels). Default: `transform_inputs` of one draw, the
        labels as they are."""
        return self.transform_inputs(x, 1), y

    def coupling(self, outputs: Sequence[torch.Tensor], losses: Sequence[torch.Tensor],
                 task: str) -> torch.Tensor | None:
        """The term a family of several networks (``Family.networks > 1``) adds to the sum of
        their losses in a joint theta step, from every network's outputs and loss on the same
        batch; None adds nothing (see `trainables.joint`)."""
        return None

    @contextlib.contextmanager
    def off(self) -> Iterator[None]:
        """The model without this regularizer's perturbation of its forward pass (the noise of
        a stochastic family), for T1-T2's validation cost, which is the unregularized loss
        (Luketina et al. 2016), and for the noise-off test metrics (``test_*_det``). The
        default has nothing to switch off: a penalty never enters
        a validation loss and an input transform is applied only by whoever calls
        `transform_inputs` / `transform_batch`."""
        yield

    def train_penalty(self, n_train: int) -> torch.Tensor | None:
        """A term added to the training loss of every theta step (never to a rho step's loss
        or to the reported ``train_loss``), e.g. a weight-decay coefficient that is rho
        (``l2_penalty``) or concrete dropout's KL term; ``n_train`` is the size of the
        training split (the N of a per-example objective). None (the default) adds nothing."""
        return None

    @torch.no_grad()
    def after_theta_step(self) -> None:
        """Retraction after theta moved (norm families keep R(v) = rho)."""

    @torch.no_grad()
    def after_rho_step(self) -> None:
        """Keep rho in its domain and theta consistent with it after a rho step."""


# ---------------------------------------------------------------------------------------
# the declaration of a family

#: ``rho_names(model, input_shape)``: the family's rho names on that model
RhoNames = Callable[[nn.Module, tuple[int, ...]], tuple[str, ...]]
#: ``build(config, model, input_shape, generator)``: the regularizer, attached to ``model``
Build = Callable[["TrialConfig", nn.Module, tuple[int, ...], torch.Generator | None], Regularizer]
#: ``domain(value, learned)``: why one rho value is not allowed, or None
Domain = Callable[[float, bool], str | None]


def nonnegative(value: float, learned: bool) -> str | None:
    """The default domain: an amount, a magnitude or a scale is never negative."""
    return None if value >= 0 else "must be >= 0"


def positive_when_learned(value: float, learned: bool) -> str | None:
    """For rho learned in log space or by scaling: 0 is a fixed point it can never leave."""
    if value < 0:
        return "must be >= 0"
    if learned and value == 0:
        return ("cross_reg learns it in log space or by scaling and cannot start from 0; "
                "give a positive initial value")
    return None


@dataclass(frozen=True)
class Family:
    """A regularizer family as the registry, the trial and the harness see it.

    ``search_range`` is the (low, high) interval a fixed-value search (PBT, grid CV, ASHA)
    draws rho from on a log scale, None for a family with no rho. ``rho_names`` and ``build``
    take the model the trial built, so per-layer names follow the architecture; a family
    that cannot work on a model raises `ConfigError` from ``rho_names`` (check_config calls it).
    ``networks > 1``: the trial builds that many networks (each with its own regularizer from
    ``build``), trains them together with the first one's `Regularizer.coupling` added to their
    summed losses, and predicts with their mean probability.
    """

    name: str
    description: str
    learnable: bool
    stochastic: bool
    search_range: tuple[float, float] | None
    rho_names: RhoNames
    build: Build
    domain: Domain = nonnegative
    #: how many networks a trial of this family trains together on the same batches (``pair``: 2)
    networks: int = 1
    #: whether mode='t1t2' can learn rho (the training gradient depends on it, Luketina et al.
    #: 2016); None: as ``learnable``. A penalty weight outside the forward pass (``l2_penalty``)
    #: is t1t2-learnable but not cross_reg-learnable
    t1t2_learnable: bool | None = None
    #: rho is optimised with theta on the training objective in every mode (``concrete_dropout``'s
    #: rates): the configured rho is where it starts, and the rows report where it went
    learned_with_theta: bool = False
    #: the family's own knobs (`Option`), keys of the trial's config beside TrialConfig's fields
    options: tuple[Option, ...] = ()

    def option(self, name: str) -> Option | None:
        return next((o for o in self.options if o.name == name), None)

    def __post_init__(self) -> None:
        if self.search_range is not None:
            low, high = self.search_range
            if not 0 < low < high < math.inf:
                raise ValueError(f"family {self.name!r}: search_range must be (low, high) with "
                                 f"0 < low < high (searched on a log scale), got {self.search_range}")
        if self.networks < 1:
            raise ValueError(f"family {self.name!r}: networks must be >= 1, got {self.networks}")

    @property
    def t1t2_can_learn(self) -> bool:
        """Whether mode='t1t2' can learn this family's rho (``t1t2_learnable``, else ``learnable``)."""
        return self.learnable if self.t1t2_learnable is None else self.t1t2_learnable

    def check(self, config: TrialConfig) -> None:
        """The family's rules on a config, before any model exists: one ConfigError each."""
        for name, value in config.family_options:
            option = self.option(name)
            if option is None:
                raise ConfigError(f"{name}={value!r}: not an option of family {self.name!r} "
                                  f"(its options: {[o.name for o in self.options] or 'none'})")
            option.coerce(value)
        if config.mode == "cross_reg" and not self.learnable:
            raise ConfigError(
                f"family={config.family!r}: {self.name!r} has no rho that cross_reg can learn; "
                "use mode='fixed' or a learnable family")
        if config.mode == "t1t2" and not self.t1t2_can_learn:
            raise ConfigError(
                f"family={config.family!r}: {self.name!r} has no rho that t1t2 can learn (the "
                "training gradient does not depend on it); use mode='fixed' or another family")
        if self.networks > 1 and config.members != 1:
            raise ConfigError(f"members={config.members}: family {self.name!r} trains "
                              f"{self.networks} networks together in one trial; a deep ensemble "
                              "of them is not supported (leave members at 1)")
        if self.networks > 1 and config.trivial_augment:
            raise ConfigError(f"trivial_augment=True: family {self.name!r} trains its networks "
                              "together (trainables.joint), which does not augment; leave it off")
        values = config.rho.items() if isinstance(config.rho, Mapping) else [(None, config.rho)]
        for key, value in values:
            reason = self.domain(float(value), config.learned)
            if reason is not None:
                where = "rho" if key is None else f"rho[{key!r}]"
                raise ConfigError(f"{where}={value!r}: {reason} (family {self.name!r})")

    def regularizer(self, config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
                    generator: torch.Generator | None) -> Regularizer:
        """``build`` with its ValueErrors (wrong rho names, impossible values) as ConfigError."""
        try:
            return self.build(config, model, input_shape, generator)
        except ConfigError:
            raise
        except ValueError as exc:
            raise ConfigError(f"rho={config.rho!r}: {exc}") from exc


# ---------------------------------------------------------------------------------------
# norm families: L2 (ridge, weight norm), L1 (lasso), any penalty with a gradient


def l2_norm(v: torch.Tensor) -> torch.Tensor:
    # vector_norm's gradient at v = 0 is 0 (a subgradient), where sqrt(sum v^2) gives NaN
    return torch.linalg.vector_norm(v)


def l1_norm(v: torch.Tensor) -> torch.Tensor:
    return v.abs().sum()


PENALTIES = {"l2": l2_norm, "l1": l1_norm}


class _LevelSet(nn.Module):
    """Parametrisation ``w = v + (rho - R(v)) * u`` of one weight tensor (see module doc)."""

    _family: NormFamily

    def __init__(self, penalty: str, family: NormFamily, index: int) -> None:
        super().__init__()
        self.penalty = penalty
        # a plain attribute, not a submodule: rho belongs to the regularizer, not the model
        object.__setattr__(self, "_family", family)
        self.index = index

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        amount = PENALTIES[self.penalty](v)
        direction = _penalty_direction(self.penalty, v.detach())
        return v + (self._family.rho[self.index] - amount) * direction


def _penalty_direction(penalty: str, v: torch.Tensor) -> torch.Tensor:
    """u = grad R / |grad R|^2: moving w by t*u changes R(w) by t (to first order)."""
    if penalty == "l2":
        grad = v / l2_norm(v).clamp_min(1e-12)
    else:
        grad = torch.sign(v)
    return grad / grad.pow(2).sum().clamp_min(1e-12)


def project_l1_sphere(v: torch.Tensor, radius: float) -> torch.Tensor:
    """Euclidean projection of v onto {w : |w|_1 = radius}, moving only along sign(v).

    Shrinking is soft-thresholding (Duchi et al. 2008): every active coordinate moves
    towards zero by the same tau, and a coordinate that would cross zero stops AT zero
    (a sign change becomes an exact zero instead of flipping). Growing adds the same amount
    to every active coordinate away from zero; zeros stay zero. A zero coordinate leaves
    zero only through a theta step that moves it further than the threshold tau the next
    projection subtracts. With the plain tangent step (gradient minus its projection on
    sign(w)) a zero coordinate receives its full gradient, so any non-zero gradient lets it
    in partly; the lasso estimator's optimiser adds the sign component back so that entry
    follows the lasso's condition |grad_j| > lambda (`trainables.linear.optimisers`).
    """
    flat = v.reshape(-1)
    total = flat.abs().sum()
    if radius <= 0:
        return torch.zeros_like(v)
    if total > radius:
        mags = flat.abs()
        sorted_mags, _ = torch.sort(mags, descending=True)
        cumsum = torch.cumsum(sorted_mags, 0)
        ks = torch.arange(1, len(flat) + 1, device=v.device, dtype=v.dtype)
        cond = sorted_mags - (cumsum - radius) / ks > 0
        # k >= 1 always holds in exact arithmetic; a radius tiny next to |v| can round it away
        k = int(torch.nonzero(cond).max()) + 1 if bool(cond.any()) else 1
        tau = (cumsum[k - 1] - radius) / k
        out = torch.sign(flat) * (mags - tau).clamp_min(0)
    else:
        active = flat != 0
        n_active = int(active.sum())
        if n_active == 0:
            return v.clone()  # nothing to grow; rho is re-read from v by the caller
        out = flat + torch.sign(flat) * (radius - total) / n_active
    return out.reshape(v.shape)


class NormFamily(Regularizer):
    """rho_i = R(w_i) for each weight tensor w_i (one scalar per tensor)."""

    reference: torch.Tensor

    def __init__(self, modules: Sequence[nn.Module], penalty: str, rho: Sequence[float] | None,
                 learned: bool, *, names: Sequence[str], param: str = "weight",
                 relative: Sequence[float] | None = None) -> None:
        """``names`` are the rho names (the family's, one per module); ``rho`` gives absolute
        amounts; ``relative`` gives them as multiples of each weight's amount at
        initialisation (the weight-norm family's g, since a useful absolute norm depends on
        the layer's size); neither keeps the initial amounts."""
        super().__init__(learned)
        if penalty not in PENALTIES:
            raise ValueError(f"unknown penalty {penalty!r}; choose one of {sorted(PENALTIES)}")
        self.penalty = penalty
        self.param = param
        self.modules_ = list(modules)
        self.names = list(names)
        initial = [float(PENALTIES[penalty](getattr(m, param).detach())) for m in self.modules_]
        if relative is not None:
            values = [float(x) * ref for x, ref in zip(relative, initial)]
            reference = initial
        else:
            values = initial if rho is None else [float(x) for x in rho]
            reference = [1.0] * len(values)
        if not len(values) == len(reference) == len(self.names) == len(self.modules_):
            raise ValueError(f"{penalty}: {len(values)} rho values and {len(self.names)} names "
                             f"for {len(self.modules_)} weights")
        self.register_buffer("reference", torch.tensor(reference, dtype=torch.float32))
        self.rho = nn.Parameter(torch.tensor(values, dtype=torch.float32), requires_grad=learned)
        for i, m in enumerate(self.modules_):
            parametrize.register_parametrization(m, param, _LevelSet(penalty, self, i))
        self.after_rho_step()

    def originals(self) -> list[nn.Parameter]:
        return [getattr(m.parametrizations, self.param).original for m in self.modules_]

    def rho_values(self) -> dict[str, float]:
        amounts = (self.rho.detach() / self.reference).cpu()
        return {n: float(x) for n, x in zip(self.names, amounts)}

    @torch.no_grad()
    def after_theta_step(self) -> None:
        for i, v in enumerate(self.originals()):
            v.copy_(self._retract(v, float(self.rho[i])))

    @torch.no_grad()
    def after_rho_step(self) -> None:
        self.rho.clamp_(min=0.0)
        for i, v in enumerate(self.originals()):
            v.copy_(self._retract(v, float(self.rho[i])))
            if self.penalty == "l1":  # an all-zero weight cannot grow: keep rho honest
                self.rho[i] = l1_norm(v)

    def _retract(self, v: torch.Tensor, radius: float) -> torch.Tensor:
        if self.penalty == "l2":
            return v * (radius / float(l2_norm(v).clamp_min(1e-12)))
        return project_l1_sphere(v, radius)


def linear_norm_family(penalty: str, description: str) -> Family:
    """The family whose rho ``<penalty>_i`` is the absolute norm of the i-th nn.Linear weight
    (registration order; a linear model has exactly one), learned or held in the level-set
    form of `NormFamily`: theta steps move along R(w) = rho, rho steps across it. An absolute
    norm's useful scale grows with the layer's size: override the range per experiment."""

    def layers(model: nn.Module) -> list[nn.Module]:
        return [m for m in model.modules() if isinstance(m, nn.Linear)]

    def rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
        n = len(layers(model))
        if n == 0:
            raise ConfigError(f"family={penalty!r} needs a model with nn.Linear layers")
        return tuple(f"{penalty}_{i}" for i in range(n))

    def build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
              generator: torch.Generator | None) -> NormFamily:
        names = rho_names(model, input_shape)
        return NormFamily(layers(model), penalty, expand_rho(config.rho, names, penalty),
                          config.learned, names=names)

    return Family(name=penalty, description=description, learnable=True, stochastic=False,
                  search_range=(1e-2, 3.0), rho_names=rho_names, build=build,
                  domain=positive_when_learned)


class HookedNoise(Regularizer):
    """One noise std per hooked module, applied by a forward hook: learned in log space
    (positive, multiplicative steps), or frozen as floats (no device sync per forward; a
    frozen 0 leaves the module's output untouched and draws no random numbers). A subclass
    says what the noise does to the output (`perturb`) and names itself (`family`)."""

    stochastic = True
    family = "noise"
    fixed_std: torch.Tensor

    def __init__(self, modules: Sequence[nn.Module], std: Sequence[float], names: Sequence[str],
                 learned: bool, generator: torch.Generator | None) -> None:
        super().__init__(learned)
        self.names = list(names)
        if len(self.names) != len(modules) or len(std) != len(modules):
            raise ValueError(f"{self.family}: {len(std)} std values and {len(self.names)} "
                             f"names for {len(modules)} modules")
        values = torch.tensor([float(s) for s in std], dtype=torch.float32)
        if learned:
            self.log_std = nn.Parameter(values.log())
        else:
            self.register_buffer("fixed_std", values)
        self._fixed = values.tolist()
        self._on = True  # False inside `off`
        self.generator = generator
        for i, module in enumerate(modules):
            module.register_forward_hook(self._hook(i))

    def _hook(self, index: int) -> Callable[..., torch.Tensor | None]:
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor | None:
            if not self._on:
                return None
            if self.learned:
                std: torch.Tensor | float = self.log_std[index].exp()  # a fresh graph per forward
            else:
                std = self._fixed[index]
                if std == 0.0:
                    return None
            return self.perturb(module, inputs, output, std)
        return hook

    def perturb(self, module: nn.Module, inputs: tuple, output: torch.Tensor,
                std: torch.Tensor | float) -> torch.Tensor:
        raise NotImplementedError

    @contextlib.contextmanager
    def off(self) -> Iterator[None]:
        self._on = False
        try:
            yield
        finally:
            self._on = True

    def std(self) -> torch.Tensor:
        return self.log_std.exp() if self.learned else self.fixed_std

    def rho_values(self) -> dict[str, float]:
        return {n: float(s) for n, s in zip(self.names, self.std().detach().cpu())}

    def noisy_at_eval(self) -> bool:
        return self.learned or any(s > 0 for s in self._fixed)


def expand_rho(rho: float | Mapping[str, float], names: Sequence[str], family: str) -> list[float]:
    """Per-parameter rho values from a scalar (broadcast) or a dict keyed by rho name."""
    if isinstance(rho, Mapping):
        unknown = sorted(set(rho) - set(names))
        missing = [n for n in names if n not in rho]
        if unknown or missing:
            raise ValueError(
                f"rho for family {family!r} must name exactly {list(names)}; "
                f"unknown {unknown}, missing {missing}")
        return [float(rho[n]) for n in names]
    return [float(rho)] * len(names)
