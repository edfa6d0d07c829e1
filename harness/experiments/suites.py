"""The named suites `crossreg suite NAME` knows, each declared once, in one place.

`small`: CPU-sized tasks where regularization visibly matters, chosen so that the ordering of
strategies can be read across models (MLP, 1-D and 2-D CNN), data size, label noise, a family
other than noise (learned augmentation) and a regression task, with the headline strategies
on 5 seeds. Budgets are cut from the single experiments' (30 epochs, smaller searches) so the
whole suite stays within hours on a small machine: `crossreg suite small --plan` prints its
cost. `paper`: the paper's settings (the registered CIFAR-10 and SVHN experiments) for a GPU
cluster; without the data here it is refused by the preflight, and `--plan` prints its
GPU-hours on a named device.
"""

from __future__ import annotations

from harness.errors import SpecError
from harness.experiments.suite_spec import SuiteSpec, task

#: the strategies the across-task answer compares (issue 22 item 7)
HEADLINE = ("cross_reg", "fixed", "deep_ensemble", "pbt", "grid_cv", "asha", "random",
            "hyperband", "t1t2")

# What every `small` task's searches share: a search of 8 points, 3 grid values, 3 folds.
_SMALL_BUDGET: dict = dict(
    epochs=30, pbt_population=4, pbt_interval=3, asha_samples=8, random_samples=8,
    asha_grace_period=3, grid_values=(0.03, 0.3, 1.0), cv_folds=3, ensemble_members=3,
)

SMALL = SuiteSpec(
    name="small",
    description="7 CPU tasks (MNIST-1D MLP, 1-D CNN, 1,000 rows, 20% label noise; digits 2-D "
                "CNN, learned augmentation; diabetes MLP), headline strategies, 5 seeds",
    strategies=HEADLINE, seeds=5,
    tasks=(
        task("mnist1d-noise", "mnist1d-mlp", **_SMALL_BUDGET),
        task("mnist1d-noise", "mnist1d-cnn", model="cnn", width=None, depth=None,
             **_SMALL_BUDGET),
        task("mnist1d-noise", "mnist1d-small", n_train=1000, **_SMALL_BUDGET),
        task("mnist1d-noise", "mnist1d-label-noise", label_noise=0.2, **_SMALL_BUDGET),
        task("quick", "digits-cnn", model="cnn", n_train=1000, width=None, depth=None,
             **_SMALL_BUDGET),
        task("digits-augment", "digits-augment", **_SMALL_BUDGET),
        task("lasso-diabetes", "diabetes-mlp", model="mlp", width=64, depth=2, family="noise",
             rho_init=0.1, rho_low=None, rho_high=None, lr=1e-3, **_SMALL_BUDGET),
    ),
)

PAPER = SuiteSpec(
    name="paper",
    description="the paper's settings for a GPU cluster: CIFAR-10 ResNet-18 and VGG-16 with "
                "per-layer noise, SVHN ResNet-18 with learned augmentation",
    strategies=("cross_reg", "fixed", "pbt", "grid_cv", "asha"), seeds=3,
    tasks=(
        task("cifar10-resnet18-noise"),
        task("cifar10-vgg16-noise"),
        task("svhn-augment"),
    ),
)

SUITES: dict[str, SuiteSpec] = {s.name: s for s in (SMALL, PAPER)}


def get(name: str) -> SuiteSpec:
    """The registered suite `name`; a SpecError lists the known names otherwise."""
    try:
        return SUITES[name]
    except KeyError:
        raise SpecError(f"unknown suite {name!r}; known suites: {', '.join(SUITES)}; "
                        "or give a file with --config suite.toml") from None


def names() -> list[str]:
    return list(SUITES)


__all__ = ["HEADLINE", "PAPER", "SMALL", "SUITES", "get", "names"]
