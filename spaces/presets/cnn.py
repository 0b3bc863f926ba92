"""The ``cnn`` preset: a small conv net for image data, and its builder.

Training, regularisation, the task head and compilation are the ``mlp``
preset's; only the convolutional trunk and the augmentation are new.
"""

from __future__ import annotations

from typing import Any

from kerashpo.spaces.choices import Direction
from kerashpo.spaces.data_spec import DataSpec
from kerashpo.spaces.errors import SpaceError
from kerashpo.spaces.params import Categorical, Float
from kerashpo.spaces.preset import FitOptions, Preset
from kerashpo.spaces.presets import mlp
from kerashpo.spaces.presets.inputs import raw_inputs, rescaled_image
from kerashpo.spaces.space import Space

MAX_BLOCKS = 3
POOLINGS = ("max", "average")
FLIPS = ("none", "horizontal")

# What the builder falls back to for a parameter a narrowed space leaves out.
DEFAULTS: dict[str, Any] = {
    **mlp.DEFAULTS,
    "n_blocks": 2,
    "filters": 32,
    "kernel_size": 3,
    "pooling": "max",
    "dense_units": 0,
    "flip": "none",
    "rotation": 0.0,
    "zoom": 0.0,
}

VOCABULARY = {**mlp.VOCABULARY, "pooling": POOLINGS, "flip": FLIPS}


def cnn_space() -> Space:
    layer = [
        Categorical("kernel_size", choices=(3, 5)),
        Categorical("pooling", choices=POOLINGS),
        # 0 means the flattened features go straight to the head.
        Categorical("dense_units", choices=(0, 32, 64, 128, 256)),
        Categorical("activation", choices=mlp.ACTIVATIONS),
        Categorical("initializer", choices=mlp.INITIALIZERS),
    ]
    augmentation = [
        Categorical("flip", choices=FLIPS),
        Float("rotation", low=0.0, high=0.2),
        Float("zoom", low=0.0, high=0.2),
    ]
    return Space(mlp.depth_params("n_blocks", "filters", MAX_BLOCKS, 8, 128) + layer + augmentation
                 + mlp.regularisation_params() + mlp.training_params(), VOCABULARY)


def _value(params: dict[str, Any], name: str) -> Any:
    return params.get(name, DEFAULTS[name])


def _filters(params: dict[str, Any], k: int) -> int:
    # Without a declared width, widen as the image shrinks, as conv nets usually do.
    return int(params.get(f"filters_{k}", DEFAULTS["filters"] * 2 ** (k - 1)))


def augmentation(params: dict[str, Any]) -> Any:
    """Random flip, rotation and zoom (each only when enabled) as one layer for the training pipeline, or None.

    They run on training batches in ``tf.data``, not inside the model: Keras's
    random layers default to training mode when a model is called without
    ``training=False`` (a SavedModel's signature, a plain ``model(x)``), so a
    model that carried them could augment what it serves. They take no seed of
    their own: the runner's ``keras.utils.set_random_seed`` seeds them.
    """
    import keras

    layers = []
    if _value(params, "flip") == "horizontal":
        layers.append(keras.layers.RandomFlip("horizontal", name="augment_flip"))
    rotation = float(_value(params, "rotation"))
    if rotation > 0:
        layers.append(keras.layers.RandomRotation(rotation, name="augment_rotation"))
    zoom = float(_value(params, "zoom"))
    if zoom > 0:
        layers.append(keras.layers.RandomZoom(zoom, name="augment_zoom"))
    return keras.Sequential(layers, name="augmentation") if layers else None


def cnn_fit_options(params: dict[str, Any], max_epochs: int, monitor: str, direction: Direction) -> FitOptions:
    """The mlp preset's batch size and schedule, plus the sampled augmentation."""
    options = mlp.mlp_fit_options(params, max_epochs, monitor, direction)
    options.augmentation = augmentation(params)
    return options


def build_cnn(params: dict[str, Any], spec: DataSpec) -> Any:
    """A compiled conv net for the image in ``spec`` from the sampled ``params``."""
    import keras

    if spec.image is None:
        raise SpaceError("the cnn preset needs image data, and this dataset is tabular; use the mlp preset")
    inputs, tensors = raw_inputs(spec)
    x = rescaled_image(spec, tensors[spec.image.name])
    batch_norm = bool(_value(params, "batch_norm"))
    dropout = float(_value(params, "dropout"))
    activation = _value(params, "activation")
    initializer = _value(params, "initializer")
    pooling = keras.layers.MaxPooling2D if _value(params, "pooling") == "max" else keras.layers.AveragePooling2D
    for k in range(1, int(_value(params, "n_blocks")) + 1):
        x = keras.layers.Conv2D(
            _filters(params, k),
            int(_value(params, "kernel_size")),
            padding="same",
            kernel_initializer=initializer,
            kernel_regularizer=mlp.regularizer(params),
            use_bias=not batch_norm,
        )(x)
        if batch_norm:
            x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation(activation)(x)
        # Small images (digits are 8x8) run out of pixels before blocks: stop halving at 1.
        if x.shape[1] >= 2 and x.shape[2] >= 2:
            x = pooling(2)(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout)(x)
    # Flatten, not global average pooling: after pooling small images are a few pixels
    # across, and where a stroke lies is information averaging would throw away.
    x = keras.layers.Flatten()(x)
    dense_units = int(_value(params, "dense_units"))
    if dense_units > 0:
        x = keras.layers.Dense(dense_units, kernel_initializer=initializer,
                               kernel_regularizer=mlp.regularizer(params))(x)
        x = keras.layers.Activation(activation)(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout)(x)
    return mlp.output_and_compile(inputs, x, spec, params, name="cnn")


CNN = Preset(name="cnn", space=cnn_space(), build=build_cnn, fit_options=cnn_fit_options,
             data_kinds=("image",))
