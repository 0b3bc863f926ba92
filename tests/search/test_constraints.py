"""Constraints (`constraints: {n_params: {max: N}, ...}`): infeasible trials are recorded, never the champion.

The digits searches use a space from the linear model (650 parameters) to two hidden layers of up to 64 units
(about 9,000): a 2,000-parameter limit removes part of it, and the sampler cannot avoid drawing some of that part.
"""

from __future__ import annotations

import json
import math
import textwrap

import keras
import optuna
import pytest
from helpers import tracking_uri
from mlflow import MlflowClient

from kerashpo.pipelines.cli import main
from kerashpo.search.leaderboard import leaderboard
from kerashpo.search.results import TrialResult
from kerashpo.search.selection.constraints import Constraint, judge
from kerashpo.spaces.choices import TrialState

SPACE = textwrap.dedent("""\
    extends: mlp
    params:
      n_layers: {type: int, low: 0, high: 2}
      units_*: {type: int, low: 16, high: 64, log: true}
      batch_size: [128]
""")
LIMIT = 2000


def _config(directory, name: str, driver: str, trials: int) -> str:
    (directory / "space.yaml").write_text(SPACE)
    (directory / f"{name}.yaml").write_text(textwrap.dedent(f"""\
        name: {name}
        dataset: {{name: digits}}
        space: space.yaml
        driver: {driver}
        optuna: {{sampler: tpe, pruner: none}}
        keras_tuner: {{tuner: random}}
        budget: {{trials: {trials}, max_epochs: 2, patience: 2}}
        constraints: {{n_params: {{max: {LIMIT}}}, latency_ms: {{max: 10000}}}}
        seed: 5
        report: false
        export: {{formats: [keras]}}
    """))
    return f"{name}.yaml"


def test_a_violation_is_how_far_outside_its_bounds_and_a_missing_value_breaks_it():
    size = Constraint("n_params", max=1000)
    band = Constraint("val_accuracy", min=0.9, max=0.99)
    assert size.violation(400) == 0 and size.violation(1500) == 500 and size.violation(None) == math.inf
    assert band.violation(0.95) == 0 and band.violation(0.85) == pytest.approx(0.05)
    result = TrialResult(TrialState.COMPLETE, value=0.3, best_epoch=2, n_params=1500,
                         history={"val_accuracy": [0.8, 0.95, 0.97]})
    judge((size, band), result)
    assert result.violations == (500, 0) and result.infeasible == "n_params 1500 > max 1000"


@pytest.mark.slow
def test_a_constrained_search_refuses_models_over_the_parameter_limit_before_training_and_ships_one_under_it(
        in_run_dir):
    assert main(["run", _config(in_run_dir, "small", "optuna", trials=8)]) == 0

    board = leaderboard(tracking_uri(in_run_dir), experiment="small")
    trials = board[board["state"] != "BASELINE"]
    over = trials[trials["n_params"] > LIMIT]
    assert len(over) >= 1, "the sampler drew no model over the limit: the test shows nothing"
    # Recorded, not hidden: built, counted and stopped before the first epoch, with the reason.
    assert set(over["state"]) == {"PRUNED"} and set(over["epochs_run"]) == {0}
    assert all(reason.startswith(f"refused before training: n_params {n} > max {LIMIT}")
               for reason, n in zip(over["infeasible"], over["n_params"]))
    under = trials[trials["n_params"] <= LIMIT]
    assert (under["infeasible"] == "").all() and (under["state"] == "COMPLETE").any()
    assert (under.loc[under["state"] == "COMPLETE", "latency_ms"] > 0).all()
    assert board.iloc[0]["n_params"] <= LIMIT  # the champion row
    # TPE read the violations Optuna's constraints_func returned: positive for the refused trials only.
    study = optuna.load_study(study_name="small", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(in_run_dir / "mlruns" / "optuna.journal"))))
    refused = {int(n) for n in over["trial"]}
    for trial in study.trials:
        if trial.state.name in ("COMPLETE", "PRUNED"):
            assert (trial.system_attrs["constraints"][0] > 0) == (trial.number in refused)
    shipped = keras.saving.load_model(in_run_dir / "mlruns" / "exports" / "small" / "model.keras")
    assert shipped.count_params() <= LIMIT


@pytest.mark.slow
def test_keras_tuner_records_the_same_trials_as_failed_with_the_reason(in_run_dir):
    assert main(["run", _config(in_run_dir, "small-kt", "keras_tuner", trials=5)]) == 0

    client = MlflowClient(tracking_uri(in_run_dir))
    runs = client.search_runs([client.get_experiment_by_name("small-kt").experiment_id],
                              "tags.`kerashpo.role` = 'trial'")
    refused = {int(r.data.tags["trial_number"]) for r in runs if "infeasible" in r.data.tags}
    assert refused, "the tuner drew no model over the limit: the test shows nothing"
    # Keras Tuner's own record of its trials (its oracle has no constraints): those failed, with the reason.
    project = in_run_dir / "mlruns" / "keras_tuner" / "small-kt-keras_tuner-random"
    trials = [json.loads(path.read_text()) for path in project.glob("trial_*/trial.json")]
    failed = {int(t["trial_id"]): t["message"] for t in trials if t["status"] == "FAILED"}
    assert set(failed) == refused and len(trials) == 5
    assert all("infeasible: refused before training: n_params" in message for message in failed.values())


@pytest.mark.slow
def test_a_search_where_no_trial_meets_the_constraints_exports_nothing_and_says_so(in_run_dir, capsys):
    (in_run_dir / "never.yaml").write_text(textwrap.dedent("""\
        name: never
        dataset: {name: iris}
        optuna: {sampler: random, pruner: none}
        budget: {trials: 2, max_epochs: 1}
        constraints: {val_accuracy: {min: 1.01}}
        report: false
        export: {formats: [keras]}
    """))
    assert main(["run", "never.yaml"]) == 1
    out = capsys.readouterr().out
    assert "(2 infeasible)" in out and "no trial met the constraints; nothing to export" in out
    assert not (in_run_dir / "mlruns" / "exports" / "never").exists()
    board = leaderboard(tracking_uri(in_run_dir), experiment="never")
    assert list(board["state"][:2]) == ["COMPLETE", "COMPLETE"]
    assert all(reason.startswith("val_accuracy ") and reason.endswith("< min 1.01")
               for reason in board["infeasible"][:2])
