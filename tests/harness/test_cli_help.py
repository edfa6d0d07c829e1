"""What the command line says about itself: `--help` lists the exit codes and points at the
keys, `crossreg keys` lists every key `--set` and TOML accept (type, default, in `--set`'s own
syntax), `crossreg list` shows what each experiment runs, and the comparison table fits 100
columns unless `--wide`. Nothing here starts Ray."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from harness import errors
from harness.cli import help as cli_help
from harness.cli.commands import EXIT_BROKEN_PIPE, main
from harness.experiments import ExperimentSpec, field_types, overrides, registry, trial_field_names

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from fake_runs import write_experiment  # tests/analysis's run builder


def _help(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0
    return capsys.readouterr().out


def _error_classes() -> list[type[errors.HarnessError]]:
    return [c for c in vars(errors).values()
            if isinstance(c, type) and issubclass(c, errors.HarnessError)]


def test_the_listed_exit_codes_are_the_ones_main_returns():
    listed = {code for code, _ in cli_help.EXIT_CODES}
    returned = {0, EXIT_BROKEN_PIPE} | {c.exit_code for c in _error_classes()}
    assert listed == returned


@pytest.mark.parametrize("command", ["run", "sweep", "resume"])
def test_help_lists_the_exit_codes(capsys, command):
    out = _help(capsys, [command])
    section = out[out.index("exit codes:"):]
    for code, meaning in cli_help.EXIT_CODES:
        line = next(r for r in section.splitlines() if r.strip().startswith(f"{code} "))
        assert meaning.split()[0] in line, line
    assert "crossreg resume DIR" in section
    assert max(len(line) for line in section.splitlines()) <= 100
    assert ("crossreg keys" in out) == (command != "resume")  # where --set is


def test_set_help_points_at_the_keys(capsys):
    out = " ".join(_help(capsys, ["run"]).split())
    assert "--set KEY=VALUE override one experiment field (repeatable); `crossreg keys`" in out


def test_keys_lists_every_key_with_type_and_default(capsys):
    assert main(["keys"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 100
    trial_at = next(i for i, line in enumerate(lines) if line.startswith("trial "))
    assert lines[0].startswith("experiment ")
    rows = {line.split()[0]: (i, line) for i, line in enumerate(lines) if line.startswith("  ")}
    trial = set(trial_field_names())
    for key in field_types():
        i, _ = rows[key]
        assert (i > trial_at) == (key in trial), key  # grouped: experiment, then trial
    assert rows["epochs"][1].split() == ["epochs", "int", "20"]  # TrialConfig's default
    assert rows["pbt_population"][1].split() == ["pbt_population", "int", "8"]
    assert rows["rho_low"][1].split() == ["rho_low", "float", "or", "none", "none"]
    assert rows["grid_values"][1].split()[-1] == "0.01,0.1,1.0"


def test_an_experiments_keys_read_back_through_set_to_the_same_experiment(capsys):
    """Every value `crossreg keys quick` prints is in `--set`'s syntax: set back onto the
    defaults, they rebuild quick."""
    assert main(["keys", "quick"]) == 0
    out = capsys.readouterr().out
    # description: free text, cut to fit the line; data_dir (str or none): `--set` reads
    # `none` as the string there, str coming first in its type (trainables.coerce)
    keys = set(field_types()) - {"description", "data_dir"}
    sets = []
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("  ") and parts[0] in keys:
            sets.append(f"{parts[0]}={parts[-1]}")
    assert len(sets) == len(keys)
    quick = registry.get("quick")
    rebuilt = overrides.apply(ExperimentSpec(name="x"), overrides.parse_sets(sets))
    assert dataclasses.replace(rebuilt, description=quick.description) == quick


def test_keys_of_an_unknown_experiment_is_one_line(capsys):
    assert main(["keys", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'nope'" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("long", [False, True])
def test_list_shows_what_each_experiment_runs(capsys, long):
    assert main(["list", *(["--long"] if long else [])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 100
    for name, spec in registry.EXPERIMENTS.items():
        i = next(i for i, line in enumerate(lines) if line.split()[:1] == [name])
        assert lines[i].split() == [name, spec.trial.dataset, spec.trial.model, spec.trial.family,
                                    str(spec.seeds), str(spec.epochs)]
        assert lines[i + 1].split() == ["strategies:", *spec.strategies]
        assert (spec.description.split()[0] in lines[i + 2]) == long
    from harness import strategies

    for name in strategies.names():
        assert any(line.split()[:1] == [name] for line in lines), name


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory) -> str:
    exp = write_experiment(tmp_path_factory.mktemp("cli-width"),
                           strategies=("cross_reg", "fixed", "pbt", "grid_cv", "asha"))
    return str(exp.root)


def test_analyze_fits_100_columns_and_wide_shows_the_rest(capsys, fake_run):
    assert main(["analyze", fake_run, "--cost", "fwd"]) == 0
    narrow = capsys.readouterr().out
    assert max(len(line) for line in narrow.splitlines()) <= 100, narrow
    assert main(["analyze", fake_run, "--cost", "fwd", "--wide"]) == 0
    wide = capsys.readouterr().out
    header = wide.splitlines()[1]
    for column in ("acc IQM %", "NLL", "rank", "trials", "wall s", "trial s"):
        assert column in header and column not in narrow.splitlines()[1], column
    assert "fwd total" in header and "fwd total" in narrow.splitlines()[1]  # the axis's total
    assert "rank:" in wide and "rank:" not in narrow  # each legend explains what it shows


@pytest.mark.parametrize("command", ["run", "sweep", "resume", "analyze"])
def test_wide_is_a_flag_of_every_command_that_prints_the_table(command):
    from harness.cli.commands import build_parser

    argv = [command, *(["DIR"] if command in ("resume", "analyze") else []), "--wide"]
    assert build_parser().parse_args(argv).wide is True
