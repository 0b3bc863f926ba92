"""End to end: `kerashpo run` on digits with a real MLflow store and a real Optuna journal."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from helpers import chdir, copy_store, tracking_uri, write_pipeline
from mlflow import MlflowClient

from kerashpo.pipelines.cli import main
from kerashpo.search.leaderboard import leaderboard
from kerashpo.search.tracking import using_tracking_uri
from kerashpo.spaces.choices import Direction

TRIALS = 6


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory, empty_mlflow_db):
    directory = copy_store(empty_mlflow_db, tmp_path_factory.mktemp("digits_run"))
    config = write_pipeline(directory, name="tiny", trials=TRIALS, formats=None)  # registered too
    with chdir(directory):
        assert main(["run", str(config)]) == 0
    return directory, config


def children(client: MlflowClient, experiment: str) -> tuple[object, list]:
    exp = client.get_experiment_by_name(experiment)
    parents = client.search_runs([exp.experiment_id], "tags.`kerashpo.role` = 'search'")
    assert len(parents) == 1, "one parent run per search"
    kids = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parents[0].info.run_id}' "
                              "and tags.`kerashpo.role` = 'trial'",
                              max_results=1000)
    return parents[0], kids


def study(directory: Path, name: str) -> optuna.Study:
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(directory / "mlruns" / "optuna.journal")))
    return optuna.load_study(study_name=name, storage=storage)


def objective_of(parent) -> tuple[str, Direction]:
    """The metric a search ranked its trials by, and which way it improves (tags of its parent run)."""
    return parent.data.tags["objective"], Direction(parent.data.tags["direction"])


def test_every_trial_is_a_child_run_with_its_params_metrics_and_state(digits_run):
    directory, _ = digits_run
    client = MlflowClient(tracking_uri(directory))
    parent, kids = children(client, "tiny")
    objective, direction = objective_of(parent)
    # The default objective: continuous and free of the regularization penalty.
    assert (objective, direction) == ("val_log_loss", Direction.MINIMIZE)
    best_of = min if direction is Direction.MINIMIZE else max
    assert len(kids) == TRIALS
    states = [run.data.tags["state"] for run in kids]
    assert set(states) <= {"COMPLETE", "PRUNED", "FAILED"}
    assert "PRUNED" in states and "COMPLETE" in states
    assert sorted(int(run.data.tags["trial_number"]) for run in kids) == list(range(TRIALS))
    for run in kids:
        assert run.info.status in ("FINISHED", "FAILED")
        metrics = run.data.metrics
        for name in ("best_epoch", "epochs_run", "train_seconds", "n_params"):
            assert name in metrics, name
        assert "n_layers" in run.data.params and "learning_rate" in run.data.params
        for name in (objective, "val_accuracy"):  # every epoch's metrics, at step = epoch
            history = client.get_metric_history(run.info.run_id, name)
            assert sorted(m.step for m in history) == list(range(1, int(metrics["epochs_run"]) + 1)), name
        if run.data.tags["state"] == "COMPLETE":
            history = client.get_metric_history(run.info.run_id, objective)
            assert metrics[f"best_{objective}"] == best_of(m.value for m in history)
            assert [m.value for m in sorted(history, key=lambda m: m.step)][int(metrics["best_epoch"]) - 1] == \
                metrics[f"best_{objective}"]
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["test_accuracy"] > 0.8
    assert "MLFLOW_TRACKING_URI" not in os.environ, "a run must not leak its store into the environment"
    for tag in ("driver", "sampler", "pruner", "dataset", "config_hash", "code_version"):
        assert tag in parent.data.tags
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"config.yaml", "model_card.md", "model"} <= artifacts


def test_study_and_mlflow_agree_trial_by_trial(digits_run):
    directory, _ = digits_run
    parent, kids = children(MlflowClient(tracking_uri(directory)), "tiny")
    objective, _ = objective_of(parent)
    by_number = {int(run.data.tags["trial_number"]): run for run in kids}
    names = {"COMPLETE": "COMPLETE", "PRUNED": "PRUNED", "FAIL": "FAILED"}
    trials = study(directory, "tiny").trials
    assert len(trials) == TRIALS
    for trial in trials:
        run = by_number[trial.number]
        assert run.data.tags["state"] == names[trial.state.name]
        if trial.state.name == "COMPLETE":
            assert run.data.metrics[f"best_{objective}"] == pytest.approx(trial.value)


def test_leaderboard_agrees_with_mlflow_search_runs(digits_run, capsys):
    import mlflow

    directory, _ = digits_run
    uri = tracking_uri(directory)
    board = leaderboard(uri, "tiny")
    objective, direction = board.attrs["objective"], Direction(board.attrs["direction"])
    parent, _ = children(MlflowClient(uri), "tiny")
    assert (objective, direction) == objective_of(parent)
    # The trials, then the baseline (the linear reference model) as the last, marked row.
    assert board.iloc[-1]["state"] == "BASELINE" and pd.isna(board.iloc[-1]["trial"])
    trials = board[board["state"] != "BASELINE"]
    assert len(trials) == TRIALS
    with using_tracking_uri(uri):
        runs = mlflow.search_runs(experiment_names=["tiny"], filter_string="tags.`kerashpo.role` = 'trial'")
    runs["rank"] = runs["tags.state"].map({"COMPLETE": 0, "PRUNED": 1, "FAILED": 2})
    runs["trial"] = runs["tags.trial_number"].astype(int)
    expected = runs.sort_values(["rank", f"metrics.best_{objective}", "trial"],
                                ascending=[True, direction is Direction.MINIMIZE, True])
    assert list(trials["trial"]) == list(expected["trial"])
    assert list(trials["objective"]) == pytest.approx(list(expected[f"metrics.best_{objective}"]), nan_ok=True)
    assert list(board.columns[:6]) == ["trial", "state", "objective", "best_epoch", "epochs_run", "seconds"]
    assert "learning_rate" in board.columns
    complete = board[board["state"] == "COMPLETE"]["objective"].tolist()
    assert complete == sorted(complete, reverse=direction is Direction.MAXIMIZE) and board.loc[0, "state"] == "COMPLETE"
    assert board.loc[0, "trial"] == study(directory, "tiny").best_trial.number

    with chdir(directory):
        assert main(["leaderboard", "--format", "csv", "--top", "3"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(table["trial"]) == list(board["trial"].head(3))
    assert table.columns[2] == objective
    with chdir(directory):
        assert main(["leaderboard", "--experiment", "tiny", "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out.splitlines()
    assert markdown[0].startswith(f"| trial | state | {objective} |") and len(markdown) == len(board) + 2


def test_exported_keras_file_predicts_like_the_registered_model(digits_run, tmp_path):
    import mlflow

    directory, _ = digits_run
    exported = directory / "mlruns" / "exports" / "tiny" / "model.keras"
    assert exported.exists()
    card = (exported.parent / "model_card.md").read_text()
    x = np.asarray(__import__("sklearn.datasets").datasets.load_digits().data[:20], dtype="float32")
    np.save(tmp_path / "x.npy", x)
    script = ("import sys, numpy as np, keras; m = keras.saving.load_model(sys.argv[1]); "
              "np.save(sys.argv[3], m.predict(np.load(sys.argv[2]), verbose=0))")
    subprocess.run([sys.executable, "-c", script, str(exported), str(tmp_path / "x.npy"), str(tmp_path / "p.npy")],
                   check=True, capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    fresh = np.load(tmp_path / "p.npy")
    with using_tracking_uri(tracking_uri(directory)):
        registered = mlflow.keras.load_model("models:/tiny@champion")
        pyfunc = mlflow.pyfunc.load_model("models:/tiny@champion")
    np.testing.assert_allclose(registered.predict(x, verbose=0), fresh, rtol=1e-5, atol=1e-6)
    assert fresh.shape == (20, 10)
    # The MLflow model takes features as numpy and pandas make them (float64), by position or by name, and float32.
    from sklearn.datasets import load_digits

    names = load_digits().feature_names
    for rows in (x, x.astype("float64"), pd.DataFrame(x.astype("float64")), pd.DataFrame(x, columns=names)):
        scored = pyfunc.predict(rows)[[f"probability_{d}" for d in range(10)]].to_numpy()
        np.testing.assert_allclose(scored, fresh, rtol=1e-5, atol=1e-6)

    client = MlflowClient(tracking_uri(directory))
    parent, _ = children(client, "tiny")
    assert f"| test_accuracy | {parent.data.metrics['test_accuracy']:.6g} |" in card

    with chdir(directory):
        assert main(["export", "--to", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "model.keras").exists() and (tmp_path / "out" / "model_card.md").exists()
    with chdir(directory):
        assert main(["export", "--to", str(tmp_path / "out")]) == 2  # no silent overwrite


def test_running_the_same_command_again_resumes_the_study(digits_run):
    directory, config = digits_run
    with chdir(directory):
        assert main(["run", str(config), "--trials", str(TRIALS + 3)]) == 0
        assert main(["run", str(config), "--trials", str(TRIALS + 3)]) == 0  # budget met: adds nothing
    client = MlflowClient(tracking_uri(directory))
    _, kids = children(client, "tiny")
    numbers = [int(run.data.tags["trial_number"]) for run in kids]
    assert sorted(numbers) == list(range(TRIALS + 3))
    assert len(study(directory, "tiny").trials) == TRIALS + 3
    assert all(run.info.status != "RUNNING" for run in kids)
