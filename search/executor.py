"""What every driver does around one trial: track it, run it, keep its model if good."""

from __future__ import annotations

import contextlib
import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kerashpo.search.protocols import ModelSource, Sampling, Tracker
from kerashpo.search.results import TrialResult
from kerashpo.search.selection.checkpoints import CheckpointStore
from kerashpo.search.selection.constraints import BUILT_METRICS, Constraint, judge, refusal, trial_metric
from kerashpo.search.selection.pareto import Objective, PickRule
from kerashpo.search.training.device import training_device
from kerashpo.search.training.memory import collecting_new_objects_only, released_when_done
from kerashpo.search.training.runner import PruneCheck, TrainingSetup, TrialOptions, run_trial
from kerashpo.spaces import UserError
from kerashpo.spaces.choices import TrialState

# A search whose first trials all fail with the same error stops: every other one would too.
SAME_FAILURES_TO_STOP = 3


class SearchStopped(UserError):
    """The search cannot go on (every configuration would fail the same way); one line says why."""


@dataclass
class SearchJob:
    """Everything a driver needs, the same for every driver.

    ``n_trials`` is the total for the study: a resumed search adds trials up to
    it. ``timeout`` (seconds from ``started_at``) stops starting new trials and
    stops the trial in flight at its next batch (it keeps its best epoch).
    ``trials_per_process`` hands the search over to a fresh process after
    that many trials in this one (see ``pipelines.run``).
    """

    name: str
    source: ModelSource  # ``as_source`` makes one of a preset or a build function
    setup: TrainingSetup
    n_trials: int
    checkpoint_dir: Path
    keep_best: int = 3
    timeout: float | None = None
    trials_per_process: int | None = None
    # Bounds on each trial's model (size, latency, a metric); a trial outside them is never the champion.
    constraints: tuple[Constraint, ...] = ()
    # Several objectives (the first is ``setup.objective``): a Pareto front, from which ``pick`` chooses.
    objectives: tuple[Objective, ...] = ()
    pick: PickRule = field(default_factory=PickRule)
    started_at: float = field(default_factory=time.time)
    # Study-wide finished trials when this search began (set by the first report), for the rate and ETA.
    finished_at_start: int | None = None
    # Which of the processes searching the study at once this is (a worker's slot): their samplers draw apart.
    worker: int = 0


def worker_id() -> str:
    """``host:pid`` of this process: tags trial runs, and tells a dead local worker from a live one."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class FinishedTrial:
    """A trial that counts against the budget, as a driver's storage records it."""

    number: int
    state: TrialState  # one of TrialState.finished()
    value: float | None
    params: dict[str, Any]
    best_epoch: int | None = None
    feasible: bool = True  # meets the search's constraints
    values: tuple[float, ...] = ()  # every objective's, with several


@dataclass
class TrialEvent:
    """Sent to the progress display after each trial."""

    number: int
    objective: str
    state: TrialState
    value: float | None
    finished: int
    total: int
    best_value: float | None
    best_number: int | None
    n_pruned: int
    n_failed: int
    elapsed: float
    finished_this_search: int  # across the processes of this search, not earlier runs of the study
    error: str | None = None
    worker: str = ""  # host:pid of the process that trained the trial
    infeasible: str | None = None  # the constraint the trial broke
    stopped_at_deadline: bool = False  # budget.timeout stopped its training; it counts with its best epoch


@dataclass
class SearchOutcome:
    best_number: int | None
    best_value: float | None
    best_params: dict[str, Any]
    best_model_path: Path | None
    n_complete: int
    n_pruned: int
    n_failed: int
    seconds: float
    best_epoch: int | None = None
    handed_over: bool = False  # stopped at trials_per_process with budget left
    completed: frozenset[int] = frozenset()  # the numbers of the complete trials that meet the constraints
    n_infeasible: int = 0  # complete or refused trials that broke a constraint


class TrialExecutor:
    """Runs trials for a driver: tracking, the shared runner, checkpoints, progress, cleanup."""

    def __init__(self, job: SearchJob, tracker: Tracker, on_trial_end: Callable[[TrialEvent], None] | None = None):
        self.job = job
        self.tracker = tracker
        self.on_trial_end = on_trial_end
        self.checkpoints = CheckpointStore(job.checkpoint_dir, job.keep_best, job.setup.direction)
        self.started = job.started_at
        self.finished_this_run = 0
        self.complete: frozenset[int] = frozenset()  # the complete trials the driver had recorded at the last report
        self.first_errors: list[str | None] = []  # the first trials' failures (None: it did not fail)
        self.worker = worker_id()
        self.backend, self.device = training_device()
        self._cleanup = contextlib.ExitStack()

    def __enter__(self) -> TrialExecutor:
        # Trials freeze what survives them (``released_when_done``); whoever called the search, a user's
        # own Python session included, gets normal collection back when it ends.
        self._cleanup.enter_context(collecting_new_objects_only())
        return self

    def __exit__(self, *exc: object) -> None:
        self._cleanup.close()

    def execute(self, number: int, sampling: Sampling, should_prune: PruneCheck | None = None,
                tags: dict[str, str] | None = None, max_epochs: int | None = None, repeats: int = 1) -> TrialResult:
        """One trial: its run opens once its values are sampled, and closes with its results.

        With ``repeats`` > 1 the configuration trains that many times (other
        seeds); the objective is the mean and the best repeat's model is kept.
        """
        constraints = self.job.constraints
        refuse = ((lambda model: refusal(constraints, model))
                  if any(c.metric in BUILT_METRICS for c in constraints) else None)
        setup = self.job.setup if self.job.timeout is None else replace(
            self.job.setup, deadline=self.started + self.job.timeout)
        with released_when_done():
            try:
                results: list[TrialResult] = []
                for r in range(repeats):  # a repeat after the deadline would stop at its first batch
                    results.append(run_trial(setup, self.job.source, sampling, TrialOptions(
                        seed=self.job.setup.seed + number + 7919 * r, should_prune=should_prune,
                        max_epochs=max_epochs, refuse=refuse,
                        on_built=lambda params: self.tracker.start_trial(
                            number, params, {"worker": self.worker, "backend": self.backend,
                                             "device": self.device, **(tags or {})}))))
                    if results[-1].stopped_at_deadline:
                        break
            except KeyboardInterrupt:
                self.tracker.end_trial(number, TrialResult(TrialState.FAILED, error="interrupted (Ctrl-C)"))
                raise
            result = _combine(results, self.job.setup)
            if result.state is TrialState.COMPLETE:
                judge(constraints, result)
                self._score_objectives(result)
            if result.state is TrialState.COMPLETE and result.infeasible is None and result.model is not None \
                    and result.value is not None:
                self.checkpoints.offer(number, result.value, result.model, among=self.complete)
            self.tracker.end_trial(number, result)
            for each in results:
                each.model = None
        self.finished_this_run += 1
        return result

    def _score_objectives(self, result: TrialResult) -> None:
        """Every objective's value on a completed trial; one it did not record fails the trial."""
        if not self.job.objectives:
            return
        values = {o.metric: trial_metric(o.metric, result) for o in self.job.objectives}
        missing = [name for name, value in values.items() if value is None or not math.isfinite(value)]
        if missing:
            result.state, result.error = TrialState.FAILED, f"objective {', '.join(missing)} was not recorded"
            return
        result.objective_values = {name: float(value) for name, value in values.items() if value is not None}

    def champion(self, finished: list[FinishedTrial]) -> FinishedTrial | None:
        """The trial to ship: the best one, or the one ``pick`` chooses from the Pareto front."""
        if not self.job.objectives:
            return self.best(finished)
        points = {t.number: t.values for t in finished
                  if t.state is TrialState.COMPLETE and t.feasible and len(t.values) == len(self.job.objectives)}
        number = self.job.pick.pick(points, [o.direction for o in self.job.objectives])
        return next((t for t in finished if t.number == number), None)

    def best(self, finished: list[FinishedTrial]) -> FinishedTrial | None:
        """The best complete trial on the (first) objective; ties go to the earlier one."""
        best = None
        for trial in sorted(finished, key=lambda t: t.number):
            if trial.state is TrialState.COMPLETE and trial.feasible and trial.value is not None and (
                    best is None or best.value is None or self.job.setup.better(trial.value, best.value)):
                best = trial
        return best

    def report(self, number: int, result: TrialResult, finished: list[FinishedTrial], total: int) -> None:
        """Tell the progress display about a trial; ``finished`` includes it.

        Called once the driver has recorded the trial. Raises ``SearchStopped``
        when the search cannot go on: the trial's failure is the configuration's
        (``stops_search``), or the first trials of this run all failed alike.
        """
        if self.job.finished_at_start is None:
            self.job.finished_at_start = len(finished) - 1
        self.complete = frozenset(t.number for t in finished if t.state is TrialState.COMPLETE and t.feasible)
        self.checkpoints.drop_displaced(among=self.complete)
        if self.on_trial_end is not None:
            self._display(number, result, finished, total)
        if result.stops_search:
            raise SearchStopped(f"trial {number} failed: {result.error}")
        if len(self.first_errors) < SAME_FAILURES_TO_STOP:
            self.first_errors.append(result.error if result.state is TrialState.FAILED else None)
            errors = set(self.first_errors)
            if len(self.first_errors) == SAME_FAILURES_TO_STOP and len(errors) == 1 and None not in errors:
                raise SearchStopped(f"the first {SAME_FAILURES_TO_STOP} trials all failed the same way: "
                                    f"{result.error}")

    def _display(self, number: int, result: TrialResult, finished: list[FinishedTrial], total: int) -> None:
        assert self.on_trial_end is not None
        best = self.best(finished)
        states = [t.state for t in finished]
        self.on_trial_end(TrialEvent(
            number=number, objective=self.job.setup.objective, state=result.state, value=result.value,
            error=result.error, infeasible=result.infeasible, finished=len(finished), total=total,
            best_value=best.value if best else None, best_number=best.number if best else None,
            n_pruned=states.count(TrialState.PRUNED), n_failed=states.count(TrialState.FAILED),
            elapsed=time.time() - self.started, finished_this_search=len(finished) - (self.job.finished_at_start or 0),
            worker=self.worker, stopped_at_deadline=result.stopped_at_deadline,
        ))

    def outcome(self, finished: list[FinishedTrial], handed_over: bool) -> SearchOutcome:
        """The search's result; the champion's model comes from the checkpoints."""
        best = self.champion(finished)
        states = [t.state for t in finished]
        return SearchOutcome(
            best_number=best.number if best else None, best_value=best.value if best else None,
            best_params=dict(best.params) if best else {},
            best_model_path=self.checkpoints.stored(best.number) if best else None,
            n_complete=states.count(TrialState.COMPLETE), n_pruned=states.count(TrialState.PRUNED),
            n_failed=states.count(TrialState.FAILED),
            seconds=time.time() - self.started, best_epoch=best.best_epoch if best else None,
            handed_over=handed_over,
            completed=frozenset(t.number for t in finished if t.state is TrialState.COMPLETE and t.feasible),
            n_infeasible=sum(not t.feasible for t in finished),
        )

    def out_of_time(self) -> bool:
        return self.job.timeout is not None and time.time() - self.started >= self.job.timeout

    def hand_over(self) -> bool:
        """This process has run its share of trials; a fresh one continues."""
        cap = self.job.trials_per_process
        return cap is not None and self.finished_this_run >= cap


def _combine(results: list[TrialResult], setup: TrainingSetup) -> TrialResult:
    if len(results) == 1:
        return results[0]
    complete = [(r, r.value) for r in results if r.state is TrialState.COMPLETE and r.value is not None]
    if not complete:
        return results[0]
    best = min(complete, key=lambda pair: setup.direction.best_first(pair[1]))[0]
    best.value = sum(value for _, value in complete) / len(complete)
    best.train_seconds = sum(r.train_seconds for r in results)
    best.stopped_at_deadline = any(r.stopped_at_deadline for r in results)
    return best
