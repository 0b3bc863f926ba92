"""What every trial and the export ask of a built model: compiled, and fed inputs and targets it takes."""

from __future__ import annotations

from typing import Any

import keras

from kerashpo.spaces import DataSpec
from kerashpo.spaces.choices import Task


def wants_one_hot(model: Any, spec: DataSpec) -> bool:
    """Whether ``model`` was compiled with (non-sparse) categorical cross-entropy.

    Keras Tuner's own examples compile with ``categorical_crossentropy``; the
    data here holds class indices, so a build function written for one-hot
    labels runs unchanged.
    """
    loss = getattr(model, "loss", None)  # an uncompiled model (a HyperModel that trains it itself) has none
    name = loss if isinstance(loss, str) else getattr(loss, "name", type(loss).__name__)
    return spec.task is Task.MULTICLASS and str(name).lower() in ("categorical_crossentropy", "categoricalcrossentropy")


def encode_targets(model: Any, y: Any, spec: DataSpec) -> Any:
    """Targets as the model's head gives its outputs: one-hot for a categorical loss, a column for binary.

    A binary head outputs (rows, 1); Keras's loss lines up a flat target by itself, but its metrics (the
    log-loss objective among them) need the same rank.
    """
    if wants_one_hot(model, spec):
        return keras.utils.to_categorical(y, spec.output_units)
    if spec.task is Task.BINARY and getattr(y, "ndim", 0) == 1:
        return y.reshape(-1, 1)
    return y


def model_inputs(x: Any) -> Any:
    """``x`` as Keras takes it: string columns become string tensors (Keras refuses object arrays)."""
    if not isinstance(x, dict) or all(column.dtype != object for column in x.values()):
        return x
    import tensorflow as tf  # text columns are looked up inside the model, on TensorFlow alone

    return {name: tf.constant(column.astype(str)) if column.dtype == object else column for name, column in x.items()}


def check_model(model: Any, compiled: bool = True) -> None:
    """A builder must return a keras.Model, compiled unless its HyperModel's own fit trains it."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"returned {type(model).__name__}, not a keras.Model")
    if compiled and getattr(model, "optimizer", None) is None:
        raise TypeError("returned an uncompiled model; call model.compile(optimizer=..., loss=..., metrics=...) "
                        "before returning it")
