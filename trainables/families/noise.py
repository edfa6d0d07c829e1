"""``noise``: per-layer sigma of additive Gaussian noise at the model's noise points.

rho is one sigma per noise point, named ``sigma_0``, ``sigma_1``, ... in forward order (this
file is the only place that spells those names). The points are the model's own
`trainables.NoiseInjection` modules (every built-in model with normalised layers has them),
or, for a model without any, one attached after every BatchNorm / LayerNorm / GroupNorm
(`trainables.models.noise.attach_noise_points`). The noise sits on the normalised
pre-activation; one sample is drawn for a theta step, K for a rho step and ``eval_samples``
for an evaluation. ``noise_at`` (a config key of this family only) says whether the noise
enters a normalised layer after its affine scale (the default) or on the normalised
pre-activation before it, the paper's ``h = gamma * (u_hat + sigma * eps) + beta``
(`trainables.models.noise`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..coerce import ConfigError
from ..models.noise import (
    NoiseInjection,
    attach_noise_points,
    noise_points,
    norm_layers,
    norms_before,
)
from ..regularizers import Family, Regularizer, expand_rho, positive_when_learned

if TYPE_CHECKING:
    from ..config import TrialConfig


class NoiseFamily(Regularizer):
    """Per-layer sigma of additive Gaussian noise at the given `NoiseInjection` points.

    ``sigma`` maps each point's rho name to its value, in the points' order. Learned sigma is
    stored as log sigma (positive, and multiplicative steps suit a scale); a fixed sigma of
    exactly 0 switches its point off, so a fixed run with every sigma at 0 is bit-for-bit
    plain training.
    """

    stochastic = True
    fixed_sigma: torch.Tensor

    def __init__(self, points: Sequence[NoiseInjection], sigma: Mapping[str, float], learned: bool,
                 generator: torch.Generator | None) -> None:
        super().__init__(learned)
        self.points = list(points)
        self.names = list(sigma)
        if len(self.names) != len(self.points):
            raise ValueError(f"noise: {len(self.names)} sigma values for {len(self.points)} "
                             "noise points")
        values = torch.tensor([float(s) for s in sigma.values()], dtype=torch.float32)
        if learned:
            self.log_sigma = nn.Parameter(values.log())
        else:
            self.register_buffer("fixed_sigma", values)
        self._on = True  # False inside `off`
        self.generator = generator
        for p in self.points:
            p.generator = generator
        if not learned:  # frozen values: set once, as floats (no device sync per step)
            for p, s in zip(self.points, values.tolist()):
                p.sigma = None if s == 0.0 else float(s)
        self.refresh()

    def sigma(self) -> torch.Tensor:
        return self.log_sigma.exp() if self.learned else self.fixed_sigma

    def rho_values(self) -> dict[str, float]:
        return {n: float(s) for n, s in zip(self.names, self.sigma().detach().cpu())}

    def noisy_at_eval(self) -> bool:
        return bool((self.sigma() > 0).any())

    @contextlib.contextmanager
    def off(self) -> Iterator[None]:
        held = [p.sigma for p in self.points]
        for p in self.points:
            p.sigma = None
        self._on = False  # `refresh` must not switch the points back on
        try:
            yield
        finally:
            self._on = True
            for p, sigma in zip(self.points, held):
                p.sigma = sigma

    def refresh(self) -> None:
        if self.learned and self._on:  # a fresh graph from log sigma for every forward pass
            sigma = self.log_sigma.exp()
            for i, p in enumerate(self.points):
                p.sigma = sigma[i]


def rho_names(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[str, ...]:
    """One name per noise point the model has, or would get from `attach_noise_points`."""
    n = len(noise_points(model)) or len(norm_layers(model))
    if n == 0:
        raise ConfigError(
            "family='noise' needs noise points: the model has no trainables.NoiseInjection "
            "module and no BatchNorm/LayerNorm/GroupNorm layer to put one after")
    return tuple(f"sigma_{i}" for i in range(n))


def build(config: TrialConfig, model: nn.Module, input_shape: tuple[int, ...],
          generator: torch.Generator | None) -> NoiseFamily:
    names = rho_names(model, input_shape)
    points = attach_noise_points(model)
    if config.noise_at == "before_affine":
        try:
            norms = norms_before(model, points)
        except ValueError as exc:
            raise ConfigError(f"noise_at={config.noise_at!r}: {exc}") from exc
        for point, norm in zip(points, norms):
            point.scale_with(norm)
    sigma = dict(zip(names, expand_rho(config.rho, names, "noise")))
    return NoiseFamily(points, sigma, config.learned, generator)


FAMILY = Family(
    name="noise",
    description="additive Gaussian noise after every normalised layer, one sigma per layer",
    learnable=True,
    stochastic=True,
    search_range=(1e-2, 3.0),
    rho_names=rho_names,
    build=build,
    domain=positive_when_learned,
)
