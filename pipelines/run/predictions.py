"""The champion's test predictions, summed up small enough to log beside its test metrics: confusion counts for
classes, up to ``MAX_PAIRS`` (actual, predicted) pairs for regression. The test figure is drawn from them, so the
report needs nothing but the MLflow store."""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from kerashpo.pipelines.review.record import PREDICTIONS
from kerashpo.spaces import DataSpec
from kerashpo.spaces.choices import Task

log = logging.getLogger("kerashpo.predictions")

MAX_PAIRS = 500  # enough to see the residuals' shape; a fixed sample, so the artifact stays small


def log_test_predictions(tracker: Any, model: Any, x_test: Any, y_test: np.ndarray, spec: DataSpec,
                         class_names: list[str] | None) -> None:
    """Part of the single final evaluation; a failure here costs the figure, never the run."""
    try:
        summary = summarize_predictions(model, x_test, y_test, spec, class_names)
    except Exception as exc:
        log.warning("figures: could not summarize the test predictions (%s: %s)", type(exc).__name__, exc)
        return
    tracker.log_text(json.dumps(summary), PREDICTIONS)


def summarize_predictions(model: Any, x_test: Any, y_test: np.ndarray, spec: DataSpec,
                          class_names: list[str] | None) -> dict[str, Any]:
    from kerashpo.search.models import model_inputs

    # Eagerly, as the test metrics were: one pass does not repay tracing a predict step.
    compiled_eagerly, model.run_eagerly = model.run_eagerly, True
    try:
        outputs = np.asarray(model.predict(model_inputs(x_test), batch_size=1024, verbose=0))
    finally:
        model.run_eagerly = compiled_eagerly
    outputs = outputs.reshape(len(outputs), -1)
    y = np.asarray(y_test)
    if spec.task is Task.REGRESSION:
        rows = np.sort(np.random.default_rng(0).permutation(len(y))[:MAX_PAIRS])
        return {"task": spec.task, "rows": len(y), "actual": y[rows].astype(float).tolist(),
                "predicted": outputs[rows, 0].astype(float).tolist()}
    # A binary head gives one probability; a head of its own (a user's model) may give one per class.
    predicted = (outputs[:, 0] > 0.5).astype(int) if outputs.shape[1] == 1 else outputs.argmax(axis=1)
    n = max(spec.output_units, 2)
    labels = class_names if class_names and len(class_names) == n else [str(i) for i in range(n)]
    counts = np.zeros((n, n), dtype=int)
    np.add.at(counts, (y.astype(int), predicted), 1)
    return {"task": spec.task, "labels": labels, "confusion": counts.tolist()}
