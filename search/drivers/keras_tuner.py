"""The Keras Tuner driver: Keras Tuner's oracles choose, the shared executor trains and tracks."""

from __future__ import annotations

import contextlib
import importlib.util
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kerashpo.search.executor import (
    FinishedTrial,
    SearchJob,
    SearchOutcome,
    SearchStopped,
    TrialEvent,
    TrialExecutor,
)
from kerashpo.search.protocols import Tracker
from kerashpo.search.training.memory import clear_session
from kerashpo.search.training.sampling import KerasTunerSampling, model_params
from kerashpo.spaces import UserError
from kerashpo.spaces.choices import TrialState, Tuner, chosen

if TYPE_CHECKING:
    import keras
    import keras_tuner
    from keras_tuner import HyperParameters, Oracle
    from keras_tuner.engine.trial import Trial


class _HandOver(Exception):
    """This process has run its share of trials (``SearchJob.trials_per_process``)."""


class _OutOfTime(Exception):
    """``budget.timeout`` has passed: no new trial starts."""


class KerasTunerDriver:
    """Random search, Bayesian optimisation, Hyperband or grid search from Keras Tuner.

    The project (oracle state, one folder per trial) lives in ``project_dir``
    and is resumed, never overwritten. Each trial goes through the same trial
    executor as the Optuna driver: early stopping, NaN guard, tracking,
    checkpoints. Hyperband's rounds are tagged (bracket, round, and the trial
    they continue), and each round trains the configuration for that round's
    epoch budget.
    """

    name = "keras_tuner"

    def __init__(self, tuner: str = Tuner.RANDOM, project_dir: str | Path = "keras_tuner", *,
                 executions_per_trial: int = 1, max_epochs: int | None = None, factor: int = 3,
                 hyperband_iterations: int = 1, num_initial_points: int | None = None):
        tuner = chosen(Tuner, tuner, "tuner")
        if tuner is Tuner.HYPERBAND and not max_epochs:
            raise UserError("tuner hyperband needs max_epochs (keras_tuner.max_epochs or budget.max_epochs)")
        if executions_per_trial < 1:
            raise UserError(f"executions_per_trial must be at least 1, got {executions_per_trial}")
        self.tuner_name = tuner
        self.project_dir = Path(project_dir)
        self.executions_per_trial = executions_per_trial
        self.max_epochs = max_epochs
        self.factor = factor
        self.hyperband_iterations = hyperband_iterations
        self.num_initial_points = num_initial_points

    def describe(self) -> dict[str, str]:
        return {"driver": self.name, "tuner": self.tuner_name, "storage": str(self.project_dir)}

    def study_name(self, pipeline: str) -> str:
        """A Keras Tuner project belongs to one tuner: each tuner resumes its own."""
        return f"{pipeline}-keras_tuner-{self.tuner_name}"

    def check(self, job: SearchJob) -> None:
        if job.objectives:
            raise UserError("Keras Tuner combines several objectives into one number; use driver optuna for a "
                            "Pareto front, or keep one objective and bound the others with constraints")
        if importlib.util.find_spec("keras_tuner") is None:
            raise UserError("driver keras_tuner needs the package keras-tuner: pip install keras-tuner")

    def optimize(self, job: SearchJob, tracker: Tracker,
                 on_trial_end: Callable[[TrialEvent], None] | None = None) -> SearchOutcome:
        import keras_tuner as kt

        with TrialExecutor(job, tracker, on_trial_end) as executor:
            source, spec, setup = job.source, job.setup.data.spec, job.setup
            driver = self

            class Model(kt.HyperModel):
                def build(self, hp: HyperParameters) -> keras.Model | None:
                    # Keras Tuner calls this only to learn the space, once per conditional scope (each trial
                    # builds through the executor): a declared space registers itself without a Keras model.
                    if source.space is not None:
                        KerasTunerSampling(hp).sample_space(source.space)
                        return None
                    return source.build(KerasTunerSampling(hp), spec)[1]

            class ExecutorTuner(self._tuner_class()):  # type: ignore[misc]
                def run_trial(self, trial: Trial, *args: object, **kwargs: object) -> dict[str, float]:
                    hp = trial.hyperparameters
                    number = int(trial.trial_id)
                    tags, epochs = driver._round_tags(hp)
                    result = executor.execute(number, KerasTunerSampling(hp), tags=tags, max_epochs=epochs,
                                              repeats=driver.executions_per_trial)
                    # The oracle records this trial after run_trial returns; count it in now.
                    this = FinishedTrial(number, result.state, result.value, result.params, result.best_epoch,
                                         feasible=result.infeasible is None)
                    earlier = [t for t in _finished_trials(self.oracle) if t.number != number]
                    try:
                        executor.report(number, result, earlier + [this], total=driver._total(self.oracle, job))
                    except SearchStopped as stop:  # Keras Tuner lets only its FatalError end a search
                        raise kt.errors.FatalError(str(stop)) from stop
                    if result.infeasible is not None:  # its oracle has no constraints: a failure with the reason
                        raise kt.errors.FailedTrialError(f"{_INFEASIBLE}{result.infeasible}")
                    if result.state is TrialState.FAILED or result.value is None or result.best_epoch is None:
                        raise kt.errors.FailedTrialError(result.error or "trial failed")
                    return {setup.objective: float(result.value), "best_epoch": float(result.best_epoch)}

                def pre_create_trial(self) -> None:
                    # Before every trial, as the Optuna driver checks: Keras Tuner has no time budget of its own,
                    # and the oracle saved at the last trial's end is where a fresh process resumes.
                    if executor.out_of_time():
                        raise _OutOfTime
                    if executor.hand_over():
                        raise _HandOver
                    super().pre_create_trial()

                def on_search_begin(self) -> None:
                    # The hypermodel's trial builds registered the space; free what they left behind.
                    clear_session()
                    super().on_search_begin()

            # Keras Tuner prints "Reloading Tuner from ..." when it resumes; the progress display says enough.
            with contextlib.redirect_stdout(io.StringIO()):
                tuner = ExecutorTuner(
                    Model(), objective=kt.Objective(setup.objective, setup.direction.keras_mode),
                    directory=str(self.project_dir), project_name=job.name, overwrite=False, seed=setup.seed,
                    max_consecutive_failed_trials=max(3, job.n_trials), **self._tuner_options(job),
                )
            tuner.oracle.verbose = 0  # the progress display reports each trial
            if self.tuner_name in (Tuner.RANDOM, Tuner.BAYESIAN):  # Hyperband's brackets and the grid choose alone
                _start_with(tuner.oracle, source.first_trials)
            handed_over = False
            try:
                with _failed_trials_untraced():
                    tuner.search(verbose=0)
            except kt.errors.FatalError as exc:
                if isinstance(exc.__cause__, SearchStopped):
                    raise exc.__cause__ from None
                raise
            except _HandOver:
                handed_over = True
            except _OutOfTime:
                pass
            return executor.outcome(_finished_trials(tuner.oracle), handed_over)

    # -- pieces -----------------------------------------------------------------

    def _tuner_class(self) -> type[keras_tuner.Tuner]:
        import keras_tuner as kt

        return {Tuner.RANDOM: kt.RandomSearch, Tuner.BAYESIAN: kt.BayesianOptimization,
                Tuner.HYPERBAND: kt.Hyperband, Tuner.GRID: kt.GridSearch}[self.tuner_name]

    def _tuner_options(self, job: SearchJob) -> dict[str, int | None]:
        if self.tuner_name is Tuner.HYPERBAND:
            return {"max_epochs": self.max_epochs, "factor": self.factor,
                    "hyperband_iterations": self.hyperband_iterations}
        options: dict[str, int | None] = {"max_trials": job.n_trials}
        if self.tuner_name is Tuner.BAYESIAN and self.num_initial_points is not None:
            options["num_initial_points"] = self.num_initial_points
        return options

    @staticmethod
    def _round_tags(hp: HyperParameters) -> tuple[dict[str, str], int | None]:
        values = hp.values
        if "tuner/epochs" not in values:
            return {}, None
        tags = {"hyperband_bracket": str(values["tuner/bracket"]), "hyperband_round": str(values["tuner/round"]),
                "hyperband_epochs": str(values["tuner/epochs"])}
        if values.get("tuner/trial_id"):
            tags["continues_trial"] = str(int(values["tuner/trial_id"]))
        return tags, int(values["tuner/epochs"])

    def _total(self, oracle: Oracle, job: SearchJob) -> int:
        if self.tuner_name is not Tuner.HYPERBAND:
            return job.n_trials
        try:
            brackets = oracle._get_num_brackets()
            per_iteration = sum(oracle._get_size(b, r) for b in range(brackets)
                                for r in range(oracle._get_num_rounds(b)))
            return per_iteration * self.hyperband_iterations
        except Exception:  # private Keras Tuner helpers: the count is only for the display
            return job.n_trials


def _start_with(oracle: Oracle, points: Sequence[Mapping[str, object]]) -> None:
    """A new project's first trials take ``points`` (what Optuna's ``enqueue_trial`` does); the oracle's own
    values fill what a point leaves out."""
    populate = oracle.populate_space

    def first_then_sampled(trial_id: str) -> dict[str, object]:
        response: dict[str, object] = populate(trial_id)
        sampled = response.get("values")
        created = len(oracle.trials)  # the trials created before this one, in this project
        if created < len(points) and isinstance(sampled, dict):
            response = {**response, "values": {**sampled, **points[created]}}
        return response

    oracle.populate_space = first_then_sampled


@contextlib.contextmanager
def _failed_trials_untraced() -> Iterator[None]:
    """Keras Tuner prints every failed trial's traceback (its DEBUG setting is on by default); the progress
    display and the trial's MLflow run already give the reason in one line."""
    from keras_tuner.src import config

    debug, config.DEBUG = config.DEBUG, False
    try:
        yield
    finally:
        config.DEBUG = debug


# How a trial that broke a constraint fails: Keras Tuner keeps the message (with its traceback).
_INFEASIBLE = "infeasible: "


def _finished_trials(oracle: Oracle) -> list[FinishedTrial]:
    from keras_tuner.engine.trial import TrialStatus

    states = {TrialStatus.COMPLETED: TrialState.COMPLETE, TrialStatus.FAILED: TrialState.FAILED,
              TrialStatus.INVALID: TrialState.FAILED}
    return [
        FinishedTrial(int(t.trial_id), states[t.status], t.score if t.status == TrialStatus.COMPLETED else None,
                      model_params(t.hyperparameters.values),
                      # best_epoch rides along as a metric (run_trial returns it), so a resumed search knows it.
                      int(t.metrics.get_last_value("best_epoch")) if t.metrics.exists("best_epoch") else None,
                      feasible=f"FailedTrialError: {_INFEASIBLE}" not in (getattr(t, "message", None) or ""))
        for t in oracle.trials.values() if t.status in states
    ]
