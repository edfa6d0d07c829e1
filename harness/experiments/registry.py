"""The named experiments `crossreg run NAME` knows, each stated in one place.

`quick` is the default main job: it must finish all four strategies for one seed in under
ten minutes on a 2-core machine without a GPU (measured in BENCHMARKS.md),
so its budgets are small. The CPU experiments below it are where regularization visibly
matters at CPU scale (MNIST-1D, docs/design.md); the paper-scale budgets are meant
for a GPU cluster (`ray up cluster.yaml`) and use fractional GPUs per trial. The catalogue
gives every regularizer family one MNIST-1D experiment (`mnist1d-<family>`), learned and
searched where cross-reg can learn it, searched only where it cannot (docs/families.md).
"""

from __future__ import annotations

from harness.errors import SpecError
from harness.experiments import ExperimentSpec

ALL_FOUR = ("cross_reg", "pbt", "grid_cv", "asha")

# What the three paper-scale experiments share: SGD on a GPU cluster, four trials per GPU.
_PAPER_SCALE_GPU: dict = dict(
    data_dir="~/data", download=True, batch_size=128, reg_batch_size=128, K=4, r=1,
    optimizer="sgd", lr=0.05, rho_lr=1e-2, rho_init=0.1, strategies=ALL_FOUR, seeds=3,
    pbt_population=8, asha_samples=32, asha_grace_period=2, cv_folds=5,
    cpus_per_trial=2.0, gpus_per_trial=0.25, device="cuda", bf16=True, channels_last=True,
)

_EXPERIMENTS: tuple[ExperimentSpec, ...] = (
    ExperimentSpec.from_fields(
        name="quick",
        description="digits, 2x256 MLP, per-layer noise; all four strategies plus the "
                    "unregularised baseline in minutes on 2 CPUs",
        dataset="digits", n_train=500, model="mlp", width=256, depth=2, family="noise",
        epochs=30, batch_size=64, reg_batch_size=64, K=4, r=1, rho_lr=1e-2, rho_init=0.1,
        strategies=("cross_reg", "fixed", "pbt", "grid_cv", "asha"), seeds=3,
        pbt_population=4, pbt_interval=0, asha_samples=8, asha_grace_period=2,
        grid_values=(0.01, 0.1, 1.0), cv_folds=3,
    ),
    ExperimentSpec.from_fields(
        name="mnist1d-noise",
        description="MNIST-1D, 2x512 MLP, per-layer noise (the design's pre-check setting)",
        dataset="mnist1d", n_train=4000, model="mlp", width=512, depth=2, family="noise",
        epochs=60, batch_size=128, reg_batch_size=128, K=4, r=1, rho_lr=1e-2, rho_init=0.3,
        strategies=ALL_FOUR, seeds=3,
        pbt_population=8, pbt_interval=3, asha_samples=16, asha_grace_period=2,
        grid_values=(0.03, 0.1, 0.3, 1.0, 3.0), cv_folds=5,
    ),
    ExperimentSpec.from_fields(
        name="digits-augment",
        description="digits, 2x256 MLP, learned affine-warp magnitudes (translate/rotate/shear)",
        dataset="digits", n_train=1000, model="mlp", width=256, depth=2, family="augment",
        epochs=40, batch_size=64, reg_batch_size=64, K=4, r=1, rho_lr=1e-2, rho_init=0.1,
        strategies=ALL_FOUR, seeds=3,
        rho_low=1e-2, rho_high=2.0, pbt_population=8, pbt_interval=2, asha_samples=16,
        asha_grace_period=2, grid_values=(0.03, 0.1, 0.3, 1.0), cv_folds=5,
    ),
    ExperimentSpec.from_fields(
        name="ridge",
        description="ridge regression (L2 norm learned) on seeded linear-Gaussian data",
        dataset="synthetic-regression", task="regression", n_train=200, model="linear",
        family="l2", epochs=100, batch_size=32, reg_batch_size=32, K=1, r=1,
        rho_lr=1e-2, rho_init=1.0, lr=1e-2, strategies=ALL_FOUR, seeds=5,
        rho_low=1e-2, rho_high=10.0, pbt_population=8, pbt_interval=5, asha_samples=16,
        asha_grace_period=5, grid_values=(0.03, 0.1, 0.3, 1.0, 3.0, 10.0), cv_folds=5,
    ),
    ExperimentSpec.from_fields(
        name="lasso-diabetes",
        description="lasso (L1 amount learned) on sklearn diabetes",
        dataset="diabetes", task="regression", model="linear", family="l1",
        epochs=100, batch_size=32, reg_batch_size=32, K=1, r=1, rho_lr=1e-2, rho_init=1.0,
        lr=1e-2, strategies=ALL_FOUR, seeds=5,
        rho_low=1e-2, rho_high=10.0, pbt_population=8, pbt_interval=5, asha_samples=16,
        asha_grace_period=5, grid_values=(0.03, 0.1, 0.3, 1.0, 3.0, 10.0), cv_folds=5,
    ),
    ExperimentSpec.from_fields(
        name="cifar10-vgg16-noise",
        description="CIFAR-10, VGG-16, per-layer noise; paper-scale, for a GPU cluster",
        dataset="cifar10", model="vgg16", family="noise", epochs=100,
        pbt_interval=5, grid_values=(0.01, 0.03, 0.1, 0.3, 1.0), **_PAPER_SCALE_GPU,
    ),
    ExperimentSpec.from_fields(
        name="cifar10-resnet18-noise",
        description="CIFAR-10, ResNet-18, per-layer noise; paper-scale, for a GPU cluster",
        dataset="cifar10", model="resnet18", family="noise", epochs=100,
        pbt_interval=5, grid_values=(0.01, 0.03, 0.1, 0.3, 1.0), **_PAPER_SCALE_GPU,
    ),
    ExperimentSpec.from_fields(
        name="svhn-augment",
        description="SVHN, ResNet-18, learned affine-warp magnitudes; paper-scale, for a GPU cluster",
        dataset="svhn", model="resnet18", family="augment", epochs=60, rho_low=1e-2,
        rho_high=2.0, pbt_interval=3, grid_values=(0.03, 0.1, 0.3, 1.0), **_PAPER_SCALE_GPU,
    ),
)

# The catalogue's question per family: no regularizer (`fixed` at rho = 0 is mnist1d-noise's),
# the value grid CV picks, and the value cross-reg learns where it can. PBT, ASHA and the rest
# are one `--strategies` away; the headline compares them on mnist1d-noise.
LEARNED = ("cross_reg", "fixed", "grid_cv")
SEARCHED = ("fixed", "grid_cv")  # a family cross-reg cannot learn


def _catalogue(family: str, description: str, strategies: tuple[str, ...],
               grid_values: tuple[float, ...], **fields: object) -> ExperimentSpec:
    """One experiment of the regularizer catalogue: the MNIST-1D 2x512 MLP of mnist1d-noise
    (where regularization visibly matters on a CPU), 40 epochs, the family's own search
    range, three grid values inside it."""
    base: dict = dict(
        dataset="mnist1d", n_train=4000, model="mlp", width=512, depth=2, epochs=40,
        batch_size=128, reg_batch_size=128, K=4, r=1, rho_lr=1e-2, seeds=3,
        pbt_population=8, pbt_interval=2, asha_samples=16, asha_grace_period=2, cv_folds=5)
    return ExperimentSpec.from_fields(
        name=f"mnist1d-{family.replace('_', '-')}", description=description, family=family,
        strategies=strategies, grid_values=grid_values, **{**base, **fields})


_CATALOGUE: tuple[ExperimentSpec, ...] = (
    _catalogue("weight_norm", "MNIST-1D, 2x512 MLP, per-layer weight norm (multiple of the "
               "initial norm)", LEARNED, (0.5, 1.0, 2.0), rho_init=1.0, fixed_rho=1.0),
    _catalogue("dropout", "MNIST-1D, 2x512 MLP, per-layer dropout probability (searched only)",
               SEARCHED, (0.05, 0.2, 0.5)),
    _catalogue("gaussian_dropout", "MNIST-1D, 2x512 MLP, per-layer Gaussian dropout std",
               LEARNED, (0.1, 0.3, 1.0), rho_init=0.1),
    _catalogue("dropconnect", "MNIST-1D, 2x512 MLP, per-layer weight drop probability "
               "(searched only)", SEARCHED, (0.02, 0.1, 0.3)),
    _catalogue("weight_noise", "MNIST-1D, 2x512 MLP, per-layer multiplicative weight noise std",
               LEARNED, (0.1, 0.3, 1.0), rho_init=0.1),
    _catalogue("orthogonal", "MNIST-1D, 2x512 MLP, per-layer distance from orthogonal "
               "(level set)", LEARNED, (0.1, 0.5, 1.5), rho_init=1.0, fixed_rho=1.0),
    _catalogue("l1_net", "MNIST-1D, 2x512 MLP, per-layer L1 amount (multiple of the initial "
               "L1 norm)", LEARNED, (0.3, 1.0, 3.0), rho_init=1.0, fixed_rho=1.0),
    _catalogue("stochastic_depth", "MNIST-1D, residual MLP, per-block death rate "
               "(searched only)", SEARCHED, (0.05, 0.2, 0.4), model="resmlp"),
    _catalogue("cutout", "MNIST-1D, 2x512 MLP, cutout segment length (searched only)",
               SEARCHED, (2.0, 6.0, 12.0)),
    _catalogue("mixup", "MNIST-1D, 2x512 MLP, mixup's Beta(alpha, alpha) (searched only)",
               SEARCHED, (0.1, 0.4, 1.0)),
    _catalogue("pair", "MNIST-1D, two 2x512 MLPs with an output-agreement penalty "
               "(pair_direction=diverse for the opposite; searched only)",
               SEARCHED, (0.03, 0.3, 3.0)),  # its options' defaults: l2, agree
)

# fractional max-pooling is a model option, not a family: digits images through the 2-D CNN
_POOLING = ExperimentSpec.from_fields(
    name="digits-cnn-fractional",
    description="digits 8x8 images, 2-D CNN with fractional max-pooling (ratio sqrt 2), "
                "per-layer noise",
    dataset="digits", n_train=1000, model="cnn", depth=2, pool="fractional", family="noise",
    epochs=40, batch_size=64, reg_batch_size=64, K=4, r=1, rho_lr=1e-2, rho_init=0.1,
    strategies=LEARNED, seeds=3, pbt_population=4, pbt_interval=2, asha_samples=8,
    asha_grace_period=2, grid_values=(0.01, 0.1, 1.0), cv_folds=3,
)

EXPERIMENTS: dict[str, ExperimentSpec] = {
    e.name: e for e in (*_EXPERIMENTS, *_CATALOGUE, _POOLING)}
DEFAULT_EXPERIMENT = "quick"


def get(name: str) -> ExperimentSpec:
    """The registered experiment `name`; a SpecError lists the known names otherwise."""
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise SpecError(
            f"unknown experiment {name!r}; known experiments: {', '.join(EXPERIMENTS)}"
        ) from None


def names() -> list[str]:
    return list(EXPERIMENTS)


__all__ = ["DEFAULT_EXPERIMENT", "EXPERIMENTS", "get", "names"]
