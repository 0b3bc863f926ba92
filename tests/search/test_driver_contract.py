"""The driver contract: every check runs against every driver, as scikit-learn's common checks run against every
estimator. A driver joins with one entry in ``DRIVERS`` and gets every check.

What the drivers may differ in is declared there as capabilities, and checked both ways: a driver that prunes must
end a clearly worse trial PRUNED, one that does not must train it to its own stop (and never call it pruned); a
driver that shares a study between worker processes must finish the budget with both, one that cannot must refuse
``workers: 2`` in one line before anything is written.

Everything is real: Keras training on scikit-learn's bundled datasets, the MLflow store and the driver's own
storage (an Optuna journal, a Keras Tuner project), processes killed with SIGKILL. The searches are tiny (a few
trials of a few epochs on iris or digits); the failing-user-code, budget and export checks read one search per
driver (``contract_search``). A known bug is a strict xfail on its driver's parameter: it fails once fixed.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from helpers import SMALL_SPACE, chdir, copy_store, exit_code, kill_during_second_trial, tracking_uri
from mlflow import MlflowClient
from test_drivers import QUALITY, job_for
from test_keras_tuner import GUIDE

from kerashpo.pipelines.cli import main
from kerashpo.search.protocols import SearchDriver
from kerashpo.search.tracking import NullTracker


def _optuna(directory: Path) -> Any:
    from kerashpo.search.drivers.optuna import OptunaDriver

    return OptunaDriver(sampler="random", pruner="successive_halving", storage=str(directory / "optuna.journal"))


def _keras_tuner(directory: Path) -> Any:
    from kerashpo.search.drivers.keras_tuner import KerasTunerDriver

    return KerasTunerDriver("random", directory / "keras_tuner")


@dataclass(frozen=True)
class DriverCase:
    """One driver as the contract sees it: how the Python API makes it, how a config names it, what it can do."""

    name: str  # the config's `driver:` word
    make: Callable[[Path], Any]  # the driver object (its pruner on, if it has one), its storage under the folder
    options: dict[str, Any]  # its config section for the searches: seeded choices, no pruner (trials run whole)
    prunes: bool  # a clearly worse trial is stopped by its pruner and ends PRUNED
    workers_refused: str | None = None  # None: worker processes share one study; else the line refusing them

    def __str__(self) -> str:
        return self.name


DRIVERS = (
    DriverCase("optuna", _optuna, {"optuna": {"sampler": "random", "pruner": "none"}}, prunes=True),
    # Keras Tuner's oracles take no intermediate values (its hyperband tuner cuts by rounds instead), and an
    # oracle keeps its state in one process.
    DriverCase("keras_tuner", _keras_tuner, {"keras_tuner": {"tuner": "random"}}, prunes=False,
               workers_refused="workers > 1 needs driver optuna: Keras Tuner's oracle keeps its state in one process"),
)
each_driver = pytest.mark.parametrize("case", DRIVERS, ids=str)

FINISHED_STATES = ("COMPLETE", "PRUNED", "FAILED")


def write_config(directory: Path, case: DriverCase, name: str, *, dataset: str = "iris", trials: int | None = 3,
                 max_epochs: int = 3, patience: int = 3, **sections: Any) -> Path:
    """A pipeline config on the small space for ``case``'s driver, shipping the ``.keras`` file alone. ``sections``
    are merged into the document's sections; ``export`` replaces its section whole (the default formats then)."""
    (directory / "small_space.yaml").write_text(SMALL_SPACE)
    budget = {"trials": trials, "max_epochs": max_epochs, "patience": patience} if trials else \
        {"max_epochs": max_epochs, "patience": patience}
    document: dict[str, Any] = {
        "name": name, "dataset": {"name": dataset}, "space": "small_space.yaml", "driver": case.name,
        **copy.deepcopy(case.options), "budget": budget, "seed": 7, "report": False,
        "export": {"formats": ["keras"], "ensemble": 0},
    }
    for key, value in sections.items():
        document[key] = value if key == "export" or not isinstance(document.get(key), dict) else \
            {**document[key], **value}
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def trial_runs(directory: Path, experiment: str) -> list:
    client = MlflowClient(tracking_uri(directory))
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    return client.search_runs([experiment_id], "tags.`kerashpo.role` = 'trial'", max_results=1000)


def search_runs(directory: Path, experiment: str) -> list:
    client = MlflowClient(tracking_uri(directory))
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    return client.search_runs([experiment_id], "tags.`kerashpo.role` = 'search'", order_by=["attributes.start_time"])


def numbers(runs: list) -> list[int]:
    return sorted(int(r.data.tags["trial_number"]) for r in runs)


def assert_closed_and_unique(runs: list) -> None:
    """No trial run left RUNNING, each finished in a trial state, one run per trial number."""
    assert not [r.data.tags["trial_number"] for r in runs if r.info.status == "RUNNING"]
    assert all(r.data.tags["state"] in FINISHED_STATES for r in runs), [r.data.tags["state"] for r in runs]
    assert len(set(numbers(runs))) == len(runs), numbers(runs)


# -- the interface ----------------------------------------------------------------------------------------------------

@each_driver
def test_the_driver_offers_the_search_driver_protocol_under_its_config_word(case, tmp_path):
    driver = case.make(tmp_path)
    methods = [name for name, member in vars(SearchDriver).items() if callable(member) and not name.startswith("_")]
    assert {"describe", "study_name", "check", "optimize"} <= set(methods)
    for name in methods:  # the same parameters, by name and kind, as the protocol declares
        declared = list(inspect.signature(getattr(SearchDriver, name)).parameters.values())[1:]
        offered = list(inspect.signature(getattr(driver, name)).parameters.values())
        assert [(p.name, p.kind) for p in offered] == [(p.name, p.kind) for p in declared], name
    assert driver.name == case.name and driver.describe()["driver"] == case.name
    assert "digits" in driver.study_name("digits")


# -- one search per driver: the user's code fails some trials; the budget, the resume and the export --------------

# The user's code: the Keras Tuner guide's build_model, unchanged, in a HyperModel whose build raises for one value
# of a parameter of its own and whose fit raises for the guide's deepest networks.
FLAKY = GUIDE + textwrap.dedent('''\
    import keras_tuner


    class Flaky(keras_tuner.HyperModel):
        def build(self, hp):
            if hp.Choice("kernel", ["dense", "exotic"]) == "exotic":
                raise RuntimeError("no exotic kernel on this machine")
            return build_model(hp)

        def fit(self, hp, model, *args, **kwargs):
            if hp.get("num_layers") == 3:
                raise RuntimeError("out of memory")
            return model.fit(*args, **kwargs)
''')
SEARCHED, RESUMED = 5, 6  # trials of the first run, then the budget of the same command run again
# Under this seed both drivers' random choices draw a trial of each kind (its build fails, its fit fails, it
# completes), and the first three do not all fail alike (which would stop the search: test_hypermodels.py).
SEED = 11


@dataclass
class ContractSearch:
    case: DriverCase
    directory: Path
    first: list  # the trial runs after the first run
    runs: list  # the trial runs after the second


@pytest.fixture(scope="module", params=DRIVERS, ids=str)
def contract_search(request, tmp_path_factory, empty_mlflow_db) -> ContractSearch:
    """Searches digits with the user's flaky code, then runs the same command with a budget one larger."""
    case = request.param
    directory = copy_store(empty_mlflow_db, tmp_path_factory.mktemp(f"contract-{case.name}"))
    (directory / "flaky_models.py").write_text(FLAKY)
    # Shipped in every format (the .keras file, a SavedModel, the MLflow model, registered).
    config = write_config(directory, case, "flaky", dataset="digits", trials=SEARCHED, max_epochs=2, patience=2,
                          build_model="flaky_models:Flaky", baseline=False, seed=SEED, export={"ensemble": 0})
    with chdir(directory):
        assert main(["run", str(config)]) == 0
        first = trial_runs(directory, "flaky")
        assert main(["run", str(config), "--trials", str(RESUMED)]) == 0
    return ContractSearch(case, directory, first, trial_runs(directory, "flaky"))


def test_a_trial_budget_runs_that_many_trials_and_a_larger_one_adds_the_difference(contract_search):
    first, runs = contract_search.first, contract_search.runs
    assert numbers(first) == list(range(SEARCHED))
    assert_closed_and_unique(first)
    # Run again with a budget one larger: one trial more, numbered next, and the earlier runs left as they were.
    assert numbers(runs) == list(range(RESUMED))
    assert_closed_and_unique(runs)
    before = {r.info.run_id: (r.data.tags["state"], r.info.status) for r in first}
    assert {r.info.run_id: (r.data.tags["state"], r.info.status) for r in runs if r.info.run_id in before} == before
    # One search, resumed: its run was reopened and closed again.
    assert [p.info.status for p in search_runs(contract_search.directory, "flaky")] == ["FINISHED"]


def test_an_exception_in_user_code_fails_that_trial_never_the_search(contract_search):
    runs = contract_search.runs
    build, fit, complete = [], [], []
    for run in runs:
        params, tags = run.data.params, run.data.tags
        if params["kernel"] == "exotic":  # the build raised: nothing trained, the trial failed with the reason
            assert tags["state"] == "FAILED" and run.info.status == "FAILED", params
            assert "RuntimeError: no exotic kernel on this machine" in tags["error"]
            build.append(run)
        elif params["num_layers"] == "3":  # the fit raised
            assert tags["state"] == "FAILED" and "RuntimeError: out of memory" in tags["error"], params
            fit.append(run)
        else:
            assert tags["state"] == "COMPLETE" and run.info.status == "FINISHED", tags.get("error")
            complete.append(run)
    # The seeded samplers drew each kind: the checks above are not vacuous. The searches finished (the fixture's
    # runs returned 0) and shipped a model trained on a trial that completed.
    assert build and fit and complete, (len(build), len(fit), len(complete))
    parent = search_runs(contract_search.directory, "flaky")[-1]
    assert parent.data.tags["best_trial"] in {r.data.tags["trial_number"] for r in complete}


def test_the_champion_exports_and_predicts(contract_search, tmp_path):
    import keras
    from sklearn.datasets import load_digits

    directory, runs = contract_search.directory, contract_search.runs
    parent = search_runs(directory, "flaky")[-1]
    objective = parent.data.tags["objective"]
    complete = [r for r in runs if r.data.tags["state"] == "COMPLETE"]
    best = (min if parent.data.tags["direction"] == "minimize" else max)(
        complete, key=lambda r: r.data.metrics[f"best_{objective}"])
    assert parent.data.tags["best_trial"] == best.data.tags["trial_number"]
    # The guide's own parameters are the trial's, as its build_model drew them.
    params = best.data.params
    assert {"num_layers", "units_0", "activation", "dropout", "lr"} <= set(params)
    assert {f"units_{i}" for i in range(int(params["num_layers"]))} <= set(params)

    rows = load_digits().data[:16].astype("float32")
    exported = directory / "mlruns" / "exports" / "flaky" / "model.keras"
    predictions = keras.saving.load_model(exported).predict(rows, verbose=0)
    assert predictions.shape == (16, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)
    # What shipped is the champion's own model: its checkpoint predicts the same.
    number = int(best.data.tags["trial_number"])
    (checkpoint,) = (directory / "mlruns" / "checkpoints").glob(f"*/trial-{number:05d}.keras")
    np.testing.assert_allclose(keras.saving.load_model(checkpoint).predict(rows, verbose=0), predictions, rtol=1e-5,
                               atol=1e-6)
    assert parent.data.metrics["test_accuracy"] > 0.5
    assert (exported.parent / "saved_model").is_dir()
    # `kerashpo export` ships the registered champion: the same model.
    with chdir(directory):
        assert main(["export", "--to", str(tmp_path / "shipped")]) == 0
    shipped = keras.saving.load_model(tmp_path / "shipped" / "model.keras").predict(rows, verbose=0)
    np.testing.assert_allclose(shipped, predictions, rtol=1e-6)


# -- pruning ------------------------------------------------------------------------------------------------------

class RecordingTracker(NullTracker):
    """Keeps each trial's result as the driver ended it (the search records nothing else)."""

    def __init__(self) -> None:
        self.results: dict[int, Any] = {}

    def end_trial(self, number: int, result: Any) -> None:
        self.results[number] = result


# The good configuration first (drivers that take a preset's starting points try them first, and never prune
# them); a second trial samples the other.
GOOD_FIRST = dataclasses.replace(QUALITY, starting_points=({"quality": "good"},))


@each_driver
def test_a_clearly_worse_trial_is_pruned_where_the_driver_prunes(case, tmp_path):
    max_epochs = 4
    job = job_for(tmp_path, f"prune-{case.name}", n_trials=2, max_epochs=max_epochs, preset=GOOD_FIRST,
                  objective="val_loss", patience=max_epochs, dataset="digits")
    tracker = RecordingTracker()
    outcome = case.make(tmp_path).optimize(job, tracker)

    by_quality = {result.params["quality"]: result for result in tracker.results.values()}
    assert set(by_quality) == {"good", "bad"}, "a search of two trials tries both configurations"
    good, bad = by_quality["good"], by_quality["bad"]
    assert good.state == "COMPLETE" and good.epochs_run == max_epochs
    assert min(bad.history["val_loss"]) > max(good.history["val_loss"])  # worse at every epoch it ran
    if case.prunes:
        assert bad.state == "PRUNED" and bad.epochs_run < max_epochs, (bad.state, bad.epochs_run)
        assert outcome.n_pruned == 1
    else:  # no pruner: the bad trial trains to its own stop, and is never reported pruned
        assert bad.state == "COMPLETE" and bad.epochs_run == max_epochs, (bad.state, bad.epochs_run)
        assert outcome.n_pruned == 0
    assert outcome.best_params == {"quality": "good"} and outcome.n_complete + outcome.n_pruned == 2


# -- a search continued by another process -------------------------------------------------------------------------

# A fresh process (a resumed run, a hand-over, a second worker) makes its driver anew, on the same storage.
@each_driver
def test_a_search_continued_by_a_new_driver_samples_configurations_it_has_not_tried(case, tmp_path):
    job = job_for(tmp_path, f"continued-{case.name}", n_trials=1, max_epochs=1, patience=1)
    tracker = RecordingTracker()
    case.make(tmp_path).optimize(job, tracker)
    job.n_trials = 2
    case.make(tmp_path).optimize(job, tracker)  # as a fresh process would: a new driver on the same storage
    assert sorted(tracker.results) == [0, 1]
    first, second = (tracker.results[n].params for n in (0, 1))
    assert first != second, f"trial 1 trained trial 0's configuration again: {first}"


@each_driver
def test_a_new_search_tries_the_presets_first_trials_in_order_and_a_resumed_one_does_not_repeat_them(case, tmp_path):
    from kerashpo.spaces.presets.mlp import MLP, mlp_space_for_rows

    preset = dataclasses.replace(MLP, space=mlp_space_for_rows(90))  # as sized for iris; its first trials kept
    job = job_for(tmp_path, f"first-{case.name}", n_trials=2, preset=preset, max_epochs=2)
    tracker = RecordingTracker()
    case.make(tmp_path).optimize(job, tracker)
    linear, small = (tracker.results[n].params for n in (0, 1))
    assert (linear["n_layers"], small["n_layers"]) == (0, 1)
    assert linear["l2_enabled"] and "units_1" not in linear and small["units_1"] == 64  # depth 0: a linear model
    job.n_trials = 4
    case.make(tmp_path).optimize(job, tracker)
    assert sorted(tracker.results) == [0, 1, 2, 3]
    later = [tracker.results[n].params for n in (2, 3)]
    assert linear not in later and small not in later, "the resumed search tried a starting point again"


# -- budgets in time, kill -9, fresh processes, workers -------------------------------------------------------------

@pytest.mark.slow
@each_driver
def test_budget_timeout_stops_starting_trials_and_the_trial_in_flight(case, in_run_dir, capsys):
    timeout, max_epochs = 5, 5000
    # No trial count: the time alone decides. No early stop: a trial would train 5,000 iris epochs (far over
    # 5 s) unless the deadline stops it.
    config = write_config(in_run_dir, case, "timed", trials=None, max_epochs=max_epochs, patience=max_epochs,
                          budget={"timeout": timeout})
    assert main(["run", str(config)]) == 0
    (parent,) = search_runs(in_run_dir, "timed")
    trials = trial_runs(in_run_dir, "timed")
    assert 1 <= len(trials) < 200
    assert all(run.info.status == "FINISHED" for run in trials)
    assert_closed_and_unique(trials)
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


@pytest.mark.slow
@each_driver
def test_a_run_killed_with_sigkill_resumes_losing_and_duplicating_nothing(case, run_dir):
    # Long trials (no pruning, no early stop) so the kill lands inside the second one.
    config = write_config(run_dir, case, "killed", dataset="digits", trials=3, max_epochs=25, patience=25)
    kill_during_second_trial(config, run_dir, "killed", total=3)
    (killed,) = [r for r in trial_runs(run_dir, "killed") if r.data.tags["trial_number"] == "1"]
    assert killed.info.status == "RUNNING"  # what the kill left: the resume must close it

    with chdir(run_dir):  # short trials from here on: the resume is what is tested
        assert main(["run", str(config), "--max-epochs", "3"]) == 0
    runs = trial_runs(run_dir, "killed")
    assert_closed_and_unique(runs)
    # The budget: three trials count; the killed one is either trained again under its number or closed FAILED
    # and retried under a new one (then it is the one run beyond the budget).
    counted = [r for r in runs if r.data.tags["state"] == "COMPLETE"]
    assert len(counted) == 3 and len(runs) <= 4, [(r.data.tags["trial_number"], r.data.tags["state"]) for r in runs]
    extra = [r for r in runs if r not in counted]
    assert all(r.data.tags["trial_number"] == "1" and r.info.status == "FAILED" for r in extra)
    # Nothing lost: the configuration the kill interrupted was trained to the end.
    assert any(r.data.params == killed.data.params for r in counted), killed.data.params
    # The search's run, left RUNNING by the kill, was taken up again by the resume and closed.
    assert [p.info.status for p in search_runs(run_dir, "killed")] == ["FINISHED"]


# One trial per process: the first share runs here, each later one in a fresh process (the third replacing the
# second when it hands over); each fresh process costs a TensorFlow start.
@pytest.mark.slow
@each_driver
def test_a_long_search_hands_over_to_fresh_processes(case, in_run_dir):
    trials = 3
    config = write_config(in_run_dir, case, "relay", trials=trials, budget={"trials_per_process": 1})
    assert main(["run", str(config)]) == 0
    runs = trial_runs(in_run_dir, "relay")
    assert numbers(runs) == list(range(trials))
    assert_closed_and_unique(runs)
    workers = {int(r.data.tags["trial_number"]): r.data.tags["worker"] for r in runs}
    # trial 0 ran here, each later one in a fresh process of its own
    assert workers[0].endswith(f":{os.getpid()}")
    assert len(set(workers.values())) == trials
    assert_configurations_differ(runs)  # each fresh process samples on from where the study is
    assert len(search_runs(in_run_dir, "relay")) == 1
    assert (in_run_dir / "mlruns" / "exports" / "relay" / "model.keras").exists()


@pytest.mark.parametrize("case", [
    pytest.param(case, marks=[] if case.workers_refused else [pytest.mark.slow], id=case.name) for case in DRIVERS])
def test_two_workers_share_one_study_or_the_driver_refuses_them_in_one_line(case, in_run_dir, capsys):
    trials = 4
    # Trials long enough (digits, 8 epochs, no early stop) that the second worker starts before the first is done.
    config = write_config(in_run_dir, case, "pair", dataset="digits", trials=trials, max_epochs=8, patience=8)
    code = exit_code(["run", str(config), "--workers", "2"])
    if case.workers_refused:
        assert code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and case.workers_refused in err[0], err
        assert not (in_run_dir / "mlruns" / "exports").exists() and not trial_runs_exist(in_run_dir, "pair")
        return
    assert code == 0
    runs = trial_runs(in_run_dir, "pair")
    assert numbers(runs) == list(range(trials))
    assert_closed_and_unique(runs)
    assert all(r.data.tags["state"] == "COMPLETE" for r in runs)
    # Both workers trained trials, neither of them this process (it only relays their tracking).
    workers = {r.data.tags["worker"] for r in runs}
    assert len(workers) == 2 and not any(w.endswith(f":{os.getpid()}") for w in workers), workers
    assert_configurations_differ(runs)  # the two workers' samplers draw apart
    assert (in_run_dir / "mlruns" / "exports" / "pair" / "model.keras").exists()


def assert_configurations_differ(runs: list) -> None:
    configurations = [tuple(sorted(r.data.params.items())) for r in runs]
    assert len(set(configurations)) == len(configurations), configurations


def trial_runs_exist(directory: Path, experiment: str) -> bool:
    client = MlflowClient(tracking_uri(directory))
    return client.get_experiment_by_name(experiment) is not None and bool(trial_runs(directory, experiment))


# -- cross-validation -------------------------------------------------------------------------------------------------

@pytest.mark.slow  # a whole search
@each_driver
def test_each_trial_trains_the_same_folds_and_the_champion_is_refit_on_every_non_test_row(case, in_run_dir):
    folds = 2
    config = write_config(in_run_dir, case, "folds", trials=2, max_epochs=2, patience=2, split={"folds": folds})
    assert main(["run", str(config)]) == 0
    runs = trial_runs(in_run_dir, "folds")
    assert numbers(runs) == [0, 1]
    assert_closed_and_unique(runs)
    (parent,) = search_runs(in_run_dir, "folds")
    objective = parent.data.tags["objective"]
    for run in runs:
        metrics = run.data.metrics
        assert run.data.tags["state"] == "COMPLETE"
        # The objective is the mean over the folds, each at its own best epoch.
        assert metrics[f"best_{objective}"] == pytest.approx(
            np.mean([metrics[f"fold_{k}_{objective}"] for k in range(folds)]))
        assert not any(name.startswith(f"fold_{folds}_") for name in metrics)
    assert parent.data.params["split_folds"] == str(folds)
    rows = 150 - int(np.ceil(150 * 0.2))  # iris without its test rows
    assert parent.data.tags["weights"].startswith(f"refit on every non-test row ({rows}) for ")
    assert (in_run_dir / "mlruns" / "exports" / "folds" / "model.keras").exists()
