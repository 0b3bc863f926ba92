"""The Optuna driver: an ask-and-tell loop over the shared trial executor."""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerashpo.search.executor import (
    FinishedTrial,
    SearchJob,
    SearchOutcome,
    TrialEvent,
    TrialExecutor,
    worker_id,
)
from kerashpo.search.protocols import Tracker
from kerashpo.search.redaction import redact_url
from kerashpo.search.results import TrialResult
from kerashpo.search.training.budget import RUNG_FACTOR, SMALL_VALIDATION_BOOTSTRAP, startup_trials
from kerashpo.search.training.interrupts import raise_if_stop_requested, uncut
from kerashpo.search.training.sampling import OptunaSampling
from kerashpo.spaces import UserError
from kerashpo.spaces.choices import ObjectivesPruning, Pruner, Sampler, TrialState, chosen

if TYPE_CHECKING:
    from optuna import Study, Trial
    from optuna.distributions import BaseDistribution
    from optuna.pruners import BasePruner
    from optuna.samplers import BaseSampler, TPESampler
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

    from kerashpo.search.training.runner import PruneCheck

_WORKER_ATTR, _LOST_ATTR, _PARAMS_ATTR = "kerashpo_worker", "kerashpo_lost", "kerashpo_params"
# The twin study that prunes a search of several objectives on the first (optuna.pruning: primary).
PRIMARY_SUFFIX = ":primary"
# Each constraint's violation (search.constraints), read back by the constrained samplers.
_VIOLATIONS_ATTR = "kerashpo_violations"


class OptunaDriver:
    """Samples the space with Optuna, prunes with its pruners, keeps the study in ``storage``.

    ``storage`` is a database URL (``sqlite:///...``, ``postgresql://...``) or a
    journal file path (``*.journal``); the study is resumed when it exists.
    """

    name = "optuna"

    def __init__(self, sampler: str = Sampler.TPE, pruner: str = Pruner.HYPERBAND,
                 storage: str | Path | None = None, pruning: str = ObjectivesPruning.OFF):
        self.sampler_name = chosen(Sampler, sampler, "sampler")
        self.pruner_name = chosen(Pruner, pruner, "pruner")
        self.storage = storage
        self.pruning = chosen(ObjectivesPruning, pruning, "pruning")

    def describe(self) -> dict[str, str]:
        return {"driver": self.name, "sampler": self.sampler_name, "pruner": self.pruner_name,
                "storage": redact_url(str(self.storage)) if self.storage is not None else "in memory"}

    def study_name(self, pipeline: str) -> str:
        """One Optuna study per pipeline: a changed sampler or pruner continues it."""
        return pipeline

    def check(self, job: SearchJob) -> None:
        """Refuse what cannot run before anything is written."""
        if job.objectives and self.sampler_name is Sampler.CMAES:
            raise UserError("sampler cmaes optimizes one objective; with objectives use tpe, nsga2, gp, random "
                            "or grid")
        conditional = [p.name for p in job.source.space or () if p.when]
        if job.objectives and self.sampler_name is Sampler.GP and conditional:
            raise UserError(f"sampler gp samples conditional parameters ({', '.join(conditional[:3])}...) at "
                            "random, which with several objectives leaves most of the front to chance; use tpe or "
                            "nsga2, or a space without conditions")
        if self.sampler_name is Sampler.GRID:
            if job.source.space is None:
                raise UserError("sampler grid needs a declared space; a build_model(hp) function has none")
            try:
                job.source.space.grid()
            except UserError as exc:
                raise UserError(f"sampler grid: {exc}") from None
        _load_sampler_module(self.sampler_name)

    def optimize(self, job: SearchJob, tracker: Tracker,
                 on_trial_end: Callable[[TrialEvent], None] | None = None) -> SearchOutcome:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        storage = self._storage()
        directions = [o.direction for o in job.objectives] or [job.setup.direction]
        study = optuna.create_study(
            study_name=job.name, storage=storage, load_if_exists=True,
            directions=[optuna.study.StudyDirection[d.name] for d in directions],
            sampler=self._sampler(job, job.setup.seed), pruner=self._pruner(job),
        )
        if study.trials or job.worker:
            study.sampler = self._sampler(job, _continuing_seed(job, len(study.trials)))
        if study.metric_names is None:  # optuna-dashboard labels its plots with it
            study.set_metric_names([o.metric for o in job.objectives] or [job.setup.objective])
        if not study.trials and self.sampler_name is not Sampler.GRID:  # a new study tries the simple models first
            for params in job.source.first_trials:
                study.enqueue_trial(params, skip_if_exists=True)
        # Optuna prunes one objective: with several, a twin study of the first objective alone holds the
        # reports and runs the pruner (in the same storage, so workers share it).
        primary = optuna.create_study(
            study_name=f"{job.name}{PRIMARY_SUFFIX}", storage=storage, load_if_exists=True,
            direction=optuna.study.StudyDirection[job.setup.direction.name], pruner=self._pruner(job),
        ) if job.objectives and self.pruning is ObjectivesPruning.PRIMARY else None
        with TrialExecutor(job, tracker, on_trial_end) as executor:
            return self._search(study, storage, job, tracker, executor, primary)

    def _search(self, study: Study, storage: BaseStorage, job: SearchJob, tracker: Tracker,
                executor: TrialExecutor, primary: Study | None = None) -> SearchOutcome:
        import optuna
        from optuna.storages._heartbeat import get_heartbeat_thread

        tracker.close_finished(_finished_trials(study))
        # The preset's starting points (a new study's first trials) are known to be good: pruned at an early
        # rung, the best guess is lost. They report to the pruner, so later trials are judged against them,
        # and run in full.
        n_starting_points = 0 if self.sampler_name is Sampler.GRID else len(job.source.first_trials)
        handed_over = False
        while not executor.out_of_time():
            raise_if_stop_requested()
            # Checked before every trial: a worker that died meanwhile gives its trial back for a retry.
            lost = _recover_lost_trials(study, storage)
            if lost:
                tracker.fail_trials(lost, "its worker stopped before the trial finished; the trial was retried")
            # Trials running in other workers hold their share of the budget too. (Optuna's MaxTrialsCallback
            # does this for study.optimize, after a trial ends; ask-and-tell must check before asking.)
            if len(_claimed(study)) >= job.n_trials:
                break
            if executor.hand_over():
                handed_over = True
                break
            with uncut():  # untagged, a RUNNING trial whose worker died would never be seen as lost
                trial = study.ask()
                trial.set_user_attr(_WORKER_ATTR, worker_id())
            if _surplus(study, trial.number, job.n_trials):
                # Another worker asked in the same instant and took the last place: give this one back.
                trial.set_user_attr(_LOST_ATTR, True)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                break

            # Optuna takes no intermediate values from a trial of several objectives: its twin does.
            judged = trial if not job.objectives else primary.ask() if primary is not None else None
            starting_point = trial.number < n_starting_points

            try:
                # Ask-and-tell starts no heartbeat of its own and Optuna has no public way to start one
                # (study.optimize does it internally); on a database, other workers need it to tell a dead
                # worker's trial from a slow one.
                with get_heartbeat_thread(trial._trial_id, storage):
                    result = executor.execute(trial.number, OptunaSampling(trial),
                                              None if judged is None else _pruning_check(judged, not starting_point))
            except KeyboardInterrupt:
                # Interrupted, not failed: it does not count against the budget and the next run retries it.
                with uncut():
                    trial.set_user_attr(_LOST_ATTR, True)
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    study.enqueue_trial(trial.params, skip_if_exists=False)
                if primary is not None and judged is not None and judged is not trial:
                    primary.tell(judged, state=optuna.trial.TrialState.FAIL)
                raise
            _tell(study, trial, result, [o.metric for o in job.objectives])
            if primary is not None and judged is not None and judged is not trial:
                _tell(primary, judged, result, [])
            executor.report(trial.number, result, _finished_trials(study), total=job.n_trials)
        return executor.outcome(_finished_trials(study), handed_over)

    # -- pieces -----------------------------------------------------------------

    def _storage(self) -> BaseStorage:
        """The study's storage object (kept, rather than read back from the study's private attribute)."""
        from kerashpo.search.drivers.optuna_storage import open_storage

        return open_storage(self.storage)

    def _sampler(self, job: SearchJob, seed: int) -> BaseSampler:
        import optuna

        # TPE and GP steer away from infeasible trials; the other samplers still never pick one as champion.
        constraints = _violations(len(job.constraints)) if job.constraints else None
        if self.sampler_name is Sampler.TPE:
            # multivariate + group model the conditional (per-layer) parameters jointly.
            def tpe(startup: int) -> TPESampler:
                return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=startup,
                                                  constraints_func=constraints)

            if job.timeout is None:
                return tpe(startup_trials(job.n_trials))
            # Under a time budget the number of trials is known only once trials have taken their time.
            return sized_startup(tpe(0), optuna.samplers.RandomSampler(seed=seed),
                                 lambda study: startup_trials(expected_trials(study, job)))
        if self.sampler_name is Sampler.RANDOM:
            return optuna.samplers.RandomSampler(seed=seed)
        if self.sampler_name is Sampler.CMAES:
            return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        if self.sampler_name is Sampler.GP:
            return optuna.samplers.GPSampler(seed=seed, constraints_func=constraints)
        if self.sampler_name is Sampler.NSGA2:
            return optuna.samplers.NSGAIISampler(seed=seed, constraints_func=constraints)
        space = job.source.space
        if space is None:  # refused by check() before the search
            raise UserError("sampler grid needs a declared space")
        return optuna.samplers.GridSampler(space.grid(), seed=seed)

    def _pruner(self, job: SearchJob) -> BasePruner:
        import optuna

        # Steps are examples seen, or folds done when cross-validating (search.budget): the first rung comes
        # after enough examples to judge, on any table, or after the first fold; on a small validation split
        # nothing is pruned before a few trials have completed.
        budget = job.setup.budget
        if not budget.can_prune or self.pruner_name is Pruner.NONE:
            return optuna.pruners.NopPruner()
        pruner: BasePruner
        if self.pruner_name is Pruner.HYPERBAND:
            pruner = optuna.pruners.HyperbandPruner(min_resource=budget.first_rung, max_resource=budget.last_rung,
                                                    reduction_factor=RUNG_FACTOR)
        elif self.pruner_name is Pruner.SUCCESSIVE_HALVING:
            pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=budget.first_rung,
                                                            reduction_factor=RUNG_FACTOR)
        else:
            return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=budget.first_rung - 1)
        # (Not the pruners' bootstrap_count: in Optuna it prunes every trial until enough have reached a rung.)
        return _after_complete(pruner, SMALL_VALIDATION_BOOTSTRAP) if budget.small_validation else pruner


def expected_trials(study: Study, job: SearchJob) -> float:
    """How many trials the search's budget should run: the time budget over the finished trials' mean duration,
    at most the trial count (the trial count alone before any trial has finished)."""
    import optuna

    finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                        optuna.trial.TrialState.PRUNED))
    seconds = [(t.datetime_complete - t.datetime_start).total_seconds() for t in finished
               if t.datetime_start is not None and t.datetime_complete is not None]
    if job.timeout is None or not seconds:
        return float(job.n_trials)
    return min(float(job.n_trials), job.timeout / max(sum(seconds) / len(seconds), 1e-3))


def sized_startup(model_based: BaseSampler, random: BaseSampler, startup: Callable[[Study], int]) -> BaseSampler:
    """``random`` until ``startup(study)`` trials have finished, then ``model_based`` (built with no start-up of
    its own): a start-up sized while the search runs, which Optuna's samplers take only as a constant."""
    import optuna

    class SizedStartup(optuna.samplers.BaseSampler):
        def current(self, study: Study) -> BaseSampler:
            done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                            optuna.trial.TrialState.PRUNED))
            return random if len(done) < startup(study) else model_based

        def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
            return self.current(study).infer_relative_search_space(study, trial)

        def sample_relative(self, study: Study, trial: FrozenTrial,
                            search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
            return self.current(study).sample_relative(study, trial, search_space)

        def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                               param_distribution: BaseDistribution) -> Any:
            return self.current(study).sample_independent(study, trial, param_name, param_distribution)

        def before_trial(self, study: Study, trial: FrozenTrial) -> None:
            model_based.before_trial(study, trial)

        def after_trial(self, study: Study, trial: FrozenTrial, state: optuna.trial.TrialState,
                        values: Sequence[float] | None) -> None:
            model_based.after_trial(study, trial, state, values)

    return SizedStartup()


def _after_complete(pruner: BasePruner, trials: int) -> BasePruner:
    """``pruner``, consulted only once ``trials`` trials have completed: on a small validation split the first
    rungs would otherwise rank a handful of noisy values."""
    import optuna

    class AfterComplete(optuna.pruners.BasePruner):
        def prune(self, study: Study, trial: FrozenTrial) -> bool:
            done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            return len(done) >= trials and pruner.prune(study, trial)

    return AfterComplete()


def _violations(count: int) -> Callable[[FrozenTrial], tuple[float, ...]]:
    """Optuna's ``constraints_func``: what ``_tell`` recorded (a trial pruned by the pruner broke nothing)."""
    def constraints(trial: FrozenTrial) -> tuple[float, ...]:
        return tuple(trial.user_attrs.get(_VIOLATIONS_ATTR) or (0.0,) * count)

    return constraints


def _tell(study: Study, trial: Trial, result: TrialResult, objectives: list[str]) -> None:
    import optuna

    S = optuna.trial.TrialState
    trial.set_user_attr(_PARAMS_ATTR, result.params)
    if result.violations:
        trial.set_user_attr(_VIOLATIONS_ATTR, list(result.violations))
    if result.error:
        trial.set_user_attr("error", result.error[:2000])
    if result.best_epoch is not None:
        trial.set_user_attr("best_epoch", result.best_epoch)
    if result.state is TrialState.COMPLETE:
        study.tell(trial, [result.objective_values[name] for name in objectives] if objectives else result.value)
    elif result.state is TrialState.PRUNED:
        study.tell(trial, state=S.PRUNED)
    else:
        study.tell(trial, state=S.FAIL)


def _finished_trials(study: Study) -> list[FinishedTrial]:
    """Trials that count against the budget: finished, except lost ones (they are retried)."""
    import optuna

    S = optuna.trial.TrialState
    states = {S.COMPLETE: TrialState.COMPLETE, S.PRUNED: TrialState.PRUNED, S.FAIL: TrialState.FAILED}
    return [
        FinishedTrial(t.number, states[t.state], t.values[0] if t.state == S.COMPLETE else None,
                      # Fixed values are not Optuna params; the user attribute holds the whole dict.
                      dict(t.user_attrs.get(_PARAMS_ATTR, t.params)), t.user_attrs.get("best_epoch"),
                      feasible=not any(v > 0 for v in t.user_attrs.get(_VIOLATIONS_ATTR, ())),
                      values=tuple(t.values) if t.state == S.COMPLETE else ())
        for t in study.get_trials(deepcopy=False, states=tuple(states))
        if not t.user_attrs.get(_LOST_ATTR)
    ]


def _claimed(study: Study) -> list[int]:
    """Numbers of the trials that count against the study-wide budget: finished or running, not lost."""
    import optuna

    S = optuna.trial.TrialState
    return [t.number for t in study.get_trials(deepcopy=False, states=(S.COMPLETE, S.PRUNED, S.FAIL, S.RUNNING))
            if not t.user_attrs.get(_LOST_ATTR)]


def _surplus(study: Study, number: int, budget: int) -> bool:
    """Whether the budget was already claimed by trials asked before ``number``."""
    return len([n for n in _claimed(study) if n < number]) >= budget


def _pruning_check(trial: Trial, may_prune: bool = True) -> PruneCheck:
    """Reports each step's value to ``trial`` and asks its pruner whether to stop; the answer counts if it
    ``may_prune``. (The pruner is asked either way: successive halving records a trial's rungs as it answers, and
    later trials are judged against those.)"""
    def should_prune(step: int, value: float) -> bool:
        trial.report(value, step)
        return bool(trial.should_prune()) and may_prune

    return should_prune


def _continuing_seed(job: SearchJob, trials_so_far: int) -> int:
    """The sampler's seed where a study goes on: a resumed search, a fresh process after a hand-over, another
    worker. Seeded as the study's first process was, its sampler would draw that process's configurations again;
    mixed with the trials so far and the worker's slot, it draws others, and the same again on the same history."""
    import numpy as np

    return int(np.random.SeedSequence([job.setup.seed, trials_so_far, job.worker]).generate_state(1)[0])


def _alive(worker: str) -> bool:
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another host's worker: only heartbeats can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _recover_lost_trials(study: Study, storage: BaseStorage) -> list[int]:
    """Fail RUNNING trials whose worker is gone and queue their parameters again.

    A trial is lost when its worker process on this host no longer exists, or,
    on a database with heartbeats, when its worker (on any host) stopped beating.
    """
    import optuna

    S = optuna.trial.TrialState
    lost = []
    # A worker process of this host that no longer exists is known at once; others by their heartbeat.
    stale = [t._trial_id for t in study.get_trials(deepcopy=False, states=(S.RUNNING,))
             if not _alive(str(t.user_attrs.get(_WORKER_ATTR, "")))]
    # Not the public fail_stale_trials: it fails the trial before it can be marked lost, and a lost
    # trial must not count against the study-wide budget (it is retried).
    if isinstance(storage, optuna.storages.RDBStorage) and storage.get_heartbeat_interval() is not None:
        stale += [i for i in storage._get_stale_trial_ids(study._study_id) if i not in stale]
    by_id = {t._trial_id: t for t in study.get_trials(deepcopy=False)}
    for trial_id in stale:
        trial = by_id.get(trial_id)
        with uncut():  # failed but not queued again, its configuration would never be retried
            try:
                # Marked lost first: a finished trial's attributes can no longer change.
                storage.set_trial_user_attr(trial_id, _LOST_ATTR, True)
                if not storage.set_trial_state_values(trial_id, state=S.FAIL):
                    continue
            except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
                continue  # another worker got there first
            if trial is not None:
                study.enqueue_trial(trial.params, skip_if_exists=False)
                lost.append(trial.number)
    return lost


def _load_sampler_module(sampler: str) -> None:
    """CMA-ES and GP need optional packages; say how to get them before the search starts."""
    needs = {"cmaes": ("cmaes", "pip install cmaes"), "gp": ("torch", "pip install 'kerashpo[gp]'")}
    if sampler in needs:
        module, hint = needs[sampler]
        try:
            __import__(module)
        except ImportError:
            raise UserError(f"sampler {sampler} needs the package '{module}': {hint}") from None
