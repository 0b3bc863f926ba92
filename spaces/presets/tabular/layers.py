"""The parts of the tabular family: input scaling, numerical embeddings and the efficient ensemble.

Each is a composition of built-in Keras layers (``EinsumDense`` for the per-feature and per-member weights)
and ``keras.ops``, so it runs on TensorFlow, JAX and torch, and a saved model loads with
``keras.saving.load_model(..., safe_mode=True)`` in a process that has never imported kerashpo. The statistics
fitted on the training rows (medians, quantiles, bin edges) travel inside the model as constants.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

from kerashpo.spaces.choices import InputScaling, NumericEmbedding
from kerashpo.spaces.data_spec import QUANTILE_LEVELS, CategoricalInput, DataSpec, NumericInput

# Smooth clipping's bound: RealMLP's default (pytabkit ``smooth_clip_max_abs_value``).
SMOOTH_CLIP = 3.0
# Normal scores of the outermost quantile levels are cut here, as scikit-learn's QuantileTransformer does.
QUANTILE_CLIP = 1e-3
# A bin narrower than this (a value repeated across quantiles) acts as a step.
MIN_BIN_WIDTH = 1e-6


def numeric_columns(spec: DataSpec, tensors: dict[str, Any]) -> tuple[Any, np.ndarray] | None:
    """The numeric inputs side by side, missing values at the training median, and their quantile table."""
    import keras

    numeric = [item for item in spec.inputs if isinstance(item, NumericInput)]
    if not numeric:
        return None
    parts = [tensors[item.name] for item in numeric]
    x = parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="tabular_numeric")(parts)
    quantiles = np.concatenate([item.quantile_table() for item in numeric], axis=1)
    median = quantiles[len(QUANTILE_LEVELS) // 2]
    return keras.ops.where(keras.ops.isnan(x), median, x), quantiles


def scaled(x: Any, quantiles: np.ndarray, scaling: InputScaling, mean: np.ndarray, std: np.ndarray) -> Any:
    """The numeric columns on a common scale.

    ``robust`` follows RealMLP-TD (Holzmueller et al., NeurIPS 2024; pytabkit ``RobustScaleFactory`` and
    ``smooth_clip_func``): centre on the median, divide by the interquartile range (half the range where that
    is zero, nothing where both are), then ``x / sqrt(1 + (x / 3)^2)``. ``quantile`` maps each column through
    its training quantiles to normal scores by linear interpolation, as scikit-learn's
    ``QuantileTransformer(output_distribution="normal")`` that TabM and MLP-PLR use (on fewer quantiles).
    """
    import keras

    ops = keras.ops
    if scaling is InputScaling.STANDARD:
        return ops.multiply(ops.subtract(x, mean), (1.0 / std).astype("float32"))
    if scaling is InputScaling.ROBUST:
        median = quantiles[len(QUANTILE_LEVELS) // 2]
        quarter = len(QUANTILE_LEVELS) // 4
        spread = quantiles[-quarter - 1] - quantiles[quarter]
        spread = np.where(spread > 0, spread, 0.5 * (quantiles[-1] - quantiles[0]))
        factor = np.where(spread > 0, 1.0 / np.maximum(spread, 1e-30), 0.0).astype("float32")
        centred = ops.multiply(ops.subtract(x, median), factor)
        return ops.divide(centred, ops.sqrt(ops.add(ops.square(centred) / SMOOTH_CLIP ** 2, 1.0)))
    levels = np.clip(QUANTILE_LEVELS, QUANTILE_CLIP, 1 - QUANTILE_CLIP)
    scores = np.array([NormalDist().inv_cdf(float(level)) for level in levels], dtype="float32")
    # Interpolation as a sum of ramps: bin t adds its share of the score range as x crosses it.
    positions = _bin_positions(x, quantiles, open_ends=False)
    steps = np.broadcast_to(np.diff(scores)[None, :], (quantiles.shape[1], len(scores) - 1)).astype("float32")
    return ops.add(ops.sum(ops.multiply(positions, steps), axis=-1), scores[0])


def _bin_positions(x: Any, edges: np.ndarray, open_ends: bool) -> Any:
    """``(batch, columns, bins)``: where each value lies in each bin between consecutive ``edges`` (rows),
    0 below it, 1 above it; with ``open_ends`` the first bin extends below 0 and the last above 1."""
    import keras

    ops = keras.ops
    left = edges[:-1].T.astype("float32")  # (columns, bins)
    width = np.maximum(np.diff(edges, axis=0).T, MIN_BIN_WIDTH).astype("float32")
    position = ops.divide(ops.subtract(ops.expand_dims(x, -1), left), width)
    if not open_ends:
        return ops.clip(position, 0.0, 1.0)
    low = np.zeros_like(left)
    high = np.ones_like(left)
    low[:, 0], high[:, -1] = -np.inf, np.inf
    return ops.minimum(ops.maximum(position, low), high)


def bin_edges(quantiles: np.ndarray, n_bins: int) -> np.ndarray:
    """``n_bins + 1`` edges per column from the training quantile table, repeated edges pushed apart."""
    step = max(1, (len(QUANTILE_LEVELS) - 1) // n_bins)
    edges = quantiles[::step].astype("float64")
    # A column with few distinct values repeats edges: keep them ordered and apart so each bin has a width.
    return np.maximum.accumulate(edges + np.arange(len(edges))[:, None] * MIN_BIN_WIDTH, axis=0)


def numeric_embedding(x: Any, quantiles: np.ndarray, raw: Any, kind: NumericEmbedding, *, n_frequencies: int,
                      frequency_scale: float, d_embedding: int, n_bins: int) -> Any:
    """``(batch, features)``: each numeric column embedded, flattened.

    - ``periodic``: PLR of Gorishniy et al., "On Embeddings for Numerical Features in Tabular Deep Learning",
      NeurIPS 2022 (``rtdl_num_embeddings.PeriodicEmbeddings(lite=False)``): ``[cos(2 pi c x), sin(2 pi c x)]``
      with frequencies ``c ~ N(0, sigma)`` per column, a linear map per column, ReLU.
    - ``periodic_bias``: RealMLP-TD's PBLD (pytabkit ``PBLDEmbeddings``): ``cos(2 pi c x + b)`` with phases
      ``b ~ U(-pi, pi)``, a linear map per column to ``d - 1`` values, no activation, the value itself beside.
    - ``piecewise_linear``: PLE of the same NeurIPS 2022 paper (``rtdl_num_embeddings.PiecewiseLinearEmbeddings``):
      the raw value's position in each bin between training quantiles (open at both ends), a linear map per
      column, ReLU.
    """
    import keras

    ops = keras.ops
    n = int(quantiles.shape[1])
    if kind is NumericEmbedding.NONE:
        return x
    if kind is NumericEmbedding.PIECEWISE_LINEAR:
        edges = bin_edges(quantiles, n_bins)
        encoded = _bin_positions(raw, edges, open_ends=True)
        mapped = keras.layers.EinsumDense("bnt,ntd->bnd", output_shape=(n, d_embedding), bias_axes="nd",
                                          name="tabular_ple_linear")(encoded)
        mapped = keras.layers.Activation("relu", name="tabular_ple_relu")(mapped)
        return keras.layers.Flatten(name="tabular_ple_flat")(mapped)
    periodic = kind is NumericEmbedding.PERIODIC
    phases = keras.layers.EinsumDense(
        "bn,nk->bnk", output_shape=(n, n_frequencies), bias_axes=None if periodic else "nk",
        kernel_initializer=keras.initializers.RandomNormal(stddev=2 * math.pi * frequency_scale),
        bias_initializer=keras.initializers.RandomUniform(-math.pi, math.pi), name="tabular_frequencies",
    )(x)
    waves = (keras.layers.Concatenate(name="tabular_waves")([ops.cos(phases), ops.sin(phases)]) if periodic
             else ops.cos(phases))
    width = d_embedding if periodic else max(1, d_embedding - 1)
    mapped = keras.layers.EinsumDense("bnk,nkd->bnd", output_shape=(n, width), bias_axes="nd",
                                      name="tabular_periodic_linear")(waves)
    if periodic:
        mapped = keras.layers.Activation("relu", name="tabular_periodic_relu")(mapped)
        return keras.layers.Flatten(name="tabular_periodic_flat")(mapped)
    flat = keras.layers.Flatten(name="tabular_periodic_flat")(mapped)
    return keras.layers.Concatenate(name="tabular_periodic_dense")([flat, x])


def categories(spec: DataSpec, tensors: dict[str, Any], one_hot_max: int, embedding_size: int) -> list[Any]:
    """Each string column one-hot encoded up to ``one_hot_max`` categories (the unseen slot included), embedded
    in ``embedding_size`` values above, as RealMLP-TD does (pytabkit ``max_one_hot_cat_size``)."""
    import keras

    parts: list[Any] = []
    for item in spec.inputs:
        if not isinstance(item, CategoricalInput):
            continue
        vocabulary = list(item.vocabulary)
        if len(vocabulary) + 1 <= one_hot_max:
            parts.append(keras.layers.StringLookup(vocabulary=vocabulary, output_mode="one_hot",
                                                   name=f"{item.name}_one_hot")(tensors[item.name]))
            continue
        indices = keras.layers.StringLookup(vocabulary=vocabulary, name=f"{item.name}_lookup")(tensors[item.name])
        embedded = keras.layers.Embedding(len(vocabulary) + 1, embedding_size,
                                          name=f"{item.name}_embedding")(indices)
        parts.append(keras.layers.Flatten(name=f"{item.name}_flat")(embedded))
    return parts


def front_scale(x: Any) -> Any:
    """A learned scale per input feature, starting at 1 (RealMLP-TD's ``add_front_scale``)."""
    import keras

    width = int(x.shape[-1])
    return keras.layers.EinsumDense("bf,f->bf", output_shape=(width,), kernel_initializer="ones",
                                    name="tabular_front_scale")(x)


def backbone(x: Any, *, k: int, n_blocks: int, d_block: int, activation: str, dropout: float,
             regularizer: Any = None) -> Any:
    """``n_blocks`` dense blocks (linear, activation, dropout); ``(batch, d_block)`` for ``k == 1``.

    For ``k > 1``, TabM (Gorishniy et al., "TabM: Advancing Tabular Deep Learning with Parameter-Efficient
    Ensembling", ICLR 2025; ``tabm.LinearBatchEnsemble``): ``k`` members share every weight matrix and each has
    its own input and output scales and biases (BatchEnsemble), ``(batch, k, d_block)``. The first input
    scales start as ``N(0, 1)`` (TabM's ``normal``; it uses random signs without numerical embeddings), the
    others at 1.
    """
    import keras

    ops = keras.ops
    if k > 1:
        x = ops.repeat(ops.expand_dims(x, 1), k, axis=1)
    for block in range(1, n_blocks + 1):
        if k > 1:
            width = int(x.shape[-1])
            x = keras.layers.EinsumDense(
                "bkf,kf->bkf", output_shape=(k, width), name=f"tabular_r_{block}",
                kernel_initializer=keras.initializers.RandomNormal(stddev=1.0) if block == 1 else "ones")(x)
        x = keras.layers.Dense(d_block, use_bias=k == 1, kernel_regularizer=regularizer,
                               name=f"tabular_dense_{block}")(x)
        if k > 1:
            x = keras.layers.EinsumDense("bkd,kd->bkd", output_shape=(k, d_block), bias_axes="kd",
                                         kernel_initializer="ones", name=f"tabular_s_{block}")(x)
        x = keras.layers.Activation(activation, name=f"tabular_activation_{block}")(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"tabular_dropout_{block}")(x)
    return x


def ensemble_head(x: Any, units: int, activation: str | None, k: int) -> Any:
    """The task's output: one dense head, or for ``k > 1`` a head per member with the members' predictions
    (probabilities for classes) averaged, as TabM predicts (``tabm.LinearEnsemble``). Trained on the average."""
    import keras

    if k == 1:
        return keras.layers.Dense(units, activation=activation, dtype="float32", name="head")(x)
    heads = keras.layers.EinsumDense("bkd,kdo->bko", output_shape=(k, units), bias_axes="ko", dtype="float32",
                                     name="head")(x)
    if activation is not None:
        heads = keras.layers.Activation(activation, dtype="float32", name="tabular_member_output")(heads)
    return keras.ops.mean(heads, axis=1)
