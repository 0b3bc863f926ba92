"""The Keras Tuner driver: each tuner tracked as Optuna's trials are, and its refusals. What every driver must do
(budgets, kill -9 and resume, failing user code, export) is in test_driver_contract.py."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from helpers import tracking_uri, write_pipeline
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
        assert set(optuna_board.columns[len(BOARD_COLUMNS):-1]) <= set(MLP.space.names)
        assert optuna_board.columns[-1] == "reference"  # the baselines' estimators, last
    assert main(["run", str(config), "--driver", "keras_tuner", "--tuner", tuner]) == 0  # resumes, adds nothing
    kt_board = leaderboard(tracking_uri(in_run_dir), "kt")
    # Optuna's leaderboard columns; the parameter columns are the space's (those some trial sampled).
    assert list(kt_board.columns[:len(BOARD_COLUMNS)]) == BOARD_COLUMNS
    assert set(kt_board.columns[len(BOARD_COLUMNS):-1]) <= set(MLP.space.names)
    # The trials, and the baseline (the config's linear model) as the last, marked row, as under Optuna.
    assert list(kt_board["state"]).count("BASELINE") == 1 and kt_board.iloc[-1]["state"] == "BASELINE"
    assert kt_board.iloc[-1]["reference"] == "LogisticRegression"
    assert sorted(kt_board["trial"].dropna()) == sorted(numbers)


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
