"""How a trial scores its validation split after each epoch: in large batches, eagerly until tracing pays.

Keras's own validation (``fit(validation_data=...)``) traces an evaluation step in the first epoch, inside the
loop that runs ``steps_per_execution`` batches per call, a large share of a short trial (benchmarks/overhead.py),
while most trials of a pruned search stop after a few epochs. Here the validation split runs in large batches
through a one-batch step (less to trace), and eagerly at first: eager evaluation costs nothing up front but more
per epoch, so a trial switches to the traced step once its eager time reaches an estimate of the tracing cost
(rent or buy: never much more than the better choice made in hindsight).
"""

from __future__ import annotations

import time
from typing import Any, Protocol, runtime_checkable

import keras
import numpy as np

# Rows of inputs per validation batch: large batches cost a fraction of many small ones in either mode.
VALIDATION_BATCH_BYTES = 4 * 2**20
MAX_VALIDATION_BATCH = 2048
# What tracing the one-batch evaluation step costs, as a share of tracing the training step (measured on dense
# and convolutional presets; BENCHMARKS.md, section 8): the estimate eager validation is held to.
EVALUATION_TRACE_SHARE = 0.25


def validation_batch_size(x: Any, batch_size: int) -> int:
    """Rows per validation batch: about ``VALIDATION_BATCH_BYTES`` of inputs, never fewer than training uses.

    The metrics are means over rows, so the batch size changes no figure; inference-mode layers (batch
    normalization, dropout) do not depend on it either.
    """
    first_rows = [np.asarray(column[:1]) for column in (x.values() if isinstance(x, dict) else [x])]
    row_bytes = sum(64 if row.dtype == object else row.nbytes for row in first_rows)  # strings: a guess
    return max(batch_size, min(MAX_VALIDATION_BATCH, VALIDATION_BATCH_BYTES // max(1, row_bytes)))


class Validation(keras.callbacks.Callback):
    """Scores ``batches`` after every epoch and adds the figures to the epoch's logs as ``val_<metric>``.

    Put it first among the callbacks: the ones after it (early stopping, pruning, the history) read the figures.
    Its evaluation step is its own (the model's ``test_function`` is left as it was): one batch per call, eager
    until the eager time spent reaches ``EVALUATION_TRACE_SHARE`` of what tracing the training step cost (the
    first epoch's training time less the fastest later one's). A trial stopped after its first epoch traces no
    evaluation at all.
    """

    def __init__(self, batches: Any) -> None:
        super().__init__()
        self.batches = batches
        self.eager = True
        self.eager_seconds = 0.0
        self.training_seconds: list[float] = []
        self._function: Any = None
        self._epoch_started = 0.0

    def on_train_begin(self, logs: Any = None) -> None:
        # Anew for every fit: a recompiled model (the fine-tuning phase) has new metrics to capture.
        self._function = self._eager_step() if self.eager else None

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        started = time.perf_counter()
        self.training_seconds.append(started - self._epoch_started)
        scores = self._evaluate()
        if logs is not None:
            logs.update({f"val_{name}": value for name, value in scores.items()})
        if self.eager:
            self.eager_seconds += time.perf_counter() - started
            if len(self.training_seconds) >= 2:
                tracing = self.training_seconds[0] - min(self.training_seconds[1:])
                if self.eager_seconds >= EVALUATION_TRACE_SHARE * tracing:
                    self.eager, self._function = False, None  # the next evaluation traces its step

    def score_now(self) -> dict[str, float]:
        """The validation figures (``val_<metric>``) now, inside an epoch (a rung before the epoch ends); the
        epoch's training metrics, which an evaluation resets, are put back as they were."""
        started = time.perf_counter()
        variables = self.model.metrics_variables
        state = [variable.numpy() for variable in variables]
        try:
            return {f"val_{name}": value for name, value in self._evaluate().items()}
        finally:
            for variable, value in zip(variables, state):
                variable.assign(value)
            if self.eager:
                self.eager_seconds += time.perf_counter() - started

    def _evaluate(self) -> dict[str, float]:
        model = self.model
        saved = model.test_function, model.steps_per_execution
        model.test_function, model.steps_per_execution = self._function, 1
        try:
            return dict(model.evaluate(self.batches, verbose=0, return_dict=True))
        finally:
            self._function = model.test_function  # made by evaluate the first time it is None
            model.test_function, model.steps_per_execution = saved

    def _eager_step(self) -> Any:
        model = self.model
        saved = model.test_function, model.run_eagerly
        model.run_eagerly = True  # read only while the function is made
        try:
            model.make_test_function(force=True)
            return model.test_function
        finally:
            model.test_function, model.run_eagerly = saved


@runtime_checkable
class ScoresInsideEpochs(Protocol):
    """A callback that asks for validation figures before an epoch ends (the trial runner's rungs)."""

    def score_with(self, validation: Validation) -> None: ...
