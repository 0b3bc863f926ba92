"""The Keras Tuner driver, and a user's build_model(hp) under both drivers."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import chdir, kill_during_second_trial, tracking_uri, write_pipeline
from mlflow import MlflowClient

from kerashpo.pipelines.cli import main
from kerashpo.search.leaderboard import leaderboard
from kerashpo.spaces import MLP

# Verbatim from the Keras Tuner getting-started guide (one-hot labels, categorical cross-entropy).
GUIDE = textwrap.dedent('''\
    import keras
    from keras import layers


    def build_model(hp):
        model = keras.Sequential()
        model.add(layers.Flatten())
        # Tune the number of layers.
        for i in range(hp.Int("num_layers", 1, 3)):
            model.add(
                layers.Dense(
                    # Tune number of units separately.
                    units=hp.Int(f"units_{i}", min_value=32, max_value=512, step=32),
                    activation=hp.Choice("activation", ["relu", "tanh"]),
                )
            )
        if hp.Boolean("dropout"):
            model.add(layers.Dropout(rate=0.25))
        model.add(layers.Dense(10, activation="softmax"))
        learning_rate = hp.Float("lr", min_value=1e-4, max_value=1e-2, sampling="log")
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
            loss="categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model


    def uncompiled(hp):
        return keras.Sequential([layers.Dense(hp.Int("units", 4, 8)), layers.Dense(10)])


    def not_a_model(hp):
        return {"units": hp.Int("units", 4, 8)}


    NOT_CALLABLE = 3
''')


def parents_and_children(directory: Path, experiment: str) -> dict[str, list]:
    client = MlflowClient(tracking_uri(directory))
    exp = client.get_experiment_by_name(experiment)
    found = {}
    for parent in client.search_runs([exp.experiment_id], "tags.`kerashpo.role` = 'search'"):
        trials = f"tags.`mlflow.parentRunId` = '{parent.info.run_id}' and tags.`kerashpo.role` = 'trial'"
        found[parent.data.tags["kerashpo.study"]] = client.search_runs([exp.experiment_id], trials, max_results=1000)
    return found


# The leaderboard's first columns, whichever driver ran the search (test_pipeline.py checks Optuna's against MLflow).
BOARD_COLUMNS = ["trial", "state", "objective", "best_epoch", "epochs_run", "seconds", "n_params", "model_bytes",
                 "latency_ms"]


@pytest.mark.slow
@pytest.mark.parametrize("tuner", ["random", "bayesian", "hyperband", "grid"])
def test_each_tuner_tracks_like_optuna(tuner, in_run_dir):
    trials = 3 if tuner == "hyperband" else 2
    config = write_pipeline(in_run_dir, name="kt", trials=trials, max_epochs=4)
    assert main(["run", str(config), "--driver", "keras_tuner", "--tuner", tuner]) == 0
    if tuner == "random":  # the same pipeline under Optuna too: one experiment, one parent run per search
        assert main(["run", str(config), "--trials", "1"]) == 0
    runs = parents_and_children(in_run_dir, "kt")
    assert set(runs) == ({"kt", "kt-keras_tuner-random"} if tuner == "random" else {f"kt-keras_tuner-{tuner}"})
    kt_runs = runs[f"kt-keras_tuner-{tuner}"]
    assert len(kt_runs) >= trials if tuner == "hyperband" else len(kt_runs) == trials
    numbers = [int(r.data.tags["trial_number"]) for r in kt_runs]
    assert len(numbers) == len(set(numbers))
    for run in kt_runs:
        assert run.data.tags["state"] in ("COMPLETE", "FAILED") and run.info.status != "RUNNING"
        assert {"best_epoch", "epochs_run", "train_seconds", "n_params"} <= set(run.data.metrics)
        assert "n_layers" in run.data.params and not any(p.startswith("tuner/") for p in run.data.params)
    if tuner == "hyperband":
        assert all("hyperband_round" in r.data.tags for r in kt_runs)
        continued = [r for r in kt_runs if "continues_trial" in r.data.tags]
        assert all(int(r.data.tags["continues_trial"]) in numbers for r in continued)
    assert (in_run_dir / "mlruns" / "keras_tuner" / f"kt-keras_tuner-{tuner}").is_dir()
    assert not (in_run_dir / f"kt-keras_tuner-{tuner}").exists()
    if tuner == "random":
        optuna_board = leaderboard(tracking_uri(in_run_dir), "kt")  # the latest search: Optuna's
        assert len(runs["kt"]) == len(optuna_board[optuna_board["state"] != "BASELINE"]) == 1
        assert list(optuna_board.columns[:len(BOARD_COLUMNS)]) == BOARD_COLUMNS
        assert set(optuna_board.columns[len(BOARD_COLUMNS):]) <= set(MLP.space.names)
    assert main(["run", str(config), "--driver", "keras_tuner", "--tuner", tuner]) == 0  # resumes, adds nothing
    kt_board = leaderboard(tracking_uri(in_run_dir), "kt")
    # Optuna's leaderboard columns; the parameter columns are the space's (those some trial sampled).
    assert list(kt_board.columns[:len(BOARD_COLUMNS)]) == BOARD_COLUMNS
    assert set(kt_board.columns[len(BOARD_COLUMNS):]) <= set(MLP.space.names)
    # The trials, and the baseline (linear reference model) as the last, marked row, as under Optuna.
    assert list(kt_board["state"]).count("BASELINE") == 1 and kt_board.iloc[-1]["state"] == "BASELINE"
    assert sorted(kt_board["trial"].dropna()) == sorted(numbers)


@pytest.mark.slow
@pytest.mark.parametrize("driver", ["optuna", "keras_tuner"])
def test_the_guide_build_model_runs_unchanged_under_both_drivers(driver, in_run_dir):
    (in_run_dir / "guide_models.py").write_text(GUIDE)
    config = write_pipeline(in_run_dir, name="guide", trials=3, max_epochs=4, formats=None,
                            extra="build_model: guide_models:build_model\n")
    assert main(["run", str(config), "--driver", driver]) == 0
    study = "guide" if driver == "optuna" else "guide-keras_tuner-random"
    kids = parents_and_children(in_run_dir, "guide")[study]
    assert len(kids) == 3 and all(r.data.tags["state"] == "COMPLETE" for r in kids)
    for run in kids:
        params = run.data.params
        assert {"num_layers", "units_0", "activation", "dropout", "lr"} <= set(params)
        assert all(f"units_{i}" in params for i in range(int(params["num_layers"])))
    assert main(["export", "--to", str(in_run_dir / "shipped")]) == 0
    # What `kerashpo export` ships is the run's champion: both files give the same probabilities for digits.
    import keras
    from sklearn.datasets import load_digits

    rows = load_digits().data[:8].astype("float32")
    exported, shipped = (keras.saving.load_model(in_run_dir / folder / "model.keras").predict(rows, verbose=0)
                         for folder in ("mlruns/exports/guide", "shipped"))
    assert exported.shape == (8, 10)
    np.testing.assert_allclose(exported.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(shipped, exported, rtol=1e-6)


@pytest.mark.parametrize("extra, message", [
    ("build_model: nowhere_module:build_model\n", "cannot import module 'nowhere_module'"),
    ("build_model: guide_models:missing\n", "has no attribute 'missing'"),
    ("build_model: guide_models:NOT_CALLABLE\n", "is not callable"),
    ("build_model: guide_models:uncompiled\n", "returned an uncompiled model"),
    ("build_model: guide_models:not_a_model\n", "returned dict, not a keras.Model"),
    ("driver: keras_tuner\nkeras_tuner: {tuner: annealing}\n", "keras_tuner.tuner: unknown value 'annealing'"),
    ("driver: keras_tuner\nkeras_tuner: {tuner: random, max_trails: 3}\n", "unknown key 'keras_tuner.max_trails'"),
])
def test_bad_build_functions_and_tuner_options_fail_cleanly(extra, message, in_tmp, capsys):
    (in_tmp / "guide_models.py").write_text(GUIDE)
    config = write_pipeline(in_tmp, name="bad", trials=2, max_epochs=2, extra=extra)
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (in_tmp / "mlruns").exists()


def test_hyperband_needs_max_epochs(in_tmp, capsys):
    (in_tmp / "hb.yaml").write_text("name: hb\ndataset: {name: iris}\ndriver: keras_tuner\n"
                                    "keras_tuner: {tuner: hyperband}\n")
    assert main(["run", "hb.yaml"]) == 2
    err = capsys.readouterr().err.strip()
    assert "hyperband needs max_epochs" in err and len(err.splitlines()) == 1
    assert not (in_tmp / "mlruns").exists()


@pytest.mark.slow
def test_a_killed_keras_tuner_run_finishes_its_budget_without_duplicates(run_dir):
    config = write_pipeline(run_dir, name="ktkill", trials=3, max_epochs=25, patience=25,
                            extra="driver: keras_tuner\n")
    kill_during_second_trial(config, run_dir, "ktkill", total=3)
    with chdir(run_dir):  # short trials from here on: the resume is what is tested
        assert main(["run", str(config), "--max-epochs", "3"]) == 0
    kids = parents_and_children(run_dir, "ktkill")["ktkill-keras_tuner-random"]
    assert sorted(int(r.data.tags["trial_number"]) for r in kids) == [0, 1, 2]
    assert all(r.info.status == "FINISHED" and r.data.tags["state"] == "COMPLETE" for r in kids)


@pytest.mark.slow
@pytest.mark.parametrize("driver", ["optuna", "keras_tuner"])
def test_budget_timeout_stops_starting_trials_and_the_trial_in_flight_under_both_drivers(driver, in_run_dir, capsys):
    timeout, max_epochs = 5, 5000
    # No trial count: the time alone decides. No early stop: a trial would train 5,000 iris epochs (far over
    # 5 s) unless the deadline stops it.
    config = write_pipeline(in_run_dir, name="timed", dataset="iris", trials=200, max_epochs=max_epochs,
                            extra="keras_tuner: {tuner: random}\n")
    config.write_text(config.read_text().replace("trials: 200, ", "").replace(
        "patience: 3}", f"patience: {max_epochs}, timeout: {timeout}}}"))
    assert main(["run", str(config), "--driver", driver]) == 0
    client = MlflowClient(tracking_uri(in_run_dir))
    experiment = client.get_experiment_by_name("timed").experiment_id
    (parent,) = client.search_runs([experiment], "tags.`kerashpo.role` = 'search'")
    (trials,) = parents_and_children(in_run_dir, "timed").values()
    assert 1 <= len(trials) < 200
    assert all(run.info.status == "FINISHED" for run in trials)
    # No trial started once the time was up (the clock starts before the search run opens; 3 s for the
    # step from the check to the trial's run).
    late = [(r.data.tags["trial_number"], r.info.start_time - parent.info.start_time) for r in trials
            if r.info.start_time - parent.info.start_time > (timeout + 3) * 1000]
    assert not late, late
    # The trial in flight at the deadline stopped there, far short of its epochs, and counts with its best epoch.
    in_flight = max(trials, key=lambda r: r.info.start_time)
    assert in_flight.data.tags.get("stopped_by") == "budget.timeout", in_flight.data.tags
    assert in_flight.data.tags["state"] == "COMPLETE"
    assert 1 <= in_flight.data.metrics["best_epoch"] <= in_flight.data.metrics["epochs_run"] < max_epochs
    assert [r for r in trials if r.data.tags.get("stopped_by")] == [in_flight]
    # The progress display says so under that trial's line, and under no other.
    out = capsys.readouterr().out
    assert out.count("stopped in flight by budget.timeout") == 1
    trial_line = out.split("stopped in flight by budget.timeout")[0].rstrip().splitlines()[-1]
    assert f"trial {in_flight.data.tags['trial_number']} " in trial_line
