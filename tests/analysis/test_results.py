"""load_results on fixture experiments in the contract's layout, intact and damaged."""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fake_runs import trial_rows, write_experiment, write_trial

from analysis.results import ResultsWarning, load_results
from analysis.summary import summarize


def _load_quiet(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)
        return load_results(path)


def _finals(df: pd.DataFrame) -> dict[tuple[str, int], str]:
    f = df[df["final_trial"]].groupby(["strategy", "seed"], observed=True)["trial_id"].unique()
    assert all(len(v) == 1 for v in f), "one final trial per (strategy, seed)"
    return {k: str(v[0]) for k, v in f.items()}


def _trial_file(exp, strategy: str, seed: int, trial_id: str) -> Path:
    [f] = (exp.root / f"{strategy}-seed{seed}").glob(f"train_{trial_id}_*/result.json")
    return f


def test_loads_every_row_with_dtypes(experiment):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResultsWarning)  # an intact experiment loads silently
        df = load_results(experiment.root)
    n_rows = sum(len(p.read_text().splitlines()) for p in experiment.root.rglob("result.json"))
    assert len(df) == n_rows
    assert not df.duplicated(["run", "experiment", "strategy", "seed", "trial_id", "iteration"]).any()
    for c in ("run", "experiment", "dataset", "strategy", "trial_id", "role", "status"):
        assert isinstance(df[c].dtype, pd.CategoricalDtype), c
    for c in ("seed", "iteration", "epoch", "fwd_train", "fwd_reg", "fwd_eval", "fwd_test"):
        assert df[c].dtype == np.int64, c
    for c in ("val_acc", "test_acc", "test_ece", "test_nll", "train_seconds", "rho/sigma_0", "rho/sigma_1"):
        assert df[c].dtype == np.float64, c
    for c in ("final_trial", "final_epoch", "diverged", "placeholder"):
        assert df[c].dtype == bool, c
    assert df["completion"].isna().all() and df["driver_seconds"].isna().all()  # not recorded in this run
    assert not {"config", "date", "hostname", "pid", "node_ip"} & set(df.columns)
    assert set(df["strategy"].astype(str)) == {"cross_reg", "pbt", "grid_cv", "asha"}
    assert set(df["dataset"].astype(str)) == {"mnist1d"}
    assert set(df["experiment"].astype(str)) == {"quick"}
    per = df.groupby(["strategy", "seed"], observed=True)["trial_id"].nunique().to_dict()
    assert per == experiment.n_trials
    # rho of the cross_reg trial: the values the builder wrote, epoch by epoch
    cr = df[(df["strategy"] == "cross_reg") & (df["seed"] == 1)].sort_values("epoch")
    np.testing.assert_allclose(cr["rho/sigma_0"], [0.5 + 0.02 * e for e in range(experiment.epochs)])
    # grid CV labels come from the trial config: fold -1 is the refit
    g = df[df["strategy"] == "grid_cv"]
    assert set(g.loc[g["role"] == "refit", "fold"]) == {-1}
    assert df.attrs["status"] == {"quick-run": "finished"}
    assert df.attrs["metadata"]["quick-run"]["git_commit"] == "abc1234"


def test_final_flag_follows_the_contract(experiment):
    df = load_results(experiment.root)
    assert _finals(df) == experiment.expected_final
    # ASHA: the stopped trials had the best val_acc at their last epoch, yet are not final
    a = df[(df["strategy"] == "asha") & (df["seed"] == 0)]
    last = a.groupby("trial_id", observed=True).tail(1).set_index("trial_id")["val_acc"]
    assert last.idxmax() != experiment.expected_final[("asha", 0)]
    # final_trial marks every row of the final trial; final_epoch its last epoch, once per seed
    assert df[df["final_trial"]].groupby(["strategy", "seed"], observed=True).size().eq(experiment.epochs).all()
    last = df[df["final_epoch"]]
    assert len(last) == len(experiment.expected_final) and (last["epoch"] == experiment.epochs).all()
    assert not (df["final_epoch"] & ~df["final_trial"]).any()
    for (strategy, seed), tid in experiment.expected_final.items():
        row = last[(last["strategy"] == strategy) & (last["seed"] == seed)].iloc[0]
        assert row["trial_id"] == tid
        assert row["test_acc"] == experiment.final_test[(strategy, seed)]["test_acc"]


def test_local_path_and_file_uri_agree(experiment, monkeypatch):
    a = load_results(experiment.root)
    b = load_results(experiment.root.as_uri())
    assert b["run"].iloc[0] == "quick-run"
    pd.testing.assert_frame_equal(a, b)
    # A filesystem that is not the local one (as s3:// or gs:// give) takes the threaded reads.
    import pyarrow.fs as pafs

    import analysis.results as R
    from analysis.results import listing
    sub = pafs.SubTreeFileSystem(str(experiment.root.parent), pafs.LocalFileSystem())
    monkeypatch.setattr(listing, "resolve", lambda p: (sub, experiment.root.name, experiment.root.name))
    c = load_results(experiment.root)
    pd.testing.assert_frame_equal(a, c)
    assert R.read_metadata(experiment.root)["quick-run"]["status"] == "finished"


def test_several_runs_and_a_parent_folder(tmp_path):
    write_experiment(tmp_path, name="run-a", seeds=(0,), status="finished")
    write_experiment(tmp_path, name="run-b", seeds=(1,), status="running")
    write_experiment(tmp_path, name="run-c", seeds=(2,), status="interrupted")
    both = load_results([tmp_path / "run-a", tmp_path / "run-b"])
    assert both.attrs["status"] == {"run-a": "finished", "run-b": "running"}
    parent = load_results(tmp_path)
    assert parent.attrs["status"] == {"run-a": "finished", "run-b": "running", "run-c": "interrupted"}
    assert set(parent["seed"]) == {0, 1, 2}
    assert parent.groupby("run", observed=True)["status"].first().astype(str).to_dict() == parent.attrs["status"]


def test_missing_metadata_means_unknown_status_without_a_word(tmp_path):
    """A Tune experiment tree of a user's own Tuner has no metadata.json: nothing is wrong."""
    exp = write_experiment(tmp_path, seeds=(0,), status=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResultsWarning)
        df = load_results(exp.root)
    assert df.attrs["status"] == {"quick-run": "unknown"}
    assert set(df["status"].astype(str)) == {"unknown"}
    assert set(df["experiment"].astype(str)) == {"quick"}  # from the rows' label


def test_missing_path_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_results(tmp_path / "nope")


@pytest.mark.filterwarnings("ignore::analysis.results.ResultsWarning")
def test_missing_column_warns_naming_the_trial(experiment):
    f = _trial_file(experiment, "pbt", 1, "pbt1_00002")
    rows = [json.loads(line) for line in f.read_text().splitlines()]
    for r in rows:
        del r["test_ece"], r["fwd_eval"]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.warns(ResultsWarning, match=r"'test_ece' missing in trial\(s\) .*pbt1_00002") as rec:
        df = load_results(experiment.root)
    assert any("'fwd_eval'" in str(w.message) and "pbt1_00002" in str(w.message) for w in rec)
    t = df[df["trial_id"] == "pbt1_00002"]
    assert t["test_ece"].isna().all() and (t["fwd_eval"] == 0).all()
    assert df.loc[df["trial_id"] != "pbt1_00002", "test_ece"].notna().all()


@pytest.mark.filterwarnings("ignore::analysis.results.ResultsWarning")
def test_empty_trial_and_empty_strategy_are_kept(experiment):
    _trial_file(experiment, "asha", 0, "asha0_00002").write_text("")
    # every trial of cross_reg seed 2 empty: the strategy must still show up
    _trial_file(experiment, "cross_reg", 2, "cr2_00000").write_text("")
    with pytest.warns(ResultsWarning, match="asha0_00002.*empty result.json") as rec:
        df = load_results(experiment.root)
    assert any("cr2_00000" in str(w.message) and "placeholder" in str(w.message) for w in rec)
    e = df[df["placeholder"]]
    assert len(e) == 2 and set(e["strategy"].astype(str)) == {"asha", "cross_reg"}
    assert not e["final_trial"].any() and not e["final_epoch"].any()
    assert _finals(df)[("asha", 0)] == experiment.expected_final[("asha", 0)]
    assert ("cross_reg", 2) not in _finals(df)
    with pytest.warns(UserWarning, match="cross_reg: 1 of 3 seeds"):
        s = summarize(df)
    cr = s[s["strategy"] == "cross_reg"].iloc[0]
    assert cr["n_seeds"] == 3 and cr["n_final"] == 2


def test_strategy_folder_without_results_is_kept(experiment):
    for d in (experiment.root / "pbt-seed0").iterdir():
        shutil.rmtree(d)
    (experiment.root / "pbt-seed0" / "basic-variant-state.json").write_text("{}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResultsWarning)
        df = load_results(experiment.root)
    assert ((df["strategy"] == "pbt") & (df["seed"] == 0) & df["placeholder"]).sum() == 1
    # and a strategy with no result.json anywhere
    shutil.rmtree(experiment.root / "pbt-seed1")
    shutil.rmtree(experiment.root / "pbt-seed2")
    for d in (experiment.root / "pbt-seed0").iterdir():
        d.unlink()
    with pytest.warns(ResultsWarning, match="pbt-seed0 has no result.json"):
        df = load_results(experiment.root)
    assert "pbt" in set(df["strategy"].astype(str))


def test_diverged_trial_loads_with_nan_and_is_not_final(experiment):
    best = experiment.expected_final[("pbt", 0)]
    f = _trial_file(experiment, "pbt", 0, best)
    rows = [json.loads(line) for line in f.read_text().splitlines()]
    for r in rows[3:]:
        for k in ("train_loss", "val_loss", "val_acc", "test_loss", "test_acc", "test_nll"):
            r[k] = float("nan")
    rows[-1]["diverged"] = True
    text = "".join(json.dumps(r) + "\n" for r in rows)
    assert "NaN" in text  # written the way Ray writes it
    f.write_text(text)
    with pytest.warns(ResultsWarning, match=f"diverged.*{best}"):
        df = load_results(experiment.root)
    t = df[df["trial_id"] == best]
    assert len(t) == len(rows) and t["test_acc"].iloc[3:].isna().all()
    assert t["diverged"].iloc[-1]
    finals = _finals(df)
    assert finals[("pbt", 0)] != best and finals[("pbt", 0)].startswith("pbt0_")


def test_half_written_last_line(experiment):
    f = _trial_file(experiment, "cross_reg", 0, "cr0_00000")
    text = f.read_text()
    f.write_text(text + text.splitlines()[-1][:57])  # killed mid-write
    with pytest.warns(ResultsWarning, match="cr0_00000.*half-written last line"):
        df = load_results(experiment.root)
    assert (df["trial_id"] == "cr0_00000").sum() == experiment.epochs


def test_repeated_iterations_are_kept_without_a_word(tmp_path):
    """A PBT member that exploits another's checkpoint reports iterations again: normal."""
    exp = write_experiment(tmp_path, seeds=(0,), pbt_clone=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResultsWarning)
        df = load_results(exp.root)
    t = df[df["trial_id"] == "pbt0_00000"]
    assert t["iteration"].duplicated().sum() == 2  # iterations 3 and 4 came twice
    assert len(t) == 4 + exp.epochs - 2
    assert _finals(df) == exp.expected_final


def test_trial_id_falls_back_to_folder_and_regression_uses_val_loss(tmp_path):
    run = tmp_path / "reg-run"
    run.mkdir()
    (run / "metadata.json").write_text(json.dumps({"status": "running", "experiment": "ridge"}))
    for i, q in enumerate([0.6, 0.9, 0.7]):
        rows = trial_rows(trial_id=f"t{i}", strategy="asha", seed=0, epochs=3, quality=q,
                          role="member", config={"dataset": "diabetes"})
        for r in rows:
            del r["trial_id"]
            r["val_acc"] = r["test_acc"] = r["test_ece"] = float("nan")
        write_trial(run / "asha-seed0", f"trial_{i}", rows)
    df = _load_quiet(run)
    assert set(df["trial_id"].astype(str)) == {"trial_0", "trial_1", "trial_2"}
    assert _finals(df) == {("asha", 0): "trial_1"}  # lowest val_loss
    assert df.attrs["status"] == {"reg-run": "running"}


def test_grid_cv_without_refit_has_no_final(tmp_path):
    exp = write_experiment(tmp_path, seeds=(0,), strategies=("grid_cv", "cross_reg"))
    shutil.rmtree(_trial_file(exp, "grid_cv", 0, "gcv0_00004").parent)
    with pytest.warns(ResultsWarning, match="grid_cv-seed0: grid CV without a refit"):
        df = load_results(exp.root)
    assert not df.loc[df["strategy"] == "grid_cv", "final_trial"].any()
    with pytest.warns(UserWarning):
        s = summarize(df)
    g = s[s["strategy"] == "grid_cv"].iloc[0]
    assert math.isnan(g["test_acc_mean"]) and g["fwd_total"] > 0


def test_fast_reader_equals_the_line_by_line_reader(tmp_path, monkeypatch):
    # The pyarrow path and Python's json path must give the same frame, damage included.
    exp = write_experiment(tmp_path, seeds=(0, 1), pbt_clone=True)
    f = _trial_file(exp, "asha", 1, "asha1_00000")
    rows = [json.loads(line) for line in f.read_text().splitlines()]
    rows[2]["test_loss"] = float("inf")
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fast = _load_quiet(exp.root)
    from analysis.results import parse
    monkeypatch.setattr(parse, "infer_schema", lambda trials: None)
    slow = _load_quiet(exp.root)
    pd.testing.assert_frame_equal(fast, slow, check_like=True)
    assert fast.attrs["warnings"] == slow.attrs["warnings"]


def test_corrupt_middle_line_and_changing_types(experiment, monkeypatch):
    from analysis.results import parse
    slow_reads: list[str] = []
    real_slow = parse.read_slow
    monkeypatch.setattr(parse, "read_slow", lambda t, warn: slow_reads.append(t.display) or real_slow(t, warn))
    f = _trial_file(experiment, "asha", 2, "asha2_00001")
    lines = f.read_text().splitlines()
    lines[2] = lines[2][:40] + "###" + lines[2][40:]
    f.write_text("\n".join(lines) + "\n")
    # a config whose rho is a dict in one strategy and a number in another, and a label
    # written as a number: neither may stop the read
    g = _trial_file(experiment, "cross_reg", 0, "cr0_00000")
    rows = [json.loads(line) for line in g.read_text().splitlines()]
    for r in rows:
        r["config"]["rho"] = {"sigma_0": 0.5, "sigma_1": 0.1}
    g.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.warns(ResultsWarning, match="asha2_00001.*unreadable line 3"):
        df = load_results(experiment.root)
    assert len(slow_reads) == 1 and "asha2_00001" in slow_reads[0]  # only the damaged trial left the fast path
    assert (df["trial_id"] == "asha2_00001").sum() == experiment.epochs - 1
    assert (df["trial_id"] == "cr0_00000").sum() == experiment.epochs
    assert _finals(df) == experiment.expected_final


def test_final_model_needs_all_the_specs_epochs_and_says_when_none_ran_them(tmp_path):
    """An interrupted run: the spec asks for more epochs than any trial ran. The furthest-
    trained trial stands in, with a warning naming the strategy, instead of passing silently."""
    exp = write_experiment(tmp_path, strategies=("cross_reg", "asha"), seeds=(0,), epochs=6,
                           status="interrupted")
    meta_path = exp.root / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["spec"]["epochs"] = 10
    meta_path.write_text(json.dumps(meta))
    with pytest.warns(ResultsWarning, match="cross_reg-seed0: no trial ran all 10 epochs"):
        df = load_results(exp.root)
    assert df.loc[df["strategy"] == "cross_reg", "final_trial"].any()

    meta["spec"]["epochs"] = 6  # the finished run: ASHA's stopped trials are no candidates
    meta_path.write_text(json.dumps(meta))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResultsWarning)
        df = load_results(exp.root)
    final_asha = df[(df["strategy"] == "asha") & df["final_trial"]]
    assert final_asha["epoch"].max() == 6
