"""Loss, metrics and the default objective that follow from the task."""

from __future__ import annotations

from typing import Any

from kerashpo.spaces.choices import Direction, Task

# What a search selects on by default: continuous, and free of the L1/L2 penalty that `val_loss` includes
# (which favours weak regularization). Accuracy and AUC are reported beside it.
DEFAULT_OBJECTIVE: dict[Task, str] = {
    Task.BINARY: "val_log_loss",
    Task.MULTICLASS: "val_log_loss",
    Task.REGRESSION: "val_rmse",
}
METRIC_NAMES: dict[Task, tuple[str, ...]] = {
    Task.BINARY: ("loss", "log_loss", "accuracy", "auc"),
    Task.MULTICLASS: ("loss", "log_loss", "accuracy"),
    Task.REGRESSION: ("loss", "rmse", "mae"),
}
_MAXIMIZED = ("accuracy", "auc")


def objective_direction(objective: str) -> Direction:
    """Higher is better for accuracy and AUC; lower for losses and errors."""
    base = objective.removeprefix("val_")
    return Direction.MAXIMIZE if base in _MAXIMIZED else Direction.MINIMIZE


def loss_and_metrics(task: Task) -> tuple[str, list[Any]]:
    import keras

    if task is Task.BINARY:
        return "binary_crossentropy", [keras.metrics.BinaryCrossentropy(name="log_loss"), "accuracy",
                                       keras.metrics.AUC(name="auc")]
    if task is Task.MULTICLASS:
        return "sparse_categorical_crossentropy", [keras.metrics.SparseCategoricalCrossentropy(name="log_loss"),
                                                   "accuracy"]
    return "mse", [keras.metrics.RootMeanSquaredError(name="rmse"), keras.metrics.MeanAbsoluteError(name="mae")]
