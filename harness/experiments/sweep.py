"""Budget sweeps: every strategy at several budgets, on the same seeds and splits, in one run.

A method is a curve, not a point: PBT at population 2, 4, 8 and 16 costs and finds
differently, and cross-reg at (r, K) = (40, 4) costs about a tenth of (1, 4). A sweep turns
each strategy of the spec into variants, one per budget point its file declares
(`Strategy.sweep_points`), named `<strategy>.<label>` (`pbt.P4`, `cross_reg.r10K4`); a variant
is the strategy run on the spec with that budget's fields changed. The runner treats variants
like strategies (one Tune experiment per variant and seed, the same completeness, resume and
accounting); metadata.json records what each variant is (`sweep`) and which cross-reg
variant is the spec's own (r, K) (`sweep_reference`), which the analysis needs for its
curves, Pareto front and cost-to-match tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness import strategies
from harness.errors import SpecError
from harness.experiments import ExperimentSpec, field_types, overrides
from harness.strategies import Strategy
from trainables.coerce import members

#: budgets of a `--smoke` sweep: two points per strategy, seconds each
SMOKE_BUDGETS: dict[str, tuple[Any, ...]] = {
    "pbt_population": (2, 3), "asha_samples": (2, 3), "random_samples": (2, 3),
    "grid_size": (2, 3), "r": (1, 4), "K": (4,),
}


def _is_text(key: str) -> bool:
    """Whether the spec declares `key` a string field (`noise_at`): its budget points are
    words, not numbers. Knobs that are no spec field (`grid_size`) are numbers."""
    hint = field_types().get(key)
    if hint is None:
        return False
    return str in members(hint)


def parse_budgets(items: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """`FIELD=V1,V2,...` items (the CLI's `--budget`) as {field: values}: numbers (whole ones
    as int), or words for a field the spec declares a string (`noise_at=after_affine,...`)."""
    out: dict[str, tuple[Any, ...]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        words = tuple(v.strip() for v in text.split(",") if v.strip())
        if not sep or not key or not words:
            raise SpecError(f"--budget {item!r}: expected FIELD=V1,V2,...")
        if _is_text(key):
            out[key] = words
            continue
        try:
            numbers = tuple(float(v) for v in words)
        except ValueError:
            raise SpecError(f"--budget {item!r}: {key} takes numbers") from None
        out[key] = tuple(int(v) if v.is_integer() else v for v in numbers)
    return out


def swept_knobs(spec: ExperimentSpec) -> set[str]:
    """The budget knobs the spec's strategies sweep (what `--budget` may name)."""
    return {k for entry in spec.strategies for k in strategies.get(entry).budget_fields}


def variants(spec: ExperimentSpec, budgets: Mapping[str, Sequence[Any]]) -> dict[str, dict[str, Any]]:
    """{variant name: {"strategy": entry, "budget": spec changes}} for every strategy of the
    spec; a strategy without sweep points is one variant at the spec's own budget."""
    known = swept_knobs(spec)
    unknown = sorted(set(budgets) - known)
    if unknown:
        raise SpecError(f"--budget {', '.join(unknown)}: no strategy of this experiment sweeps "
                        f"it (swept: {', '.join(sorted(known)) or 'nothing'})")
    out: dict[str, dict[str, Any]] = {}
    for entry in spec.strategies:
        strategy = strategies.get(entry)
        points = strategy.sweep_points(spec, budgets) if strategy.sweep_points else [("", {})]
        for label, change in points:
            name = f"{strategy.name}.{label}" if label else strategy.name
            overrides.apply(spec, change)  # a budget the spec refuses fails here, before Ray
            out[name] = {"strategy": entry, "budget": dict(change)}
    return out


def check_variants(spec: ExperimentSpec, variants: Mapping[str, Mapping[str, Any]]) -> None:
    """Variants given as they are (not from sweep points): each names a strategy and a
    budget the spec accepts; a SpecError naming the variant otherwise, before Ray starts."""
    for name, info in variants.items():
        if set(info) != {"strategy", "budget"}:
            raise SpecError(f"variant {name}: expected {{'strategy': ..., 'budget': {{...}}}}")
        strategies.get(info["strategy"])
        try:
            overrides.apply(spec, info["budget"])
        except SpecError as e:
            raise SpecError(f"variant {name}: {e}") from None


def reference(spec: ExperimentSpec, sweep: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The cross-reg variant at the spec's own budget ((r, K), and its own rho_lr, rho_init,
    noise_at where the sweep varies them): what the others are measured against."""
    own = spec.to_dict()
    for name, info in sweep.items():
        budget = info["budget"]
        if strategies.get(info["strategy"]).learns_rho and \
                all(own.get(k, v) == v for k, v in budget.items()):
            return name
    return None


def resolve(spec: ExperimentSpec, entry: str,
            sweep: Mapping[str, Mapping[str, Any]] | None) -> tuple[Strategy, ExperimentSpec]:
    """The strategy and the spec one entry of a run's plan runs: a variant's strategy under
    the variant's name, on the spec with its budget; any other entry as it is."""
    if sweep and entry in sweep:
        info = sweep[entry]
        base = strategies.get(info["strategy"])
        from dataclasses import replace

        return replace(base, name=entry), overrides.apply(spec, info["budget"])
    return strategies.get(entry), spec


__all__ = ["SMOKE_BUDGETS", "check_variants", "parse_budgets", "reference", "resolve", "swept_knobs", "variants"]
