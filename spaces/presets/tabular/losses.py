"""Label smoothing for classes, and the loss a shipped model carries instead."""

from __future__ import annotations

from typing import Any

import keras

from kerashpo.spaces.choices import Task

PACKAGE = "kerashpo"


@keras.saving.register_keras_serializable(package=PACKAGE)
class SmoothedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy against ``(1 - smoothing)`` on the true class and ``smoothing`` spread over all classes,
    for integer labels (Keras smooths one-hot labels only). RealMLP-TD trains classes so (``ls_eps = 0.1``)."""

    def __init__(self, smoothing: float = 0.1, name: str = "smoothed_sparse_categorical_crossentropy",
                 **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.smoothing = float(smoothing)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        ops = keras.ops
        classes = int(y_pred.shape[-1])
        target = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), classes)
        target = target * (1.0 - self.smoothing) + self.smoothing / classes
        return keras.losses.categorical_crossentropy(target, y_pred)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "smoothing": self.smoothing}


def task_loss(task: Task, smoothing: float) -> Any:
    """The training loss: cross-entropy (with label smoothing for classes) or squared error."""
    if task is Task.REGRESSION:
        return "mse"
    if task is Task.BINARY:
        return keras.losses.BinaryCrossentropy(label_smoothing=smoothing) if smoothing else "binary_crossentropy"
    return SmoothedSparseCategoricalCrossentropy(smoothing) if smoothing else "sparse_categorical_crossentropy"


def carries_own_loss(model: Any) -> bool:
    """Whether ``model`` was compiled with a loss of kerashpo's own, which a process without kerashpo cannot
    load: such a model ships without its training state."""
    return isinstance(getattr(model, "loss", None), SmoothedSparseCategoricalCrossentropy)
