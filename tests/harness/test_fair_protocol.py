"""The fair comparison's harness side (issue 19): equal rows for every final model (the
`protocol`), one declared search space that every search reads, patience and cross-reg's own
settings as budget knobs.

Most checks build specs, variants and Tuners without Ray (a Tuner is captured, not fitted).
One module fixture runs `quick --smoke` with cross_reg, fixed, grid_cv, deep_ensemble and asha
under both protocols, concurrently, in one Ray session, on the real trainable: the final
models' `n_train` are read back through `analysis.load_results`.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from analysis.contract import PROTOCOLS
from harness import strategies
from harness.errors import SpecError
from harness.experiments import overrides, registry, sweep
from harness.run import runner
from harness.strategies.common import StrategyContext, final_split
from harness.strategies.grid_cv import CVGridSearcher, grid_points, grid_rho, refit_split

POOL_FREE = ("fixed", "deep_ensemble", "concrete_dropout", "trivial_augment", "grid_cv")
SEARCHES = ("pbt", "pb2", "asha", "random", "hyperband", "tpe")


# --- 1. the protocol ----------------------------------------------------------------------

def test_protocol_is_a_validated_spec_field_set_like_any_other(tmp_path):
    quick = registry.get("quick")
    assert quick.protocol == "equal_rows" == PROTOCOLS[0]
    assert quick.to_dict()["protocol"] == "equal_rows"  # metadata.json's spec holds it
    full = overrides.apply(quick, overrides.parse_sets(["protocol=full_pool"]))
    assert full.protocol == "full_pool"
    with pytest.raises(SpecError, match=r"^protocol='all': choose one of equal_rows, full_pool"):
        overrides.apply(quick, {"protocol": "all"})
    toml = tmp_path / "exp.toml"
    toml.write_text('protocol = "full_pool"\n')
    assert overrides.load_toml(toml).protocol == "full_pool"


def test_each_strategy_declares_whether_its_final_model_needs_held_out_rows():
    declared = {n for n in strategies.names() if not strategies.get(n).needs_holdout}
    assert declared == set(POOL_FREE)
    spec = registry.get("quick")
    assert final_split(spec, needs_holdout=False) == {}  # equal_rows: the training split
    assert final_split(spec.replace(protocol="full_pool"), needs_holdout=False) == \
        {"n_folds": 1, "fold": -1}
    assert final_split(spec.replace(protocol="full_pool"), needs_holdout=True) == {}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_preflight_checks_the_rows_each_final_model_trains_on(protocol):
    """The configs the preflight checks are those the builders run: the whole pool
    (fold=-1) only under full_pool and only for the strategies that need no held-out rows."""
    spec = registry.get("quick").replace(protocol=protocol)
    for name in ("cross_reg", "fixed", "deep_ensemble", "asha", "random", "t1t2"):
        configs = strategies.get(name).configs_to_check(spec)
        whole = protocol == "full_pool" and name in POOL_FREE
        assert {c.get("fold") for c in configs} == ({-1} if whole else {None}), name
    *folds, refit = strategies.get("grid_cv").configs_to_check(spec)
    assert {c["fold"] for c in folds} == {0} and {c["n_folds"] for c in folds} == {spec.cv_folds}
    assert (refit["n_folds"], refit["fold"]) == ((1, -1) if protocol == "full_pool" else (1, None))
    from trainables.check import check_config

    for config in [*folds, refit]:  # the trainables accept them
        check_config(config, files=False, device=False)


def test_grid_cv_refit_follows_the_protocol_and_survives_a_restore(tmp_path):
    spec = registry.get("quick")
    assert refit_split(spec) == {"n_folds": 1, "fold": None}  # the ordinary hold-out split
    assert refit_split(spec.replace(protocol="full_pool")) == {"n_folds": 1, "fold": -1}
    searcher = CVGridSearcher({"role": "fold"}, grid_points(spec), 2, "val_acc", "max",
                              per_layer=grid_rho(spec), refit_split=refit_split(spec))
    for i in range(len(searcher.pending)):
        searcher.suggest(f"t{i}")
    for i, (point, _fold) in enumerate(searcher.assigned.values()):
        searcher.on_trial_complete(f"t{i}", {"val_acc": 0.5 + (point[0] == 0.1) / 10})
    searcher.save(str(tmp_path / "state.json"))
    restored = CVGridSearcher({}, (), 1, "val_acc", "max", per_layer=grid_rho(spec))
    restored.restore(str(tmp_path / "state.json"))
    refit = restored.suggest("refit")
    assert refit["role"] == "refit" and refit["rho"] == 0.1
    assert (refit["n_folds"], refit["fold"]) == (1, None)


# --- 2. one declared search space ---------------------------------------------------------

def test_grid_cv_searches_per_layer_as_a_product_grid():
    spec = registry.get("quick").replace(grid_values=(0.01, 0.1, 1.0), cv_folds=2)
    assert grid_points(spec) == [(0.01,), (0.1,), (1.0,)]  # default: one shared value
    assert grid_rho(spec)((0.1,)) == 0.1
    per_layer = spec.replace(grid_per_layer=True)
    points = grid_points(per_layer)
    assert len(points) == 9 and len(set(points)) == 9
    assert {grid_rho(per_layer)(p)["sigma_1"] for p in points} == {0.01, 0.1, 1.0}
    assert grid_rho(per_layer)((0.01, 1.0)) == {"sigma_0": 0.01, "sigma_1": 1.0}
    assert strategies.get("grid_cv").expected_trials(per_layer) == 9 * 2 + 1
    fold_rhos = [c["rho"] for c in strategies.get("grid_cv").configs_to_check(per_layer)[:-1]]
    assert fold_rhos == [{"sigma_0": v, "sigma_1": v} for v in (0.01, 0.1, 1.0)]
    # a family with more names than max_searched_rhos is searched shared, the grid too
    shared = per_layer.replace(max_searched_rhos=1)
    assert grid_points(shared) == [(0.01,), (0.1,), (1.0,)]


def _domain(d: Any) -> tuple[str, float, float]:
    return type(d.get_sampler()).__name__, float(d.lower), float(d.upper)


class _CapturedTuner:
    """Stands in for `ray.tune.Tuner`: keeps what a builder passed, fits nothing."""

    def __init__(self, trainable: Any, **kwargs: Any) -> None:
        self.kwargs = kwargs


def _built(name: str, spec: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from ray import tune

    monkeypatch.setattr(tune, "Tuner", _CapturedTuner)
    strategy = strategies.get(name)
    ctx = StrategyContext(strategy=strategy, spec=spec, seed=0, storage_path="/tmp/unused",
                          trainable=lambda config: None)
    return strategy.build(ctx).kwargs  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", SEARCHES)
@pytest.mark.parametrize("per_layer", [True, False])
def test_every_sampled_search_searches_the_declared_space(name, per_layer, monkeypatch):
    if name == "tpe":
        pytest.importorskip("optuna")
    spec = registry.get("quick").replace(rho_low=0.02, rho_high=2.0,
                                         max_searched_rhos=4 if per_layer else 0)
    space = spec.search_space()
    assert space.names == (("sigma_0", "sigma_1") if per_layer else ())
    want = ("_LogUniform", 0.02, 2.0)
    built = _built(name, spec, monkeypatch)
    rho = built["param_space"]["rho"]
    if per_layer:
        assert {k: _domain(d) for k, d in rho.items()} == {n: want for n in space.names}
    else:
        assert _domain(rho) == want
    scheduler = built["tune_config"].scheduler
    if name == "pbt":  # its explore step resamples from the same space
        mutation = scheduler._hyperparam_mutations["rho"]
        got = {k: _domain(d) for k, d in mutation.items()} if per_layer else _domain(mutation)
        assert got == ({n: want for n in space.names} if per_layer else want)
    if name == "pb2":  # explores linearly inside the same bounds
        bounds = scheduler._hyperparam_bounds["rho"]
        assert bounds == ({n: [0.02, 2.0] for n in space.names} if per_layer else [0.02, 2.0])


def test_each_search_describes_its_space_in_one_line():
    spec = registry.get("mnist1d-noise").replace(grid_per_layer=True, grid_values=(0.1, 1.0))
    work = {s: (strategies.get(s), spec) for s in ("cross_reg", "fixed", "asha", "pbt", "grid_cv")}
    lines = runner.search_spaces(work)
    assert set(lines) == {"asha", "pbt", "grid_cv"}  # the single runs search nothing
    assert lines["asha"] == "rho/sigma_0, rho/sigma_1 per layer, log-uniform [0.01, 3]; 16 samples"
    assert lines["pbt"].endswith("; 8 samples")
    assert lines["grid_cv"] == ("rho/sigma_0, rho/sigma_1 per layer, grid {0.1, 1}; 4 points x 5 "
                                "folds, refit on the training split")


# --- 3. patience as a budget --------------------------------------------------------------

def test_patience_is_a_budget_knob_with_default_sweep_points():
    spec = registry.get("mnist1d-noise").replace(
        strategies=("asha", "pbt", "pb2", "tpe", "hyperband"))  # grace 2, interval 3
    v = sweep.variants(spec, {})
    assert [n for n in v if n.startswith("asha.")] == [
        "asha.N4", "asha.N8", "asha.N16", "asha.N32", "asha.grace10", "asha.grace20"]
    assert v["asha.grace10"]["budget"] == {"asha_grace_period": 10}  # at the spec's samples
    assert [n for n in v if n.startswith("pbt.")] == [
        "pbt.P2", "pbt.P4", "pbt.P8", "pbt.P16", "pbt.interval10", "pbt.interval20"]
    assert "pb2.interval20" in v and "tpe.grace20" in v  # they share the knob they use
    assert not any(n.startswith("hyperband.grace") for n in v)  # HyperBand has no grace period
    _, slow = sweep.resolve(spec, "pbt.interval20", v)
    assert slow.perturbation_interval == 20 and slow.pbt_population == spec.pbt_population

    given = sweep.variants(spec.replace(strategies=("asha", "pbt")), sweep.parse_budgets(
        ["asha_grace_period=2,10,20", "pbt_interval=3,10", "pbt_population=4"]))
    assert list(given) == ["asha.grace2", "asha.grace10", "asha.grace20",
                           "pbt.P4_interval3", "pbt.P4_interval10"]
    _, patient = sweep.resolve(spec, "asha.grace20", given)
    assert patient.grace_period == 20 and patient.asha_samples == spec.asha_samples
    with pytest.raises(SpecError, match="asha_grace_period"):
        sweep.variants(spec, {"asha_grace_period": (0,)})


# --- 4. cross-reg's own settings ----------------------------------------------------------

def test_cross_reg_settings_sweep_as_a_product_with_r_and_k():
    spec = registry.get("mnist1d-noise").replace(strategies=("cross_reg", "t1t2"))  # lr .01, s .3
    budgets = sweep.parse_budgets(["rho_lr=0.001,0.01", "rho_init=0.3,1"])
    v = sweep.variants(spec, budgets)
    assert [n for n in v if n.startswith("cross_reg.")] == [
        "cross_reg.lr0.001_s0.3", "cross_reg.lr0.001_s1", "cross_reg.lr0.01_s0.3",
        "cross_reg.lr0.01_s1"]
    assert "t1t2.lr0.001_s1" in v  # T1-T2 gets the same treatment
    assert sweep.reference(spec, v) == "cross_reg.lr0.01_s0.3"  # the spec's own settings
    _, variant = sweep.resolve(spec, "cross_reg.lr0.001_s1", v)
    assert (variant.trial.rho_lr, variant.rho_init, variant.trial.r) == (0.001, 1.0, 1)

    with_rk = sweep.variants(spec, sweep.parse_budgets(["r=1,10", "K=1", "rho_lr=0.1"]))
    names = [n for n in with_rk if n.startswith("cross_reg.")]
    assert names == ["cross_reg.r1K4_lr0.01", "cross_reg.r1K1_lr0.1", "cross_reg.r10K1_lr0.1"]
    assert sweep.reference(spec, with_rk) == "cross_reg.r1K4_lr0.01"  # own point added
    assert next(n for n in sweep.variants(spec, {}) if n.startswith("cross_reg.")) == \
        "cross_reg.r1K4"  # nothing given: the (r, K) sweep as before


def test_budgets_take_words_for_a_string_field_and_numbers_elsewhere():
    from harness.experiments import field_types

    assert sweep.parse_budgets(["rho_lr=1e-3,0.1", "r=1,10"]) == {"rho_lr": (0.001, 0.1),
                                                                   "r": (1, 10)}
    with pytest.raises(SpecError, match=r"^--budget 'rho_lr=fast': rho_lr takes numbers"):
        sweep.parse_budgets(["rho_lr=fast"])
    with pytest.raises(SpecError, match="expected FIELD=V1,V2"):
        sweep.parse_budgets(["rho_lr="])
    assert sweep.parse_budgets(["device=cpu,cuda"]) == {"device": ("cpu", "cuda")}  # a str field
    spec = registry.get("mnist1d-noise").replace(strategies=("cross_reg",))
    if "noise_at" not in field_types():  # until the trainables declare it, refused in one line
        with pytest.raises(SpecError, match="noise_at"):
            sweep.variants(spec, sweep.parse_budgets(["noise_at=after_affine,before_affine"]))
        return
    v = sweep.variants(spec, sweep.parse_budgets(["noise_at=after_affine,before_affine",
                                                  "rho_lr=0.001"]))
    assert "cross_reg.lr0.001_before" in v and "cross_reg.lr0.01_after" in v


# --- end to end: equal rows ----------------------------------------------------------------

FIVE = ("cross_reg", "fixed", "grid_cv", "deep_ensemble", "asha")


@pytest.fixture(scope="module")
def protocol_runs(ray_session, tmp_path_factory) -> dict[str, Path]:
    """`quick --smoke` with the five strategies under each protocol, both runs at once in
    this module's Ray session, on the real trainable."""
    base = registry.get("quick").replace(strategies=FIVE).smoke()

    def run(protocol: str) -> Path:
        options = runner.RunOptions(storage=str(tmp_path_factory.mktemp(protocol)), verbose=0,
                                    concurrent=True, echo=lambda s: None)
        return Path(runner.start(base.replace(protocol=protocol), options))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(PROTOCOLS, pool.map(run, PROTOCOLS)))


def _final_n_train(run: Path) -> dict[str, int]:
    import analysis

    rows = analysis.final_rows(analysis.load_results(str(run)))
    assert rows["strategy"].astype(str).value_counts().to_dict() == {s: 1 for s in FIVE}
    return {str(r.strategy): int(r.n_train) for r in rows.itertuples()}


@pytest.mark.slow
def test_every_final_model_trains_on_the_same_rows_by_default(protocol_runs):
    run = protocol_runs["equal_rows"]
    meta = json.loads((run / "metadata.json").read_text())
    assert meta["status"] == "finished" and meta["spec"]["protocol"] == "equal_rows"
    assert set(meta["search_spaces"]) == {"grid_cv", "asha"}
    n_train = _final_n_train(run)
    pool = registry.get("quick").smoke().trial.n_train
    assert set(n_train.values()) == {pool - math.floor(0.1 * pool + 0.5)}, n_train


@pytest.mark.slow
def test_full_pool_gives_the_pool_to_the_methods_that_need_no_held_out_rows(protocol_runs):
    n_train = _final_n_train(protocol_runs["full_pool"])
    equal = _final_n_train(protocol_runs["equal_rows"])
    pool = registry.get("quick").smoke().trial.n_train
    assert {s: n_train[s] for s in ("fixed", "deep_ensemble", "grid_cv")} == dict.fromkeys(
        ("fixed", "deep_ensemble", "grid_cv"), pool)
    assert {s: n_train[s] for s in ("cross_reg", "asha")} == {s: equal[s] for s in ("cross_reg", "asha")}
    assert equal["cross_reg"] < pool
