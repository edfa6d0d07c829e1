"""Budget sweeps: the variants each strategy declares, `--budget` overrides, and
`crossreg sweep quick --smoke` end to end with its curves and cost-to-match table."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from harness.errors import SpecError
from harness.experiments import registry, sweep


def test_each_strategy_declares_its_budget_points():
    spec = registry.get("mnist1d-noise").replace(
        strategies=("cross_reg", "fixed", "pbt", "grid_cv", "asha", "deep_ensemble"))
    v = sweep.variants(spec, {})
    assert [n for n in v if n.startswith("pbt.")] == ["pbt.P2", "pbt.P4", "pbt.P8", "pbt.P16",
                                                      "pbt.interval10", "pbt.interval20"]
    assert [n for n in v if n.startswith("asha.")] == ["asha.N4", "asha.N8", "asha.N16", "asha.N32",
                                                       "asha.grace10", "asha.grace20"]
    assert [n for n in v if n.startswith("cross_reg.")] == [
        "cross_reg.r1K4", "cross_reg.r4K4", "cross_reg.r10K4", "cross_reg.r10K1", "cross_reg.r40K4"]
    assert [len(v[n]["budget"]["grid_values"]) for n in v if n.startswith("grid_cv.")] == [3, 5, 9]
    assert v["fixed"] == {"strategy": "fixed", "budget": {}}
    assert sweep.reference(spec, v) == "cross_reg.r1K4"  # the spec's own (r, K)
    strategy, variant_spec = sweep.resolve(spec, "pbt.P4", v)
    assert strategy.name == "pbt.P4" and variant_spec.pbt_population == 4
    assert variant_spec.trial == spec.trial  # a budget changes nothing the trials share


def test_budget_overrides_and_their_errors():
    spec = registry.get("quick")
    v = sweep.variants(spec, sweep.parse_budgets(["pbt_population=2,6", "r=1,20"]))
    assert [n for n in v if n.startswith("pbt.")] == ["pbt.P2", "pbt.P6"]
    assert [n for n in v if n.startswith("cross_reg.")] == ["cross_reg.r1K4", "cross_reg.r20K4"]
    with pytest.raises(SpecError, match="random_samples"):  # quick does not run random search
        sweep.variants(spec, {"random_samples": (2, 4)})
    with pytest.raises(SpecError, match="pbt_population"):  # a budget the spec refuses
        sweep.variants(spec, {"pbt_population": (1,)})
    with pytest.raises(SpecError, match="--budget"):
        sweep.parse_budgets(["pbt_population=two"])


@pytest.mark.slow
def test_sweep_quick_smoke_end_to_end(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "sweep", "quick", "--smoke",
                           "--concurrent", "--storage", str(tmp_path)], check=False, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (run,) = tmp_path.glob("quick-smoke-*")
    meta = json.loads((run / "metadata.json").read_text())
    variants = set(meta["sweep"])
    assert len(variants) == 9 and meta["sweep_reference"] == "cross_reg.r1K4"
    assert set(meta["completed"]) == {f"{v}-seed0" for v in variants}

    import analysis
    from analysis.summary import cost_to_match, sweep_summary

    df = analysis.load_results(str(run))
    table = sweep_summary(df)
    assert sorted(table["strategy"].astype(str)) == sorted(variants)  # one row per budget
    ctm = cost_to_match(df)
    assert set(ctm["method"].astype(str)) == {"cross_reg", "fixed", "pbt", "grid_cv", "asha"}
    assert "cost to match" in proc.stdout and "sweep quick-smoke" in proc.stdout
