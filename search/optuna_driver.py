"""The Optuna driver: an ask-and-tell loop over the shared trial executor."""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path
from typing import Any, Callable

from spaces import UserError
from search.results import COMPLETE, FAILED, PRUNED, TrialResult
from search.runner import raise_if_stop_requested
from search.sources import OptunaSampling
from search.tracking import Tracker, redact_url
from search.trials import FinishedTrial, SearchJob, SearchOutcome, TrialEvent, TrialExecutor, worker_id

SAMPLERS = ("tpe", "random", "cmaes", "gp", "grid")
PRUNERS = ("hyperband", "successive_halving", "median", "none")
_WORKER_ATTR, _LOST_ATTR, _PARAMS_ATTR = "kerashpo_worker", "kerashpo_lost", "kerashpo_params"


class OptunaDriver:
    """Samples the space with Optuna, prunes with its pruners, keeps the study in ``storage``.

    ``storage`` is a database URL (``sqlite:///...``, ``postgresql://...``) or a
    journal file path (``*.journal``); the study is resumed when it exists.
    """

    name = "optuna"

    def __init__(self, sampler: str = "tpe", pruner: str = "hyperband", storage: str | Path | None = None):
        if sampler not in SAMPLERS:
            raise UserError(f"unknown sampler {sampler!r}; choose from {', '.join(SAMPLERS)}")
        if pruner not in PRUNERS:
            raise UserError(f"unknown pruner {pruner!r}; choose from {', '.join(PRUNERS)}")
        self.sampler_name = sampler
        self.pruner_name = pruner
        self.storage = storage

    def describe(self) -> dict[str, str]:
        return {"driver": self.name, "sampler": self.sampler_name, "pruner": self.pruner_name,
                "storage": redact_url(str(self.storage)) if self.storage is not None else "in memory"}

    def study_name(self, pipeline: str) -> str:
        """One Optuna study per pipeline: a changed sampler or pruner continues it."""
        return pipeline

    def check(self, job: SearchJob) -> None:
        """Refuse what cannot run before anything is written."""
        if self.sampler_name == "grid":
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
        from optuna.storages._heartbeat import get_heartbeat_thread

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        study = optuna.create_study(
            study_name=job.name, storage=self._storage(), load_if_exists=True,
            direction=job.setup.direction, sampler=self._sampler(job), pruner=self._pruner(job),
        )
        executor = TrialExecutor(job, tracker, on_trial_end)
        tracker.close_finished(_finished_trials(study))
        handed_over = False
        while not executor.out_of_time():
            raise_if_stop_requested()
            # Checked before every trial: a worker that died meanwhile gives its trial back for a retry.
            lost = _recover_lost_trials(study)
            if lost:
                tracker.fail_trials(lost, "its worker stopped before the trial finished; the trial was retried")
            # Trials running in other workers hold their share of the budget too.
            if len(_claimed(study)) >= job.n_trials:
                break
            if executor.hand_over():
                handed_over = True
                break
            trial = study.ask()
            trial.set_user_attr(_WORKER_ATTR, worker_id())
            if _surplus(study, trial.number, job.n_trials):
                # Another worker asked in the same instant and took the last place: give this one back.
                trial.set_user_attr(_LOST_ATTR, True)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                break

            def should_prune(epoch: int, value: float, trial: Any = trial) -> bool:
                trial.report(value, epoch)
                return trial.should_prune()

            try:
                # Ask-and-tell starts no heartbeat of its own; on a database, other workers need it to tell
                # a dead worker's trial from a slow one.
                with get_heartbeat_thread(trial._trial_id, study._storage):
                    result = executor.execute(trial.number, OptunaSampling(trial), should_prune)
            except KeyboardInterrupt:
                # Interrupted, not failed: it does not count against the budget and the next run retries it.
                trial.set_user_attr(_LOST_ATTR, True)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                study.enqueue_trial(trial.params, skip_if_exists=False)
                raise
            _tell(study, trial, result)
            executor.report(trial.number, result, _finished_trials(study), total=job.n_trials)
        return executor.outcome(_finished_trials(study), handed_over)

    # -- pieces -----------------------------------------------------------------

    def _storage(self) -> Any:
        import optuna

        storage = str(self.storage) if self.storage is not None else None
        if storage is None or "://" in storage:
            if storage is not None and not storage.startswith("sqlite"):
                # A shared database: heartbeats let other workers fail (and retry) a dead worker's trial.
                return optuna.storages.RDBStorage(storage, heartbeat_interval=30, grace_period=90)
            return storage
        from optuna.storages.journal import JournalFileBackend

        Path(storage).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(storage))

    def _sampler(self, job: SearchJob) -> Any:
        import optuna

        seed = job.setup.seed
        if self.sampler_name == "tpe":
            # multivariate + group model the conditional (per-layer) parameters jointly.
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
        if self.sampler_name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if self.sampler_name == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        if self.sampler_name == "gp":
            return optuna.samplers.GPSampler(seed=seed)
        return optuna.samplers.GridSampler(job.source.space.grid(), seed=seed)

    def _pruner(self, job: SearchJob) -> Any:
        import optuna

        if self.pruner_name == "hyperband":
            return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=job.setup.max_epochs,
                                                  reduction_factor=3)
        if self.pruner_name == "successive_halving":
            return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
        if self.pruner_name == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)
        return optuna.pruners.NopPruner()


def _tell(study: Any, trial: Any, result: TrialResult) -> None:
    import optuna

    S = optuna.trial.TrialState
    trial.set_user_attr(_PARAMS_ATTR, result.params)
    if result.error:
        trial.set_user_attr("error", result.error[:2000])
    if result.best_epoch is not None:
        trial.set_user_attr("best_epoch", result.best_epoch)
    if result.state == COMPLETE:
        study.tell(trial, result.value)
    elif result.state == PRUNED:
        study.tell(trial, state=S.PRUNED)
    else:
        study.tell(trial, state=S.FAIL)


def _finished_trials(study: Any) -> list[FinishedTrial]:
    """Trials that count against the budget: finished, except lost ones (they are retried)."""
    import optuna

    S = optuna.trial.TrialState
    states = {S.COMPLETE: COMPLETE, S.PRUNED: PRUNED, S.FAIL: FAILED}
    return [
        FinishedTrial(t.number, states[t.state], t.value if t.state == S.COMPLETE else None,
                      # Fixed values are not Optuna params; the user attribute holds the whole dict.
                      dict(t.user_attrs.get(_PARAMS_ATTR, t.params)), t.user_attrs.get("best_epoch"))
        for t in study.get_trials(deepcopy=False, states=tuple(states))
        if not t.user_attrs.get(_LOST_ATTR)
    ]


def _claimed(study: Any) -> list[int]:
    """Numbers of the trials that count against the study-wide budget: finished or running, not lost."""
    import optuna

    S = optuna.trial.TrialState
    return [t.number for t in study.get_trials(deepcopy=False, states=(S.COMPLETE, S.PRUNED, S.FAIL, S.RUNNING))
            if not t.user_attrs.get(_LOST_ATTR)]


def _surplus(study: Any, number: int, budget: int) -> bool:
    """Whether the budget was already claimed by trials asked before ``number``."""
    return len([n for n in _claimed(study) if n < number]) >= budget


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


def _recover_lost_trials(study: Any) -> list[int]:
    """Fail RUNNING trials whose worker is gone and queue their parameters again.

    A trial is lost when its worker process on this host no longer exists, or,
    on a database with heartbeats, when its worker (on any host) stopped beating.
    """
    import optuna

    S = optuna.trial.TrialState
    storage = study._storage
    lost = []
    # A worker process of this host that no longer exists is known at once; others by their heartbeat.
    stale = [t._trial_id for t in study.get_trials(deepcopy=False, states=(S.RUNNING,))
             if not _alive(str(t.user_attrs.get(_WORKER_ATTR, "")))]
    if isinstance(storage, optuna.storages.RDBStorage) and storage.is_heartbeat_enabled():
        stale += [i for i in storage._get_stale_trial_ids(study._study_id) if i not in stale]
    by_id = {t._trial_id: t for t in study.get_trials(deepcopy=False)}
    for trial_id in stale:
        trial = by_id.get(trial_id)
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
