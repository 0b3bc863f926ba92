"""Raw inputs and the preprocessing layers in front of every built-in network.

Only built-in Keras layers and ops are used, so a saved model loads with
``safe_mode=True`` in a process that has never imported kerashpo.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spaces.data_spec import CategoricalInput, DataSpec, ImageInput, NumericInput

# Up to this many categories a column is one-hot encoded; above, it gets an embedding.
ONE_HOT_MAX = 20


def raw_inputs(spec: DataSpec) -> tuple[Any, dict[str, Any]]:
    """The model's inputs (one tensor, or a dict by name) and the same tensors by name."""
    import keras

    tensors: dict[str, Any] = {}
    for item in spec.inputs:
        if isinstance(item, ImageInput):
            tensors[item.name] = keras.Input(shape=item.shape, name=item.name)
        elif isinstance(item, CategoricalInput):
            tensors[item.name] = keras.Input(shape=(1,), dtype="string", name=item.name)
        else:
            tensors[item.name] = keras.Input(shape=(item.width,), name=item.name)
    inputs = next(iter(tensors.values())) if len(tensors) == 1 else dict(tensors)
    return inputs, tensors


def rescaled_image(spec: DataSpec, tensor: Any) -> Any:
    """Pixels scaled to [0, 1]."""
    import keras

    return keras.layers.Rescaling(1.0 / spec.image.scale, name="rescale")(tensor)


def encoded_features(spec: DataSpec, tensors: dict[str, Any]) -> Any:
    """One flat float vector: numeric columns imputed and standardised, categories encoded, images flattened."""
    import keras

    numeric = [item for item in spec.inputs if isinstance(item, NumericInput)]
    parts: list[Any] = []
    if numeric:
        x = _concat([tensors[item.name] for item in numeric], "numeric")
        mean = np.concatenate([np.ravel(item.mean) for item in numeric]).astype("float32")
        variance = np.concatenate([np.ravel(item.variance) for item in numeric]).astype("float32")
        # Missing values (NaN) take the training mean, so they standardise to 0.
        x = keras.ops.where(keras.ops.isnan(x), mean, x)
        parts.append(keras.layers.Normalization(mean=mean.tolist(), variance=variance.tolist(), name="normalize")(x))
    for item in spec.inputs:
        if isinstance(item, CategoricalInput):
            parts.append(_encoded_category(item, tensors[item.name]))
        elif isinstance(item, ImageInput):
            parts.append(keras.layers.Flatten(name="flatten_image")(rescaled_image(spec, tensors[item.name])))
    return _concat(parts, "features_concat")


def _encoded_category(item: CategoricalInput, tensor: Any) -> Any:
    import keras

    size = len(item.vocabulary) + 1  # + the out-of-vocabulary slot
    if size <= ONE_HOT_MAX + 1:
        return keras.layers.StringLookup(vocabulary=list(item.vocabulary), output_mode="one_hot",
                                         name=f"{item.name}_one_hot")(tensor)
    indices = keras.layers.StringLookup(vocabulary=list(item.vocabulary), name=f"{item.name}_lookup")(tensor)
    width = min(16, int(round(size ** 0.5)) + 1)
    embedded = keras.layers.Embedding(size, width, name=f"{item.name}_embedding")(indices)
    return keras.layers.Flatten(name=f"{item.name}_flat")(embedded)


def _concat(tensors: list[Any], name: str) -> Any:
    import keras

    return tensors[0] if len(tensors) == 1 else keras.layers.Concatenate(name=name)(tensors)
