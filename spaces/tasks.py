"""Loss, metrics and the default objective that follow from the task."""

from __future__ import annotations

from typing import Any, Literal

from spaces.data_spec import Task

Direction = Literal["maximize", "minimize"]

DEFAULT_OBJECTIVE: dict[str, str] = {
    "binary": "val_auc",
    "multiclass": "val_accuracy",
    "regression": "val_rmse",
}
METRIC_NAMES: dict[str, tuple[str, ...]] = {
    "binary": ("loss", "accuracy", "auc"),
    "multiclass": ("loss", "accuracy"),
    "regression": ("loss", "rmse", "mae"),
}
_MAXIMIZED = ("accuracy", "auc")


def objective_direction(objective: str) -> Direction:
    """Higher is better for accuracy and AUC; lower for losses and errors."""
    base = objective.removeprefix("val_")
    return "maximize" if base in _MAXIMIZED else "minimize"


def loss_and_metrics(task: Task) -> tuple[str, list[Any]]:
    import keras

    if task == "binary":
        return "binary_crossentropy", ["accuracy", keras.metrics.AUC(name="auc")]
    if task == "multiclass":
        return "sparse_categorical_crossentropy", ["accuracy"]
    return "mse", [keras.metrics.RootMeanSquaredError(name="rmse"), keras.metrics.MeanAbsoluteError(name="mae")]
