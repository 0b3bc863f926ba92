"""The ``tabular`` preset: a modern tabular network family, its space and its builder.

What closed the gap between MLPs and gradient boosting in 2022-2025, as searched choices: robust or quantile
scaling, numerical embeddings (periodic, periodic with phases, piecewise-linear), categories one-hot up to a
size and embedded above it, a learned scale per input, label smoothing, Adam or AdamW with weight decay,
learning-rate and dropout schedules, and TabM's efficient ensemble of ``k`` members sharing one body.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kerashpo.spaces.choices import (
    Direction,
    DropoutSchedule,
    InputScaling,
    NumericEmbedding,
    PublishedDefaults,
    TabularSchedule,
    Task,
)
from kerashpo.spaces.data_spec import DataSpec, NumericInput
from kerashpo.spaces.params import Bool, Categorical, Fixed, Float, Int
from kerashpo.spaces.preset import FitOptions, Preset
from kerashpo.spaces.presets.inputs import raw_inputs
from kerashpo.spaces.presets.mlp import output_and_compile
from kerashpo.spaces.presets.tabular import layers
from kerashpo.spaces.presets.tabular.defaults import published, starting_points
from kerashpo.spaces.space import Space

ACTIVATIONS = ("relu", "selu", "mish", "gelu", "silu")
OPTIMIZERS = ("adam", "adamw")
ENSEMBLE_SIZES = (1, 4, 8, 16, 32)
PERIODIC = (NumericEmbedding.PERIODIC.value, NumericEmbedding.PERIODIC_BIAS.value)
EMBEDDED = (*PERIODIC, NumericEmbedding.PIECEWISE_LINEAR.value)
# Flat-then-cosine schedules hold for this share of the epoch budget; warm-up takes the first tenth.
FLAT_SHARE = 0.5
WARMUP_SHARE = 0.1
# Dropout schedules hold the rate over this many equal stretches of the budget (a change recompiles the training
# step), each at the schedule's value in its middle.
DROPOUT_STEPS = 8

# What the builder falls back to for a parameter a narrowed space leaves out: a plain MLP.
DEFAULTS: dict[str, Any] = {
    "scaling": InputScaling.ROBUST.value,
    "numeric_embedding": NumericEmbedding.NONE.value,
    "n_frequencies": 16,
    "frequency_scale": 0.1,
    "d_embedding": 8,
    "n_bins": 16,
    "one_hot_max": 9,
    "category_embedding": 8,
    "front_scale": False,
    "n_blocks": 3,
    "d_block": 256,
    "activation": "relu",
    "dropout": 0.0,
    "dropout_schedule": DropoutSchedule.CONSTANT.value,
    "k": 1,
    "label_smoothing": 0.0,
    "optimizer": "adamw",
    "weight_decay": 1e-4,
    "learning_rate": 1e-3,
    "beta_2": 0.999,
    "lr_schedule": TabularSchedule.CONSTANT.value,
    "batch_size": 256,
}

VOCABULARY = {
    "scaling": InputScaling.values(),
    "numeric_embedding": NumericEmbedding.values(),
    "activation": ACTIVATIONS,
    "dropout_schedule": DropoutSchedule.values(),
    "optimizer": OPTIMIZERS,
    "lr_schedule": TabularSchedule.values(),
}


def tabular_space(max_blocks: int = 4, max_width: int = 1024, batch_sizes: tuple[int, ...] = (64, 128, 256, 512),
                  classes: bool = True) -> Space:
    """The family's choices; label smoothing only where there are classes to smooth."""
    params: list[Any] = [
        Categorical("scaling", choices=InputScaling.values()),
        Categorical("numeric_embedding", choices=NumericEmbedding.values()),
        Int("n_frequencies", low=8, high=64, log=True, when={"numeric_embedding": PERIODIC}),
        Float("frequency_scale", low=0.01, high=10.0, log=True, when={"numeric_embedding": PERIODIC}),
        Int("d_embedding", low=4, high=32, log=True, when={"numeric_embedding": EMBEDDED}),
        Categorical("n_bins", choices=(4, 8, 16, 32),
                    when={"numeric_embedding": (NumericEmbedding.PIECEWISE_LINEAR.value,)}),
        Int("one_hot_max", low=2, high=32, log=True),
        Int("category_embedding", low=4, high=16, log=True),
        Bool("front_scale"),
        Int("n_blocks", low=1, high=max_blocks),
        Int("d_block", low=64, high=max_width, log=True),
        Categorical("activation", choices=ACTIVATIONS),
        Float("dropout", low=0.0, high=0.5),
        Categorical("dropout_schedule", choices=DropoutSchedule.values()),
        Categorical("k", choices=ENSEMBLE_SIZES),
        Categorical("optimizer", choices=OPTIMIZERS),
        Float("weight_decay", low=1e-5, high=1e-1, log=True, when={"optimizer": ("adamw",)}),
        # RealMLP-TD's regression default (0.0125) sits above the classification range.
        Float("learning_rate", low=1e-4, high=1e-2 if classes else 2e-2, log=True),
        Categorical("beta_2", choices=(0.95, 0.999)),
        Categorical("lr_schedule", choices=TabularSchedule.values()),
        Categorical("batch_size", choices=batch_sizes),
    ]
    if classes:
        params.append(Categorical("label_smoothing", choices=(0.0, 0.05, 0.1, 0.2)))
    return Space(params, VOCABULARY)


def tabular_space_for(rows: int, task: Task | None = None) -> Space:
    """The default ranges for ``rows`` training rows: smaller bodies and batches for small tables."""
    max_blocks = 3 if rows < 2000 else 4
    max_width = 512 if rows < 2000 else 1024
    batch_sizes = tuple(size for size in (32, 64, 128, 256, 512) if size <= max(32, rows // 4))
    return tabular_space(max_blocks, max_width, batch_sizes, classes=task is not Task.REGRESSION)


def _value(params: dict[str, Any], name: str) -> Any:
    return params.get(name, DEFAULTS[name])


def build_tabular(params: dict[str, Any], spec: DataSpec) -> Any:
    """A compiled tabular network for ``spec`` from the sampled ``params``: raw columns in, predictions out."""
    import keras

    from kerashpo.spaces.presets.tabular.losses import task_loss

    inputs, tensors = raw_inputs(spec)
    parts: list[Any] = []
    columns = layers.numeric_columns(spec, tensors)
    embedding = NumericEmbedding(_value(params, "numeric_embedding"))
    if columns is not None:
        raw, quantiles = columns
        numeric = [item for item in spec.inputs if isinstance(item, NumericInput)]
        mean = np.concatenate([np.ravel(item.mean) for item in numeric]).astype("float32")
        std = np.sqrt(np.concatenate([np.ravel(item.variance) for item in numeric])).astype("float32")
        x = layers.scaled(raw, quantiles, InputScaling(_value(params, "scaling")), mean, std)
        parts.append(layers.numeric_embedding(
            x, quantiles, raw, embedding, n_frequencies=int(_value(params, "n_frequencies")),
            frequency_scale=float(_value(params, "frequency_scale")), d_embedding=int(_value(params, "d_embedding")),
            n_bins=int(_value(params, "n_bins"))))
    parts += layers.categories(spec, tensors, int(_value(params, "one_hot_max")),
                               int(_value(params, "category_embedding")))
    x = parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="tabular_features")(parts)
    if _value(params, "front_scale"):
        x = layers.front_scale(x)
    k = int(_value(params, "k"))
    x = layers.backbone(x, k=k, n_blocks=int(_value(params, "n_blocks")), d_block=int(_value(params, "d_block")),
                        activation=_value(params, "activation"), dropout=float(_value(params, "dropout")))
    smoothing = float(_value(params, "label_smoothing")) if spec.task is not Task.REGRESSION else 0.0
    return output_and_compile(inputs, x, spec, params, name="tabular",
                              head=lambda features, units, activation: layers.ensemble_head(
                                  features, units, activation, k),
                              optimizer=_optimizer(params), loss=task_loss(spec.task, smoothing))


def _optimizer(params: dict[str, Any]) -> Any:
    import keras

    options = {"learning_rate": float(_value(params, "learning_rate")), "beta_2": float(_value(params, "beta_2"))}
    if _value(params, "optimizer") == "adamw":
        return keras.optimizers.AdamW(weight_decay=float(_value(params, "weight_decay")), **options)
    return keras.optimizers.Adam(**options)


def learning_rate_factor(schedule: TabularSchedule, progress: float) -> float:
    """The share of the learning rate at ``progress`` (0 to 1) of the epoch budget.

    ``coslog4`` is RealMLP-TD's (pytabkit ``CoslogFunc(4)``): ``(1 - cos(2 pi log2(1 + 15 t))) / 2``.
    """
    t = min(max(progress, 0.0), 1.0)
    cosine = 0.5 * (1.0 + math.cos(math.pi * t))
    if schedule is TabularSchedule.COSINE:
        return cosine
    if schedule is TabularSchedule.WARMUP_COSINE:
        if t < WARMUP_SHARE:
            return (t + 1.0 / 64) / WARMUP_SHARE
        return 0.5 * (1.0 + math.cos(math.pi * (t - WARMUP_SHARE) / (1.0 - WARMUP_SHARE)))
    if schedule is TabularSchedule.FLAT_COSINE:
        return 1.0 if t < FLAT_SHARE else 0.5 * (1.0 + math.cos(math.pi * (t - FLAT_SHARE) / (1.0 - FLAT_SHARE)))
    if schedule is TabularSchedule.COSLOG4:
        return 0.5 * (1.0 - math.cos(2.0 * math.pi * math.log2(1.0 + 15.0 * t)))
    return 1.0


def dropout_factor(schedule: DropoutSchedule, progress: float) -> float:
    """The share of the dropout rate at ``progress`` of the epoch budget, in ``DROPOUT_STEPS`` steps."""
    if schedule is DropoutSchedule.CONSTANT:
        return 1.0
    t = (min(math.floor(max(progress, 0.0) * DROPOUT_STEPS), DROPOUT_STEPS - 1) + 0.5) / DROPOUT_STEPS
    return 1.0 if t < FLAT_SHARE else 0.5 * (1.0 + math.cos(math.pi * (t - FLAT_SHARE) / (1.0 - FLAT_SHARE)))


def tabular_fit_options(params: dict[str, Any], max_epochs: int, monitor: str, direction: Direction) -> FitOptions:
    """Batch size and the learning-rate and dropout schedules as callbacks, over the epoch budget."""
    import keras

    from kerashpo.spaces.presets.tabular.schedules import DropoutScheduler

    initial = float(_value(params, "learning_rate"))
    schedule = TabularSchedule(_value(params, "lr_schedule"))
    callbacks: list[Any] = []
    if schedule is not TabularSchedule.CONSTANT:
        # Evaluated at the middle of each epoch, so coslog4 and warm-up never train an epoch at zero.
        callbacks.append(keras.callbacks.LearningRateScheduler(
            lambda epoch: initial * max(learning_rate_factor(schedule, (epoch + 0.5) / max(1, max_epochs)), 1e-3)))
    dropout = DropoutSchedule(_value(params, "dropout_schedule"))
    if dropout is not DropoutSchedule.CONSTANT and float(_value(params, "dropout")) > 0:
        callbacks.append(DropoutScheduler(lambda epoch: dropout_factor(dropout, epoch / max(1, max_epochs))))
    return FitOptions(batch_size=int(_value(params, "batch_size")), callbacks=callbacks)


TABULAR = Preset(name="tabular", space=tabular_space(), build=build_tabular, fit_options=tabular_fit_options,
                 data_kinds=("tabular",), space_for_rows=tabular_space_for, starting_points=starting_points(),
                 starting_points_for=starting_points)


def published_preset(name: PublishedDefaults) -> Preset:
    """The ``tabular`` preset fixed at a published configuration (its values for the task once the data is
    known): one trial, nothing sampled."""
    def fixed(task: Task | None = None) -> Space:
        return Space([Fixed(param, value=value) for param, value in published(name, task).items()], VOCABULARY)

    return Preset(name=f"tabular ({name} defaults)", space=fixed(), build=build_tabular,
                  fit_options=tabular_fit_options, data_kinds=TABULAR.data_kinds,
                  space_for_rows=lambda rows, task: fixed(task), ensembles_by_default=False)
