"""The trial runner shared by every driver: build, fit, stop early, prune, guard NaN."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from kerashpo.search.results import TrialResult
from kerashpo.search.selection.constraints import model_bytes
from kerashpo.search.training.budget import Budget
from kerashpo.search.training.interrupts import raise_if_stop_requested, stop_requested
from kerashpo.search.training.sampling import FixedSampling
from kerashpo.search.training.trial_data import TrialData
from kerashpo.search.training.validation import Validation
from kerashpo.spaces.choices import Direction, TrialState

if TYPE_CHECKING:
    from kerashpo.search.protocols import ModelSource, Sampling
    from kerashpo.spaces.preset import FitOptions

# (step, value) -> True to stop the trial as pruned. The step is examples seen and the value the best objective so
# far; when cross-validating, the step is folds done and the value their mean (``Budget.unit``).
PruneCheck = Callable[[int, float], bool]
# A built model -> None, or why it breaks a constraint and every constraint's violation (search.constraints).
Refusal = Callable[[keras.Model], "tuple[str, tuple[float, ...]] | None"]

@dataclass(frozen=True)
class TrialOptions:
    """What differs between the trials of one setup: the seed, and what may stop, cap or watch a trial."""

    seed: int
    should_prune: PruneCheck | None = None
    # Called with the sampled values once they are known, before training (a tracker opens the trial's run).
    on_built: Callable[[dict[str, Any]], None] | None = None
    max_epochs: int | None = None  # fewer epochs than the setup's (a Hyperband rung); None: the setup's
    # The model comes back with its best epoch's weights; False keeps the last epoch's (an ablation's "early
    # stopping off").
    restore_best_weights: bool = True
    # May stop a built model before it trains (a size constraint it breaks): the trial ends PRUNED and infeasible.
    refuse: Refusal | None = None


@dataclass
class TrainingSetup:
    """How every trial of a search trains: same data, objective and epoch budget."""

    data: TrialData
    objective: str
    direction: Direction
    max_epochs: int
    patience: int
    seed: int = 0
    # Cross-validation: every fold's data, each with preprocessing fitted on its own training part (``data`` is
    # the first); empty for one validation split.
    folds: tuple[TrialData, ...] = ()
    # ``time.time()`` at which training stops wherever it is (``budget.timeout``): a search ends on time, the
    # trial in flight keeping the best epoch it reached. None: no deadline.
    deadline: float | None = None

    def __post_init__(self) -> None:
        self.direction = Direction(self.direction)

    def past_deadline(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline

    def better(self, a: float, b: float) -> bool:
        return self.direction.better(a, b)

    @property
    def budget(self) -> Budget:
        """The per-trial budget in the unit pruners count in (examples seen, or folds)."""
        y_val = self.data.y_val
        return Budget(len(self.data.y_train), self.max_epochs, 0 if y_val is None else len(y_val),
                      folds=len(self.folds) or 1)


class _StopWatch(keras.callbacks.Callback):
    """Ends training at the next batch once Ctrl-C was pressed (see ``interrupts_at_safe_points``)."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if stop_requested():
            self.model.stop_training = True


class _StopOnInvalidLoss(keras.callbacks.Callback):
    """Keras's ``TerminateOnNaN`` without its print into the progress display, which says the trial diverged."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True


class TrialStopped(Exception):
    """Stops a user's own training loop from a callback: such a loop has no ``stop_training`` flag to read."""


class _EpochWatch(keras.callbacks.Callback):
    """Per-epoch bookkeeping for Keras's ``fit`` and for a user's own training loop alike.

    It records every epoch's logs, keeps the best epoch's weights, asks the
    pruning check, and stops training on patience or at the epoch budget. Inside
    ``fit`` it stops through ``stop_training``; a loop that only sends
    ``on_epoch_end`` (Keras Tuner's custom-loop pattern) is stopped by raising
    ``TrialStopped``. On a large table the first rungs come before the first
    epoch ends (``Budget.rungs_inside_first_epoch``): given the trial's
    ``Validation`` (``score_with``), it scores the split there and asks the
    pruning check with the rung as the step; a trial pruned there ends with
    its partial first epoch. Past ``setup.deadline`` it stops training at the
    next batch (or epoch, in a user's own loop); the epoch is scored as it ended.
    """

    def __init__(self, setup: TrainingSetup, should_prune: PruneCheck | None, max_epochs: int,
                 batch_size: int = 0):
        super().__init__()
        self.setup, self.should_prune, self.max_epochs = setup, should_prune, max_epochs
        self.batch_size = batch_size
        self.rungs = setup.budget.rungs_inside_first_epoch() if should_prune is not None and batch_size else ()
        self.validation: Validation | None = None
        self.history: dict[str, list[float]] = {}
        self.epochs = 0
        self.best: float | None = None
        self.best_weights: list[np.ndarray] | None = None
        self.since_best = 0
        self.pruned = False
        self.out_of_time = False
        self.missing: list[str] | None = None
        self.in_fit = False

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.in_fit = True

    def on_train_end(self, logs: dict | None = None) -> None:
        self.in_fit = False

    def score_with(self, validation: Validation) -> None:
        self.validation = validation

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        # ``batch`` is the last batch of the call (Keras runs steps_per_execution batches per call): the split is
        # scored at the first call that reaches a rung, and the pruners are told the rung.
        if self.setup.past_deadline() and not self.out_of_time:
            self.out_of_time = True
            self._stop()
            return
        seen = (batch + 1) * self.batch_size
        if (self.should_prune is None or self.validation is None or self.epochs or self.pruned or not self.rungs
                or seen < self.rungs[0]):
            return
        rung = max(r for r in self.rungs if r <= seen)
        self.rungs = tuple(r for r in self.rungs if r > seen)
        value = self.validation.score_now().get(self.setup.objective)
        if value is not None and math.isfinite(value) and self.should_prune(rung, float(value)):
            self.pruned = True
            self._stop()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = dict(logs or {})
        for name, number in logs.items():
            with contextlib.suppress(TypeError, ValueError):
                self.history.setdefault(name, []).append(float(number))
        self.epochs += 1
        value = logs.get(self.setup.objective)
        if value is None:
            # Keras's fit reports every compiled metric each epoch; a user's own loop may return it instead.
            self.missing = sorted(logs)
            if self.in_fit:
                self._stop()
            return
        value = float(value)
        if math.isfinite(value) and (self.best is None or self.setup.better(value, self.best)):
            self.best, self.since_best = value, 0
            self.best_weights = self.model.get_weights()
        else:
            self.since_best += 1
        if self.pruned:  # at a rung inside this epoch, which ended there
            return
        # Pruners see the best value so far: the trial's objective is its best epoch.
        seen = self.setup.budget.examples(self.epochs)
        if self.should_prune is not None and self.best is not None and self.should_prune(seen, self.best):
            self.pruned = True
            self._stop()
        elif self.since_best >= self.setup.patience or self.epochs >= self.max_epochs:
            self._stop()
        elif self.setup.past_deadline():
            self.out_of_time = True
            self._stop()

    def _stop(self) -> None:
        if not self.in_fit:
            raise TrialStopped
        self.model.stop_training = True


def _best_epoch(values: list[float], setup: TrainingSetup) -> int | None:
    """1-based epoch of the best finite value; ties go to the earliest, as EarlyStopping keeps it."""
    best = None
    for index, value in enumerate(values):
        if math.isfinite(value) and (best is None or setup.better(value, values[best])):
            best = index
    return None if best is None else best + 1


def run_trial(setup: TrainingSetup, source: ModelSource, sampling: Sampling, options: TrialOptions) -> TrialResult:
    """Build one configuration through ``sampling``, train it, report its best epoch.

    ``source`` is any ``ModelSource`` (``as_source`` makes one of a preset or a
    build function). The model comes back with the best epoch's weights
    (EarlyStopping restores them), so the objective, the checkpoint and the export
    all describe the same weights, unless ``options`` say otherwise. With
    ``setup.folds`` the configuration trains once per fold (``cross_validate``).
    """
    if setup.folds:
        return cross_validate(setup, source, sampling, options)
    return measured(_train(setup, source, sampling, options), setup.data)


# Batch-1 predictions timed per completed trial, after warm-up calls (the first traces the prediction function).
LATENCY_WARMUP, LATENCY_CALLS = 2, 30


def measured(result: TrialResult, data: TrialData) -> TrialResult:
    """A completed trial's size (its weights in bytes, as served) and latency (median wall time of a batch-1
    ``predict_on_batch`` on one training row; a few dozen calls, cheap beside the trial's training)."""
    model = result.model
    if result.state is not TrialState.COMPLETE or model is None:
        return result
    result.model_bytes = model_bytes(model)
    inputs, _ = data.first_rows(model, 1)
    try:
        for _ in range(LATENCY_WARMUP):
            model.predict_on_batch(inputs)
        times = []
        for _ in range(LATENCY_CALLS):
            started = time.perf_counter()
            model.predict_on_batch(inputs)
            times.append(time.perf_counter() - started)
    except Exception:  # a user's model that cannot predict one row is measured by its size alone
        return result
    result.latency_ms = 1000 * float(np.median(times))
    return result


def cross_validate(setup: TrainingSetup, source: ModelSource, sampling: Sampling,
                   options: TrialOptions) -> TrialResult:
    """Train the configuration on every fold in turn; its objective is the mean of the folds' best epochs.

    Pruning is asked at fold boundaries (``should_prune(folds done, their mean)``):
    trials are then compared on the same rows, each fold trained to its early stop,
    which is what the objective measures; inside a fold only early stopping acts.
    No model is kept: the champion is refit on every non-test row for the folds'
    median best epoch (the trial's ``best_epoch``).
    """
    results: list[TrialResult] = []
    for k, data in enumerate(setup.folds):
        fold = run_trial(replace(setup, data=data, folds=()), source, sampling,
                         replace(options, should_prune=None, on_built=options.on_built if k == 0 else None))
        fold.model = None
        results.append(fold)
        if fold.state is not TrialState.COMPLETE:
            fold.error = fold.error and f"fold {k}: {fold.error}"
            break
        if fold.stopped_at_deadline:  # the folds left would each stop at their first batch: incomplete, pruned
            break
        if options.should_prune is not None and k + 1 < len(setup.folds) and options.should_prune(
                k + 1, float(np.mean([r.value for r in results]))):
            break
    return _over_folds(results, len(setup.folds))


def _over_folds(results: list[TrialResult], n_folds: int) -> TrialResult:
    """One trial's result from its folds: mean objective, median best epoch, curves averaged epoch by epoch
    over the folds that trained that epoch, every fold's metrics at its best epoch."""
    last = results[-1]
    combined = TrialResult(
        last.state, params=results[0].params, n_params=results[0].n_params, model_bytes=results[0].model_bytes,
        latency_ms=results[0].latency_ms, error=last.error,
        stops_search=last.stops_search, infeasible=last.infeasible, violations=last.violations,
        stopped_at_deadline=last.stopped_at_deadline,
        epochs_run=sum(r.epochs_run for r in results),
        train_seconds=sum(r.train_seconds for r in results), history=_mean_curves([r.history for r in results]),
    )
    complete = [r for r in results if r.state is TrialState.COMPLETE and r.best_epoch is not None]
    combined.fold_metrics = {f"fold_{k}_{name}": values[r.best_epoch - 1]
                             for k, r in enumerate(complete) for name, values in r.history.items()
                             if r.best_epoch is not None and len(values) >= r.best_epoch}
    if len(complete) < len(results):
        return combined
    combined.value = float(np.mean([r.value for r in complete]))
    combined.best_epoch = max(1, round(float(np.median([r.best_epoch for r in complete]))))
    combined.state = TrialState.COMPLETE if len(results) == n_folds else TrialState.PRUNED
    return combined


def _mean_curves(histories: list[dict[str, list[float]]]) -> dict[str, list[float]]:
    curves: dict[str, list[float]] = {}
    for name in histories[0]:
        runs = [h[name] for h in histories if name in h]
        curves[name] = [float(np.mean([run[i] for run in runs if len(run) > i]))
                        for i in range(max(len(run) for run in runs))]
    return curves


def _train(setup: TrainingSetup, source: ModelSource, sampling: Sampling, options: TrialOptions) -> TrialResult:
    """One model on ``setup.data``: what ``run_trial`` does for one validation split."""
    epochs = options.max_epochs or setup.max_epochs
    keras.utils.set_random_seed(options.seed)
    started = time.perf_counter()
    params: dict[str, Any] = {}
    try:
        params, model = source.build(sampling, setup.data.spec)
    except Exception as exc:  # a bad configuration or a user's builder failing is the trial's failure
        params = params or sampled_params(sampling)
        if options.on_built is not None:
            options.on_built(params)
        return TrialResult(TrialState.FAILED, params=params, error=f"build failed: {type(exc).__name__}: {exc}",
                           train_seconds=time.perf_counter() - started)
    if options.on_built is not None:
        options.on_built(params)
    refused = options.refuse(model) if options.refuse is not None else None
    if refused is not None:
        reason, violations = refused
        return TrialResult(TrialState.PRUNED, params={**params, **sampled_params(sampling)},
                           n_params=count_params(model), model_bytes=model_bytes(model),
                           infeasible=f"refused before training: {reason}", violations=violations,
                           train_seconds=time.perf_counter() - started)
    fit_options = source.fit_options(dict(params), epochs, setup.objective, setup.direction)
    watch = _EpochWatch(setup, options.should_prune, epochs, fit_options.batch_size)
    callbacks = [_StopWatch(), _StopOnInvalidLoss(), *fit_options.callbacks, watch]
    for callback in callbacks:  # a user's own loop may call them without set_model
        callback.set_model(model)
    returned: object = None
    try:
        returned = source.fit(sampling, model, setup.data, batch_size=fit_options.batch_size, seed=options.seed,
                              epochs=epochs, callbacks=callbacks, verbose=0,
                              augmentation=fit_options.augmentation, **_phases(fit_options))
    except TrialStopped:
        pass
    except Exception as exc:  # a user's fit or callback failing fails this trial, never the search
        return TrialResult(TrialState.FAILED, params={**params, **sampled_params(sampling)},
                           error=f"training failed: {type(exc).__name__}: {exc}",
                           train_seconds=time.perf_counter() - started, n_params=count_params(model))
    raise_if_stop_requested()
    if watch.best_weights is not None and options.restore_best_weights:
        model.set_weights(watch.best_weights)
    history = _with_returned(watch.history, returned, setup.objective)
    result = TrialResult(
        TrialState.FAILED, params={**params, **sampled_params(sampling)}, history=history,
        epochs_run=max(watch.epochs, 1 if history else 0), train_seconds=time.perf_counter() - started,
        n_params=count_params(model), model=model, stopped_at_deadline=watch.out_of_time,
    )
    if setup.objective not in history:
        reported = ", ".join(watch.missing or sorted(history)) or "none"
        result.error = (f"objective '{setup.objective}' is not among the metrics the model reports ({reported}); "
                        "compile the model with it, report it in the logs your fit sends to the callbacks, "
                        "or change the objective")
        result.stops_search = True  # every configuration would fail the same way
        return result
    losses = history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        result.error = f"loss became {losses[-1]} at epoch {len(losses)} (diverged)"
        return result
    result.best_epoch = _best_epoch(history[setup.objective], setup)
    if result.best_epoch is None:
        result.error = f"objective '{setup.objective}' never had a finite value"
        return result
    result.value = history[setup.objective][result.best_epoch - 1]
    result.state = TrialState.PRUNED if watch.pruned else TrialState.COMPLETE
    return result


def _with_returned(history: dict[str, list[float]], returned: object, objective: str) -> dict[str, list[float]]:
    """The epochs' logs, completed by what a user's ``fit`` returned (as Keras Tuner accepts).

    A number is the objective's final value; a dict maps metric names to final
    values. A ``History`` adds nothing: its epochs are already in the logs.
    """
    if isinstance(returned, bool) or returned is None:
        return history
    if isinstance(returned, (int, float, np.floating, np.integer)):
        returned = {objective: float(returned)}
    if not isinstance(returned, dict):
        return history
    merged = dict(history)
    for name, value in returned.items():
        with contextlib.suppress(TypeError, ValueError):
            merged.setdefault(name, [float(value)])
    return merged


def sampled_params(sampling: Sampling) -> dict[str, Any]:
    """What a user's code sampled through ``hp`` (in build or in fit), without Keras Tuner's bookkeeping."""
    return {k: v for k, v in dict(sampling.hp.values).items() if not k.startswith("tuner/")}


def count_params(model: keras.Model) -> int:
    """The model's parameter count; 0 for a model that was never built (a fit that failed early)."""
    try:
        return int(model.count_params())
    except Exception:
        return 0


def refit(source: ModelSource, params: dict[str, Any], data: TrialData, *, epochs: int, seed: int, objective: str,
          direction: Direction) -> keras.Model:
    """Train the configuration ``params`` on ``data``'s training split for ``epochs`` epochs, seeded.

    No validation data: the epoch count comes from the search. Callbacks that
    watch a validation metric (reduce-on-plateau) have nothing to watch and are
    left out; a cosine schedule still applies.
    """
    keras.utils.set_random_seed(seed)
    sampling = FixedSampling(params)
    _, model = source.build(sampling, data.spec)
    options = source.fit_options(dict(params), epochs, objective, direction)
    callbacks = [c for c in options.callbacks if not isinstance(c, keras.callbacks.ReduceLROnPlateau)]
    source.fit(sampling, model, data, batch_size=options.batch_size, seed=seed, epochs=epochs, callbacks=callbacks,
               verbose=0, validate=False, augmentation=options.augmentation, **_phases(options))
    return model


def _phases(options: FitOptions) -> dict[str, Any]:
    """A preset's second phase of training (only presets have one; a user's own fit is given nothing new)."""
    return {"fine_tune": options.fine_tune} if options.fine_tune is not None else {}


