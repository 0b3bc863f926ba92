"""The ``mlp`` preset: a dense network for tabular data, and its builder."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from kerashpo.spaces.choices import Direction, Task
from kerashpo.spaces.data_spec import DataSpec
from kerashpo.spaces.params import Bool, Categorical, Float, Int
from kerashpo.spaces.preset import FitOptions, Preset
from kerashpo.spaces.presets.inputs import encoded_features, raw_inputs
from kerashpo.spaces.space import Space
from kerashpo.spaces.tasks import loss_and_metrics

MAX_DEPTH = 6
ACTIVATIONS = ("relu", "leaky_relu", "elu", "selu", "gelu", "tanh")
INITIALIZERS = ("glorot_uniform", "he_normal", "lecun_normal")
OPTIMIZERS = ("adam", "adamw", "nadam", "rmsprop", "sgd")
SCHEDULES = ("constant", "cosine", "reduce_on_plateau")
# Batches per call into the compiled training step. Small models on small data spend much of a step in
# Python; several batches per call pay that once (benchmarks/overhead.py).
# Epoch-level callbacks (early stopping, pruning, schedules) are unaffected.
STEPS_PER_EXECUTION = 32

# What the builder falls back to for a parameter a narrowed space leaves out.
DEFAULTS: dict[str, Any] = {
    "n_layers": 2,
    "units": 128,
    "activation": "relu",
    "dropout": 0.0,
    "batch_norm": False,
    "l1": 0.0,
    "l2": 0.0,
    "initializer": "glorot_uniform",
    "optimizer": "adam",
    "momentum": 0.9,
    "learning_rate": 1e-3,
    "lr_schedule": "constant",
    "clipnorm": 0.0,
    "batch_size": 32,
}


def training_params(min_learning_rate: float = 1e-4) -> list[Any]:
    """Optimizer, schedule, clipping and batch size: shared by every preset."""
    return [
        Categorical("optimizer", choices=OPTIMIZERS),
        Float("momentum", low=0.5, high=0.99, when={"optimizer": ("sgd",)}),
        Float("learning_rate", low=min_learning_rate, high=3e-2, log=True),
        Categorical("lr_schedule", choices=SCHEDULES),
        # 0.0 means no clipping.
        Categorical("clipnorm", choices=(0.0, 1.0, 5.0)),
        Categorical("batch_size", choices=(16, 32, 64, 128)),
    ]


def regularisation_params() -> list[Any]:
    return [
        Float("dropout", low=0.0, high=0.5),
        Bool("batch_norm"),
        Bool("l1_enabled"),
        Float("l1", low=1e-6, high=1e-2, log=True, when={"l1_enabled": (True,)}),
        Bool("l2_enabled"),
        Float("l2", low=1e-6, high=1e-2, log=True, when={"l2_enabled": (True,)}),
    ]


VOCABULARY = {
    "activation": ACTIVATIONS,
    "initializer": INITIALIZERS,
    "optimizer": OPTIMIZERS,
    "lr_schedule": SCHEDULES,
}


def depth_params(depth: str, width: str, max_depth: int, low: int, high: int, min_depth: int = 1) -> list[Any]:
    """A depth and a width per level (``<width>_k``), each width existing only when the depth reaches it."""
    return [Int(depth, low=min_depth, high=max_depth)] + [
        Int(f"{width}_{k}", low=low, high=high, log=True, when={depth: tuple(range(k, max_depth + 1))})
        for k in range(1, max_depth + 1)
    ]


def mlp_space(max_depth: int = MAX_DEPTH, max_units: int = 512, min_learning_rate: float = 1e-4) -> Space:
    layer = [
        Categorical("activation", choices=ACTIVATIONS),
        Categorical("initializer", choices=INITIALIZERS),
    ]
    # Depth 0 is the linear (logistic) model on the same inputs: the search can pick the simple answer.
    return Space(depth_params("n_layers", "units", max_depth, 16, max_units, min_depth=0) + layer
                 + regularisation_params() + training_params(min_learning_rate), VOCABULARY)


def mlp_space_for_rows(rows: int, task: Task | None = None) -> Space:
    """The default ranges, sized for ``rows`` training rows.

    A 100-row table cannot fit, or rank in a short budget, a six-layer network of 500 units, and a slow
    learning rate makes few updates per epoch there: depth, width and the slowest learning rate follow
    the data. A space the user writes keeps its own ranges.
    """
    max_depth = 2 if rows < 300 else 3 if rows < 2000 else 4 if rows < 20000 else MAX_DEPTH
    max_units = min(512, max(32, 2 ** math.ceil(math.log2(max(rows, 2) / 2))))
    return mlp_space(max_depth, max_units, min_learning_rate=1e-3 if rows < 1000 else 1e-4)


def _value(params: dict[str, Any], name: str) -> Any:
    return params.get(name, DEFAULTS[name])


def regularizer(params: dict[str, Any]) -> Any:
    import keras

    # An L1/L2 strength switched off is inactive, so it is absent from params.
    l1, l2 = float(params.get("l1", 0.0)), float(params.get("l2", 0.0))
    return keras.regularizers.L1L2(l1=l1, l2=l2) if (l1 or l2) else None


def make_optimizer(params: dict[str, Any]) -> Any:
    import keras

    name = _value(params, "optimizer")
    options: dict[str, Any] = {"learning_rate": float(_value(params, "learning_rate"))}
    clipnorm = float(_value(params, "clipnorm") or 0.0)
    if clipnorm > 0:
        options["clipnorm"] = clipnorm
    if name == "sgd":
        return keras.optimizers.SGD(momentum=float(_value(params, "momentum")), nesterov=True, **options)
    classes = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "nadam": keras.optimizers.Nadam,
        "rmsprop": keras.optimizers.RMSprop,
    }
    return classes[name](**options)


def output_and_compile(inputs: Any, x: Any, spec: DataSpec, params: dict[str, Any], name: str,
                       head_regularizer: Any = None, head: Callable[[Any, int, str | None], Any] | None = None,
                       optimizer: Any = None, loss: Any = None) -> Any:
    """Task head in float32, target de-scaling for regression, then compile.

    ``head(x, units, activation)`` makes the output layer (a dense layer by default), ``optimizer`` and
    ``loss`` replace the ones that follow from ``params`` and the task.
    """
    import keras

    def dense_head(features: Any, units: int, activation: str | None) -> Any:
        return keras.layers.Dense(units, activation=activation, dtype="float32", name="head",
                                  kernel_regularizer=head_regularizer)(features)

    make_head = head or dense_head
    if spec.task is Task.MULTICLASS:
        outputs = make_head(x, spec.output_units, "softmax")
    elif spec.task is Task.BINARY:
        outputs = make_head(x, 1, "sigmoid")
    else:
        outputs = make_head(x, 1, None)
        # The network learns a standardised target; the model answers in raw units.
        outputs = keras.layers.Rescaling(scale=spec.target_std, offset=spec.target_mean, dtype="float32",
                                         name="target_scale")(
            outputs
        )
    model = keras.Model(inputs, outputs, name=name)
    task_loss, metrics = loss_and_metrics(spec.task)
    # Keras's torch backend runs one batch per call.
    model.compile(optimizer=optimizer or make_optimizer(params), loss=loss or task_loss, metrics=metrics,
                  steps_per_execution=1 if keras.backend.backend() == "torch" else STEPS_PER_EXECUTION)
    return model


def build_mlp(params: dict[str, Any], spec: DataSpec) -> Any:
    """A compiled dense network for ``spec`` from the sampled ``params``."""
    import keras

    inputs, tensors = raw_inputs(spec)
    x = encoded_features(spec, tensors)
    batch_norm = bool(_value(params, "batch_norm"))
    dropout = float(_value(params, "dropout"))
    for k in range(1, int(_value(params, "n_layers")) + 1):  # none at depth 0
        x = keras.layers.Dense(
            int(params.get(f"units_{k}", DEFAULTS["units"])),
            kernel_initializer=_value(params, "initializer"),
            kernel_regularizer=regularizer(params),
            use_bias=not batch_norm,
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation(_value(params, "activation"))(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout)(x)
    depth = int(_value(params, "n_layers"))
    # Without hidden layers the head is the whole (linear) model: the sampled L1/L2 penalty applies to it.
    return output_and_compile(inputs, x, spec, params, name="mlp" if depth else "linear",
                              head_regularizer=regularizer(params) if depth == 0 else None)


def mlp_fit_options(params: dict[str, Any], max_epochs: int, monitor: str, direction: Direction) -> FitOptions:
    """Batch size and the learning-rate schedule as callbacks."""
    import keras

    schedule = _value(params, "lr_schedule")
    initial = float(_value(params, "learning_rate"))
    callbacks: list[Any] = []
    if schedule == "cosine":
        callbacks.append(
            keras.callbacks.LearningRateScheduler(
                lambda epoch: initial * 0.5 * (1.0 + math.cos(math.pi * epoch / max(1, max_epochs)))
            )
        )
    elif schedule == "reduce_on_plateau":
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor, mode=direction.keras_mode, factor=0.5, patience=3,
                min_lr=initial * 1e-3,
            )
        )
    return FitOptions(batch_size=int(_value(params, "batch_size")), callbacks=callbacks)


# The simple answers a search tries first, before its sampler starts: a linear (logistic) model with a
# little L2, then one hidden layer of 64 units with Adam at 1e-3. What a space does not admit is sampled.
LINEAR = {"n_layers": 0, "l1_enabled": False, "l2_enabled": True, "l2": 1e-4, "dropout": 0.0, "batch_norm": False,
          "activation": "relu", "initializer": "glorot_uniform", "optimizer": "adam", "learning_rate": 1e-2,
          "lr_schedule": "constant", "clipnorm": 0.0, "batch_size": 32}
SMALL_NETWORK = {**LINEAR, "n_layers": 1, "units_1": 64, "l2_enabled": False, "initializer": "he_normal",
                 "learning_rate": 1e-3}

MLP = Preset(name="mlp", space=mlp_space(), build=build_mlp, fit_options=mlp_fit_options,
             data_kinds=("tabular", "image"), space_for_rows=mlp_space_for_rows,
             starting_points=(LINEAR, SMALL_NETWORK))
