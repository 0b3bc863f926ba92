"""The trial runner shared by every driver: build, fit, stop early, prune, guard NaN."""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import keras
import numpy as np

from spaces import DataSpec
from search.results import COMPLETE, FAILED, PRUNED, TrialResult

# (epoch, best objective so far) -> True to stop the trial as pruned.
PruneCheck = Callable[[int, float], bool]

_stop = threading.Event()


def stop_requested() -> bool:
    return _stop.is_set()


def _on_interrupt(signum: int, frame: Any) -> None:
    if _stop.is_set():  # a second Ctrl-C: stop now
        raise KeyboardInterrupt
    _stop.set()


@contextlib.contextmanager
def interrupts_at_safe_points() -> Iterator[None]:
    """Ctrl-C stops training at the next batch and raises ``KeyboardInterrupt`` once fit has returned.

    Raised anywhere else, the interrupt could land inside a storage write (the
    Optuna journal's lock release turns it into a ``FileNotFoundError``) or
    inside a tracking call. A second Ctrl-C interrupts at once.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _stop.clear()
    previous = signal.signal(signal.SIGINT, _on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _stop.clear()


def raise_if_stop_requested() -> None:
    if _stop.is_set():
        raise KeyboardInterrupt


class TrialData:
    """The training and validation splits every trial of a search shares (loaded once).

    ``x_*`` is an array, or a dict of arrays by input name (string columns as
    object arrays). Trials train from ``tf.data`` pipelines over tensors made
    once per process and cached; only shuffling and batching are per trial.
    """

    def __init__(self, x_train: Any, y_train: np.ndarray, x_val: Any, y_val: np.ndarray, spec: DataSpec):
        self.x_train, self.y_train, self.x_val, self.y_val, self.spec = x_train, y_train, x_val, y_val, spec
        self._datasets: dict[tuple[str, bool], Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        # tf.data objects do not pickle; a fresh search process makes its own.
        return {**self.__dict__, "_datasets": {}}

    def arrays(self, split: str, model: Any) -> tuple[Any, Any]:
        """Inputs and targets of ``train`` or ``val`` as ``model`` takes them."""
        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_val, self.y_val)
        return model_inputs(x), encode_targets(model, y, self.spec)

    def batches(self, split: str, model: Any, batch_size: int, seed: int | None = None,
                augmentation: Any = None) -> Any:
        """A batched, prefetched ``tf.data`` pipeline; ``train`` is reshuffled every epoch (seeded).

        ``augmentation`` (a Keras layer) transforms each training batch's inputs.
        """
        import tensorflow as tf

        key = (split, wants_one_hot(model, self.spec))
        if key not in self._datasets:
            self._datasets[key] = tf.data.Dataset.from_tensor_slices(self.arrays(split, model)).cache()
        dataset = self._datasets[key]
        if split == "train":
            dataset = dataset.shuffle(len(self.y_train), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size)
        if augmentation is not None:
            dataset = dataset.map(lambda x, y: (augmentation(x, training=True), y),
                                  num_parallel_calls=tf.data.AUTOTUNE)
        return dataset.prefetch(tf.data.AUTOTUNE)


@dataclass
class TrainingSetup:
    """How every trial of a search trains: same data, objective and epoch budget."""

    data: TrialData
    objective: str
    direction: str
    max_epochs: int
    patience: int
    seed: int = 0

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b


class _StopWatch(keras.callbacks.Callback):
    """Ends training at the next batch once Ctrl-C was pressed (see ``interrupts_at_safe_points``)."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if _stop.is_set():
            self.model.stop_training = True


class _EpochWatch(keras.callbacks.Callback):
    """Tracks the best objective so far, asks the pruning check, and notices a missing metric."""

    def __init__(self, setup: TrainingSetup, should_prune: PruneCheck | None):
        super().__init__()
        self.setup, self.should_prune = setup, should_prune
        self.best: float | None = None
        self.pruned = False
        self.missing: list[str] | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        value = logs.get(self.setup.objective)
        if value is None:
            self.missing = sorted(logs)
            self.model.stop_training = True
            return
        value = float(value)
        if math.isfinite(value) and (self.best is None or self.setup.better(value, self.best)):
            self.best = value
        # Pruners see the best value so far: the trial's objective is its best epoch.
        if self.should_prune is not None and self.best is not None and self.should_prune(epoch + 1, self.best):
            self.pruned = True
            self.model.stop_training = True


def _best_epoch(values: list[float], setup: TrainingSetup) -> int | None:
    """1-based epoch of the best finite value; ties go to the earliest, as EarlyStopping keeps it."""
    best = None
    for index, value in enumerate(values):
        if math.isfinite(value) and (best is None or setup.better(value, values[best])):
            best = index
    return None if best is None else best + 1


def run_trial(
    setup: TrainingSetup,
    source: Any,
    sampling: Any,
    *,
    seed: int,
    should_prune: PruneCheck | None = None,
    on_built: Callable[[dict[str, Any]], None] | None = None,
    max_epochs: int | None = None,
) -> TrialResult:
    """Build one configuration through ``sampling``, train it, report its best epoch.

    ``source`` is a ``SpaceSource`` or ``HyperModelSource`` (a ``Preset`` is
    wrapped). ``on_built(params)`` runs once the sampled values are known, before
    training. The model comes back with the best epoch's weights (EarlyStopping
    restores them), so the objective, the checkpoint and the export all describe
    the same weights.
    """
    from search.sources import as_source

    source = as_source(source)
    epochs = max_epochs or setup.max_epochs
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    params: dict[str, Any] = {}
    try:
        params, model = source.build(sampling, setup.data.spec)
        check_model(model)
    except Exception as exc:  # a bad configuration or a user's builder failing is the trial's failure
        params = params or dict(getattr(sampling.hp, "values", {}) or {})
        if on_built is not None:
            on_built(params)
        return TrialResult(FAILED, params=params, error=f"build failed: {type(exc).__name__}: {exc}",
                           train_seconds=time.perf_counter() - started)
    if on_built is not None:
        on_built(params)
    mode = "max" if setup.direction == "maximize" else "min"
    options = source.fit_options(dict(params), epochs, setup.objective, setup.direction)
    watch = _EpochWatch(setup, should_prune)
    callbacks = [
        _StopWatch(),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.EarlyStopping(
            monitor=setup.objective, mode=mode, patience=setup.patience, restore_best_weights=True
        ),
        *options.callbacks,
        watch,
    ]
    try:
        fit = source.fit(sampling, model, setup.data, batch_size=options.batch_size, seed=seed, epochs=epochs,
                         callbacks=callbacks, verbose=0, augmentation=options.augmentation)
    except Exception as exc:
        return TrialResult(FAILED, params=params, error=f"training failed: {type(exc).__name__}: {exc}",
                           train_seconds=time.perf_counter() - started, n_params=model.count_params())
    raise_if_stop_requested()
    seconds = time.perf_counter() - started
    history = {name: [float(v) for v in values] for name, values in fit.history.items()}
    result = TrialResult(
        FAILED, params=params, history=history, epochs_run=len(history.get("loss", [])), train_seconds=seconds,
        n_params=int(model.count_params()), model=model,
    )
    if watch.missing is not None:
        result.error = (f"objective '{setup.objective}' is not among the metrics the model reports "
                        f"({', '.join(watch.missing)}); compile the model with it or change the objective")
        return result
    losses = history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        result.error = f"loss became {losses[-1]} at epoch {len(losses)} (diverged)"
        return result
    result.best_epoch = _best_epoch(history.get(setup.objective, []), setup)
    if result.best_epoch is None:
        result.error = f"objective '{setup.objective}' never had a finite value"
        return result
    result.value = history[setup.objective][result.best_epoch - 1]
    result.state = PRUNED if watch.pruned else COMPLETE
    return result


def refit(source: Any, params: dict[str, Any], data: TrialData, *, epochs: int, seed: int, objective: str,
          direction: str) -> Any:
    """Train the configuration ``params`` on ``data``'s training split for ``epochs`` epochs, seeded.

    No validation data: the epoch count comes from the search. Callbacks that
    watch a validation metric (reduce-on-plateau) have nothing to watch and are
    left out; a cosine schedule still applies.
    """
    from search.sources import FixedSampling, as_source

    source = as_source(source)
    keras.utils.set_random_seed(seed)
    sampling = FixedSampling(params)
    _, model = source.build(sampling, data.spec)
    check_model(model)
    options = source.fit_options(dict(params), epochs, objective, direction)
    callbacks = [c for c in options.callbacks if not isinstance(c, keras.callbacks.ReduceLROnPlateau)]
    source.fit(sampling, model, data, batch_size=options.batch_size, seed=seed, epochs=epochs, callbacks=callbacks,
               verbose=0, validate=False, augmentation=options.augmentation)
    return model


def wants_one_hot(model: Any, spec: DataSpec) -> bool:
    """Whether ``model`` was compiled with (non-sparse) categorical cross-entropy.

    Keras Tuner's own examples compile with ``categorical_crossentropy``; the
    data here holds class indices, so a build function written for one-hot
    labels runs unchanged.
    """
    loss = model.loss
    name = loss if isinstance(loss, str) else getattr(loss, "name", type(loss).__name__)
    return spec.task == "multiclass" and str(name).lower() in ("categorical_crossentropy", "categoricalcrossentropy")


def encode_targets(model: Any, y: Any, spec: DataSpec) -> Any:
    return keras.utils.to_categorical(y, spec.output_units) if wants_one_hot(model, spec) else y


def model_inputs(x: Any) -> Any:
    """``x`` as Keras takes it: string columns become string tensors (Keras refuses object arrays)."""
    if not isinstance(x, dict):
        return x
    import tensorflow as tf

    return {name: tf.constant(column.astype(str)) if column.dtype == object else column for name, column in x.items()}


def check_model(model: Any) -> None:
    """A builder must return a compiled keras.Model."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"returned {type(model).__name__}, not a keras.Model")
    if getattr(model, "optimizer", None) is None:
        raise TypeError("returned an uncompiled model; call model.compile(optimizer=..., loss=..., metrics=...) "
                        "before returning it")
