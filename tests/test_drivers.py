"""The Optuna driver through the Python API: every sampler and pruner, and tracking that cannot kill a search."""

from __future__ import annotations

import logging

import pytest

from pipelines.config import parse_config
from pipelines.data import data_spec, load_dataset, split_dataset
from search import MLflowTracker, OptunaDriver, SearchInfo, SearchJob, Tracker, TrainingSetup, TrialData
from spaces import MLP, Bool, Categorical, Float, Int, Preset, Space, UserError

GRID_SPACE = Space([
    Int("n_layers", low=1, high=2),
    Categorical("units_1", choices=(8, 16)),
    Bool("batch_norm"),
    Float("learning_rate", low=1e-3, high=1e-1, log=True, grid=(0.01,)),
    Categorical("batch_size", choices=(64,)),
], MLP.space.vocabulary)


def job_for(tmp_path, name: str, n_trials: int, space: Space | None = None, max_epochs: int = 4) -> SearchJob:
    config = parse_config({"name": name, "dataset": {"name": "iris"}})
    data = load_dataset(config)
    splits = split_dataset(data, 0.2, 0.2, seed=0)
    setup = TrainingSetup(TrialData(splits.x_train, splits.y_train, splits.x_val, splits.y_val,
                                    data_spec(data, splits)),
                          objective="val_accuracy", direction="maximize", max_epochs=max_epochs, patience=2)
    preset = Preset("grid", space, MLP.build, MLP.fit_options) if space else MLP
    return SearchJob(name=name, source=preset, setup=setup, n_trials=n_trials,
                     checkpoint_dir=tmp_path / "checkpoints" / name, keep_best=2)


@pytest.mark.parametrize("sampler", ["tpe", "random", "cmaes", "gp", "grid"])
def test_each_sampler_runs_trials_into_its_storage(sampler, tmp_path):
    space = GRID_SPACE if sampler == "grid" else None
    driver = OptunaDriver(sampler=sampler, pruner="none", storage=str(tmp_path / "study.journal"))
    job = job_for(tmp_path, f"s-{sampler}", n_trials=3, space=space)
    driver.check(job)
    outcome = driver.optimize(job, Tracker())
    assert outcome.n_complete + outcome.n_pruned + outcome.n_failed == 3
    assert outcome.best_model_path is not None and outcome.best_model_path.exists()
    assert len(list((tmp_path / "checkpoints" / f"s-{sampler}").glob("*.keras"))) <= 2  # keep_best


@pytest.mark.parametrize("pruner", ["hyperband", "successive_halving", "median", "none"])
def test_each_pruner_runs(pruner, tmp_path):
    driver = OptunaDriver(sampler="random", pruner=pruner, storage=str(tmp_path / "study.journal"))
    outcome = driver.optimize(job_for(tmp_path, f"p-{pruner}", n_trials=3), Tracker())
    assert outcome.n_complete >= 1 and outcome.n_complete + outcome.n_pruned == 3


def test_grid_sampler_refuses_a_space_without_finite_values(tmp_path):
    driver = OptunaDriver(sampler="grid", storage=str(tmp_path / "s.journal"))
    with pytest.raises(UserError, match="sampler grid: units_1: 497 grid values"):
        driver.check(job_for(tmp_path, "g", 2))
    no_float_grid = Space([Int("n_layers", low=1, high=2), Float("learning_rate", low=1e-3, high=0.1, log=True)])
    with pytest.raises(UserError, match="learning_rate: the grid sampler needs `grid: \\[values\\]`"):
        driver.check(job_for(tmp_path, "g", 2, space=no_float_grid))


def test_tracking_failures_are_reported_and_the_search_goes_on(tmp_path, caplog):
    (tmp_path / "blocked").write_text("a file where the store's folder should be")
    tracker = MLflowTracker(f"sqlite:///{tmp_path}/blocked/mlflow.db")
    driver = OptunaDriver(sampler="random", pruner="none", storage=str(tmp_path / "study.journal"))
    job = job_for(tmp_path, "offline", n_trials=2)
    with caplog.at_level(logging.WARNING, logger="kerashpo.tracking"):
        tracker.start_search(SearchInfo(study="offline", experiment="offline", objective="val_accuracy",
                                        direction="maximize"))
        outcome = driver.optimize(job, tracker)
    assert outcome.n_complete == 2
    warnings = [r.getMessage() for r in caplog.records if "tracking: could not" in r.getMessage()]
    assert warnings and "training goes on" in warnings[0]


def test_a_complete_trial_keeps_only_the_best_models(tmp_path):
    driver = OptunaDriver(sampler="random", pruner="none", storage=str(tmp_path / "study.journal"))
    job = job_for(tmp_path, "keep", n_trials=5)
    outcome = driver.optimize(job, Tracker())
    kept = sorted((tmp_path / "checkpoints" / "keep").glob("*.keras"))
    assert len(kept) == min(2, outcome.n_complete)
    assert outcome.best_model_path in kept
    assert outcome.best_model_path.name == f"trial-{outcome.best_number:05d}.keras"
