"""The linear model, fitted exactly: the simple answer as a candidate for what ships.

The search's depth-0 trial is this model trained by gradient descent for a few
epochs, with a sampled penalty. Here the same Keras model (the ``mlp`` preset's
inputs and head, so it takes the trials' raw inputs and averages with them) gets
the weights scikit-learn's solver finds on the network's own encoded inputs of
the training split: logistic regression for classes, ``RidgeCV`` for regression,
the estimators the run's baseline uses. Its validation score is not the best of
a search, so it carries no winner's curse.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kerashpo.spaces.choices import Task
from kerashpo.spaces.data_spec import DataSpec

# Wider inputs (large images) would make the exact fit slow and a linear model on raw pixels is no candidate there.
MAX_FEATURES = 4096


def linear_estimator(task: Task, seed: int) -> tuple[Any, str]:
    """scikit-learn's linear model for ``task`` and its name: the baseline's and the candidate's."""
    from sklearn.linear_model import LogisticRegression, RidgeCV

    if task is Task.REGRESSION:
        return RidgeCV(alphas=np.logspace(-3, 3, 13)), "RidgeCV"
    return LogisticRegression(max_iter=2000, random_state=seed), "LogisticRegression"


def linear_architecture(spec: DataSpec, like: Any = None) -> Any | None:
    """The ``mlp`` preset's depth-0 model on ``spec``'s inputs, untrained; None where its encoded inputs are
    wider than ``MAX_FEATURES`` or it would not take the same inputs as the model ``like`` (a user's builder)."""
    from kerashpo.spaces.presets.mlp import build_mlp

    model = build_mlp({"n_layers": 0}, spec)
    if like is not None and _input_signature(model) != _input_signature(like):
        return None
    if int(model.get_layer("head").input.shape[-1]) > MAX_FEATURES:
        return None
    return model


def _input_signature(model: Any) -> list[tuple[str, tuple[Any, ...], str]]:
    return sorted((t.name, tuple(t.shape), str(t.dtype)) for t in model.inputs)


def fitted_linear_model(spec: DataSpec, x_train: Any, y_train: np.ndarray, seed: int,
                        like: Any = None) -> tuple[str, Any] | None:
    """The estimator's name and a compiled Keras linear model (``linear_architecture``) with the exact solution
    on the training rows; None where there is none to give (see ``linear_architecture``; a class absent from
    the training rows)."""
    import keras
    from threadpoolctl import threadpool_limits

    from kerashpo.search.models import model_inputs

    model = linear_architecture(spec, like)
    if model is None:
        return None
    # A category of many values reaches the head through an (untrained) embedding: a fixed random projection,
    # drawn from the run's seed so that the same run fits the same model.
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Embedding):
            layer.set_weights([rng.uniform(-0.05, 0.05, w.shape).astype("float32") for w in layer.get_weights()])
    head = model.get_layer("head")
    features = keras.Model(model.input, head.input)
    encoded = np.asarray(features.predict(model_inputs(x_train), verbose=0), dtype="float64")
    estimator, name = linear_estimator(spec.task, seed)
    y = np.asarray(y_train).reshape(-1)
    # One BLAS thread, as for the baseline: faster on these small matrices beside TensorFlow's threads.
    with threadpool_limits(limits=1, user_api="blas"):
        estimator.fit(encoded, y)
    if spec.task is Task.REGRESSION:
        # The head answers in standardised units and the model's last layer rescales them.
        kernel = np.reshape(estimator.coef_, (-1, 1)) / spec.target_std
        bias = (np.reshape(estimator.intercept_, (1,)) - spec.target_mean) / spec.target_std
    else:
        if not np.array_equal(estimator.classes_, np.arange(max(spec.output_units, 2))):
            return None
        # Binary: one sigmoid column, the positive class's logit; multiclass: one softmax column per class.
        kernel, bias = estimator.coef_.T, estimator.intercept_
    head.set_weights([kernel.astype("float32"), np.asarray(bias, dtype="float32")])
    return name, model
