"""Raw inputs and the preprocessing layers in front of every built-in network.

Only built-in Keras layers and ops are used, so a saved model loads with
``safe_mode=True`` in a process that has never imported kerashpo.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from kerashpo.spaces.data_spec import (
    CategoricalInput,
    DataSpec,
    ImageInput,
    NumericInput,
)
from kerashpo.spaces.errors import SpaceError

# Up to this many categories a column is one-hot encoded; above, it gets an embedding.
ONE_HOT_MAX = 20

# Names the built-in builders give their own layers and operations, the suffixes of the layers they add per
# input, and the stems Keras names unnamed layers and operations after (dense, dense_1, ...). An input of one of
# these names would give the model two layers of one name, which Keras refuses: the data layer names inputs
# around them (``reserved_input_name``).
LAYER_NAMES = frozenset({
    "numeric", "normalize", "features_concat", "rescale", "flatten_image", "head", "target_scale",
    "augmentation", "augment_flip", "augment_rotation", "augment_zoom", "mlp", "cnn", "tabular",
})
# The tabular family names its own layers with this prefix.
LAYER_PREFIX = "tabular_"
LAYER_SUFFIXES = ("_one_hot", "_lookup", "_embedding", "_flat")
AUTO_NAMED = ("dense", "activation", "dropout", "batch_normalization", "conv2d", "max_pooling2d",
              "average_pooling2d", "flatten", "concatenate", "isnan", "where", "input_layer", "functional",
              "add", "subtract", "multiply", "divide", "true_divide", "sqrt", "square", "sum", "mean", "clip",
              "minimum", "maximum", "cos", "sin", "expand_dims", "repeat", "einsum_dense")
_AUTO_NAME = re.compile(rf"^(?:{'|'.join(AUTO_NAMED)})(?:_\d+)?$")


def reserved_input_name(name: str) -> bool:
    """Whether an input of this name would clash with a layer the built-in builders add."""
    lowered = name.lower()  # Keras's own names are lower case; a clash in case alone is still confusing
    return (lowered in LAYER_NAMES or lowered.startswith(LAYER_PREFIX) or lowered.endswith(LAYER_SUFFIXES)
            or bool(_AUTO_NAME.match(lowered)))


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
    inputs = dict(tensors) if spec.named_inputs or len(tensors) > 1 else next(iter(tensors.values()))
    return inputs, tensors


def rescaled_image(spec: DataSpec, tensor: Any) -> Any:
    """Pixels scaled to [0, 1]."""
    import keras

    image = spec.image
    if image is None:
        raise SpaceError("rescaled_image needs image data")
    return keras.layers.Rescaling(1.0 / image.scale, name="rescale")(tensor)


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
