"""The Optuna driver through the Python API: every sampler and pruner, and tracking that cannot kill a search."""

from __future__ import annotations

import dataclasses
import logging

import optuna
import pytest

from kerashpo.pipelines.config import parse_config
from kerashpo.pipelines.data.splits import data_spec, load_dataset, split_dataset
from kerashpo.search import (
    MLflowTracker,
    NullTracker,
    OptunaDriver,
    SearchInfo,
    SearchJob,
    TrainingSetup,
    TrialData,
)
from kerashpo.search.training.sources import SpaceSource
from kerashpo.spaces import MLP, Bool, Categorical, Float, Int, Preset, Space, UserError
from kerashpo.spaces.choices import Direction
from kerashpo.spaces.presets.mlp import mlp_space_for_rows

GRID_SPACE = Space([
    Int("n_layers", low=1, high=2),
    Categorical("units_1", choices=(8, 16)),
    Bool("batch_norm"),
    Float("learning_rate", low=1e-3, high=1e-1, log=True, grid=(0.01,)),
    Categorical("batch_size", choices=(64,)),
], MLP.space.vocabulary)


def job_for(tmp_path, name: str, n_trials: int, space: Space | None = None, max_epochs: int = 4,
            preset: Preset | None = None, objective: str = "val_accuracy", patience: int = 2,
            dataset: str = "iris") -> SearchJob:
    config = parse_config({"name": name, "dataset": {"name": dataset}})
    data = load_dataset(config)
    splits = split_dataset(data, 0.2, 0.2, seed=0)
    setup = TrainingSetup(TrialData(splits.x_train, splits.y_train, splits.x_val, splits.y_val,
                                    data_spec(data, splits)),
                          objective=objective, direction="minimize" if objective.endswith("loss") else "maximize",
                          max_epochs=max_epochs, patience=patience)
    if preset is None:  # the mlp space without its simple first trials: every trial is the sampler's
        preset = Preset("grid", space, MLP.build, MLP.fit_options) if space else \
            Preset("mlp", MLP.space, MLP.build, MLP.fit_options)
    return SearchJob(name=name, source=SpaceSource(preset), setup=setup, n_trials=n_trials,
                     checkpoint_dir=tmp_path / "checkpoints" / name, keep_best=2)


def journal(tmp_path) -> optuna.storages.JournalStorage:
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "study.journal")))


@pytest.mark.parametrize("sampler", ["tpe", "random", "cmaes", "gp", "grid"])
def test_each_sampler_runs_trials_into_its_storage(sampler, tmp_path):
    # The space a default run on iris searches (depth 0-2, widths 16-64), conditional widths included.
    space = GRID_SPACE if sampler == "grid" else mlp_space_for_rows(90)
    # Without the preset's fixed first trials (the linear model, a small network): every trial is the sampler's.
    preset = dataclasses.replace(MLP, space=space, starting_points=())
    driver = OptunaDriver(sampler=sampler, pruner="none", storage=str(tmp_path / "study.journal"))
    job = job_for(tmp_path, f"s-{sampler}", n_trials=2, preset=preset, max_epochs=2)
    driver.check(job)
    outcome = driver.optimize(job, NullTracker())
    assert outcome.n_complete + outcome.n_pruned + outcome.n_failed == 2
    assert outcome.best_model_path is not None and outcome.best_model_path.exists()
    # The study is in the storage as the sampler drew it: two finished trials, each a point of the space.
    trials = optuna.load_study(study_name=f"s-{sampler}", storage=journal(tmp_path)).trials
    assert len(trials) == 2 and all(t.state.is_finished() and "fixed_params" not in t.system_attrs for t in trials)
    for params in (t.params for t in trials):
        assert space["learning_rate"].low <= params["learning_rate"] <= space["learning_rate"].high
        if sampler != "grid":  # a layer's width is drawn only for the layers the trial has
            depth = params["n_layers"]
            assert {f"units_{k}" for k in range(1, 7)} & set(params) == {f"units_{k}" for k in range(1, depth + 1)}
    if sampler == "grid":
        grid = space.grid()
        points = [tuple(t.params[name] for name in grid) for t in trials]
        assert len(set(points)) == len(points), "the grid sampler never repeats a point"
        assert all(value in grid[name] for point in points for name, value in zip(grid, point))


SMALL = {"n_layers": 1, "units_1": 16, "batch_size": 64}


def good_or_bad(params: dict, spec) -> object:
    """A small MLP that learns digits ("good"), or one that cannot: confidently wrong and (almost) not learning."""
    model = MLP.build({**SMALL, "learning_rate": 0.03 if params["quality"] == "good" else 1e-9}, spec)
    if params["quality"] == "bad":
        model.get_layer("head").bias.assign([30.0] + [-30.0] * 9)
    return model


QUALITY = Preset("quality", Space([Categorical("quality", choices=("good", "bad"))]), good_or_bad)


# Good trials first, then one far worse at every epoch. Each pruner needs its evidence first: the median pruner
# waits for 5 trials; hyperband compares a trial only with those of its own bracket (a hash of the study name and
# trial number: in study "p-hyperband", trials 0 and 1 share bracket 0, whose first rung is the first epoch).
# Digits: 1,077 training rows, so an epoch is past the examples a trial must see before it is judged, and 360
# validation rows rank without waiting for more trials per rung. Steps are examples seen.
@pytest.mark.parametrize("pruner, good", [("successive_halving", 1), ("hyperband", 1), ("median", 5), ("none", 1)])
def test_each_pruner_stops_a_clearly_worse_trial_and_none_never_prunes(pruner, good, tmp_path):
    max_epochs, name = 4, f"p-{pruner}"
    study = optuna.create_study(study_name=name, storage=journal(tmp_path))
    for quality in ["good"] * good + ["bad"]:
        study.enqueue_trial({"quality": quality})
    driver = OptunaDriver(sampler="random", pruner=pruner, storage=str(tmp_path / "study.journal"))
    job = job_for(tmp_path, name, n_trials=good + 1, max_epochs=max_epochs, preset=QUALITY, objective="val_loss",
                  patience=max_epochs, dataset="digits")
    epochs = [job.setup.budget.examples(k) for k in range(1, max_epochs + 1)]
    outcome = driver.optimize(job, NullTracker())

    trials = optuna.load_study(study_name=name, storage=journal(tmp_path)).trials
    assert [t.params["quality"] for t in trials] == ["good"] * good + ["bad"]
    assert trials[0].state.name == "COMPLETE" and sorted(trials[0].intermediate_values) == epochs
    bad = trials[-1]
    # The pruner saw the bad trial's best value so far after each epoch it ran.
    assert sorted(bad.intermediate_values) == epochs[:len(bad.intermediate_values)]
    assert min(bad.intermediate_values.values()) > max(trials[0].intermediate_values.values())
    if pruner == "none":
        assert [t.state.name for t in trials] == ["COMPLETE"] * (good + 1) and outcome.n_pruned == 0
        assert len(bad.intermediate_values) == max_epochs
    else:
        assert bad.state.name == "PRUNED", bad.intermediate_values
        assert len(bad.intermediate_values) < max_epochs and outcome.n_pruned >= 1
    assert outcome.best_params == {"quality": "good"}


def test_the_presets_starting_points_report_to_the_pruner_and_are_never_pruned(tmp_path):
    # As above with successive halving, where the bad trial is pruned; here both are the preset's starting points.
    max_epochs, name = 4, "p-starting-points"
    preset = dataclasses.replace(QUALITY, starting_points=({"quality": "good"}, {"quality": "bad"}))
    driver = OptunaDriver(sampler="random", pruner="successive_halving", storage=str(tmp_path / "study.journal"))
    job = job_for(tmp_path, name, n_trials=2, max_epochs=max_epochs, preset=preset, objective="val_loss",
                  patience=max_epochs, dataset="digits")
    epochs = [job.setup.budget.examples(k) for k in range(1, max_epochs + 1)]
    outcome = driver.optimize(job, NullTracker())

    good, bad = optuna.load_study(study_name=name, storage=journal(tmp_path)).trials
    assert (good.params, bad.params) == ({"quality": "good"}, {"quality": "bad"})
    assert min(bad.intermediate_values.values()) > max(good.intermediate_values.values())
    assert bad.state.name == "COMPLETE" and sorted(bad.intermediate_values) == epochs, "a starting point was pruned"
    assert outcome.n_pruned == 0 and outcome.best_params == {"quality": "good"}


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
    job = job_for(tmp_path, "offline", n_trials=2, space=GRID_SPACE, max_epochs=2)
    with caplog.at_level(logging.WARNING, logger="kerashpo.tracking"):
        tracker.start_search(SearchInfo(study="offline", experiment="offline", objective="val_accuracy",
                                        direction=Direction.MAXIMIZE))
        outcome = driver.optimize(job, tracker)
    assert outcome.n_complete == 2
    warnings = [r.getMessage() for r in caplog.records if "tracking: could not" in r.getMessage()]
    assert warnings and "training goes on" in warnings[0]


def test_a_complete_trial_keeps_only_the_best_models(tmp_path):
    driver = OptunaDriver(sampler="random", pruner="none", storage=str(tmp_path / "study.journal"))
    job = job_for(tmp_path, "keep", n_trials=4, space=GRID_SPACE, max_epochs=2)
    outcome = driver.optimize(job, NullTracker())
    assert outcome.n_complete >= 3, "more complete trials than kept models, or nothing was dropped"
    kept = sorted((tmp_path / "checkpoints" / "keep").glob("*.keras"))
    assert len(kept) == 2
    assert outcome.best_model_path in kept
    assert outcome.best_model_path.name == f"trial-{outcome.best_number:05d}.keras"
    # The two kept are the two best (val_accuracy, maximized): no dropped trial scored higher than a kept one.
    values = {t.number: t.value for t in optuna.load_study(study_name="keep", storage=journal(tmp_path)).trials
              if t.state.name == "COMPLETE"}
    kept_numbers = {int(path.stem.removeprefix("trial-")) for path in kept}
    assert kept_numbers <= set(values)
    assert min(values[n] for n in kept_numbers) >= max(v for n, v in values.items() if n not in kept_numbers)


@pytest.mark.slow  # a whole search
def test_under_a_time_budget_the_random_start_up_follows_the_trials_the_time_allows(tmp_path):
    import datetime

    from kerashpo.search.drivers.optuna import expected_trials, sized_startup
    from kerashpo.search.training.budget import startup_trials

    start = datetime.datetime(2026, 11, 27, 12, 0, 0)
    x = optuna.distributions.FloatDistribution(0, 1)
    for timeout, expected, current in ((12.0, 6.0, "model_based"), (600.0, 300.0, "random")):
        job = dataclasses.replace(job_for(tmp_path, "timed", n_trials=100_000), timeout=timeout)
        samplers = {"model_based": optuna.samplers.TPESampler(n_startup_trials=0, seed=0),
                    "random": optuna.samplers.RandomSampler(seed=0)}
        sized = sized_startup(samplers["model_based"], samplers["random"],
                              lambda study, job=job: startup_trials(expected_trials(study, job)))
        study = optuna.create_study(sampler=sized)
        assert expected_trials(study, job) == 100_000  # nothing finished: the trial count
        for number in range(3):  # three finished trials of 2 s each
            study.add_trial(optuna.trial.FrozenTrial(
                number=number, trial_id=number, state=optuna.trial.TrialState.COMPLETE, value=float(number),
                values=None, datetime_start=start, datetime_complete=start + datetime.timedelta(seconds=2),
                params={"x": 0.1 * number}, distributions={"x": x}, user_attrs={}, system_attrs={},
                intermediate_values={}))
        assert expected_trials(study, job) == pytest.approx(expected)
        assert sized.current(study) is samplers[current], timeout
        trial = study.ask({"x": x})  # the current sampler samples the next trial
        assert 0 <= trial.params["x"] <= 1
    assert startup_trials(6) == 3 and startup_trials(300) == 10
