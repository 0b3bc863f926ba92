"""The ``transfer`` preset: a ``keras.applications`` base, a searched head, and two phases of training.

Phase 1 trains the head on the frozen base; phase 2 unfreezes the top ``unfreeze`` share of the base's layers
and fine-tunes at ``learning_rate * fine_tune_factor`` (0: feature extraction only). The base runs in inference
mode throughout, so its batch-norm statistics stay as loaded (the Keras transfer-learning guide's advice).
With ``weights: none`` there is nothing to transfer: the whole base trains from the start, in one phase. The
resize to the base's input size and the base's own input preprocessing are layers of the model, so an exported
model takes the raw images it was trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerashpo.spaces.choices import Direction
from kerashpo.spaces.data_spec import DataSpec
from kerashpo.spaces.errors import SpaceError
from kerashpo.spaces.params import Categorical, Fixed, Float
from kerashpo.spaces.preset import FineTune, FitOptions, Preset
from kerashpo.spaces.presets import mlp
from kerashpo.spaces.presets.inputs import raw_inputs, rescaled_image
from kerashpo.spaces.space import Space


@dataclass(frozen=True)
class Base:
    """A ``keras.applications`` model without its top, and what its pretrained weights need."""

    application: str  # the keras.applications function
    weights_file: str  # its ImageNet no-top weights, as Keras caches them under ~/.keras/models
    preprocessing: str  # "inside" (the model rescales), "tf" ([-1, 1]) or "caffe" (BGR, mean subtracted)


BASES = {
    "mobilenet_v3_small": Base("MobileNetV3Small", "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5", "inside"),
    "efficientnet_b0": Base("EfficientNetB0", "efficientnetb0_notop.h5", "inside"),
    "resnet50_v2": Base("ResNet50V2", "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5", "tf"),
    "vgg16": Base("VGG16", "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "caffe"),
}
POOLINGS = ("avg", "max")
IMAGENET, NO_WEIGHTS = "imagenet", "none"
_CAFFE_MEAN = (103.939, 116.779, 123.68)  # BGR

DEFAULTS: dict[str, Any] = {
    **mlp.DEFAULTS,
    "base": "mobilenet_v3_small",
    # The export check builds the space at these values: it needs no weights file (the run checks the files the
    # space names before it starts).
    "weights": NO_WEIGHTS,
    "image_size": 224,
    "pooling": "avg",
    "dense_units": 0,
    "unfreeze": 0.0,
    "fine_tune_factor": 0.01,
    "head_epochs_share": 0.5,
    "learning_rate": 1e-3,
}


def transfer_space() -> Space:
    return Space([
        Categorical("base", choices=tuple(BASES)),
        Fixed("weights", value=IMAGENET),  # imagenet, none, or a weights file's path
        Fixed("image_size", value=224),  # the side the images are resized to, inside the model
        Categorical("pooling", choices=POOLINGS),
        Categorical("dense_units", choices=(0, 64, 128, 256)),
        Float("dropout", low=0.0, high=0.5),
        Float("learning_rate", low=1e-4, high=1e-2, log=True),
        # The top share of the base's layers phase 2 unfreezes; 0 keeps the base frozen (feature extraction).
        Categorical("unfreeze", choices=(0.0, 0.1, 0.25, 0.5)),
        # Phase 2's learning rate is phase 1's times this (about 1e-6 to 1e-3 over the default ranges).
        Float("fine_tune_factor", low=1e-3, high=1e-1, log=True),
        Fixed("head_epochs_share", value=0.5),  # of budget.max_epochs, for phase 1
        Categorical("batch_size", choices=(16, 32)),
    ], {"base": tuple(BASES), "pooling": POOLINGS})


def _value(params: dict[str, Any], name: str) -> Any:
    return params.get(name, DEFAULTS[name])


def weights_cache() -> Path:
    """Where Keras keeps downloaded application weights (``KERAS_HOME``, else ``~/.keras``)."""
    import os

    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def check_weights(space: Space) -> None:
    """Every base and weights the space can draw is loadable here: refused before the first trial otherwise."""
    bases = _values(space, "base")
    for weights in _values(space, "weights"):
        if weights == NO_WEIGHTS:
            continue
        if weights != IMAGENET:
            if not Path(str(weights)).expanduser().is_file():
                raise SpaceError(f"weights: {weights} not found; give a weights file of the base without its top "
                                 f"(base.save_weights(...)), imagenet or none")
            continue
        for base in bases:
            path = weights_cache() / BASES[base].weights_file
            if not path.is_file():
                raise SpaceError(f"weights: imagenet for {base} needs {BASES[base].weights_file} in {path.parent} "
                                 "(this machine cannot download it): copy it there, or set weights to a file's "
                                 "path or to none")


def _values(space: Space, name: str) -> list[Any]:
    if name not in space:
        return [DEFAULTS[name]]
    return list(space[name].grid_values())


def build_transfer(params: dict[str, Any], spec: DataSpec) -> Any:
    """A compiled model: raw image -> resize -> the base's preprocessing -> base (inference mode) -> head."""
    import keras

    if spec.image is None:
        raise SpaceError("the transfer preset needs image data, and this dataset is tabular; use the mlp preset")
    channels = spec.image.shape[-1]
    if channels not in (1, 3):
        raise SpaceError(f"the transfer preset takes grayscale or RGB images; these have {channels} channels "
                         "(set dataset.color_mode: rgb)")
    name = str(_value(params, "base"))
    base_spec = BASES[name]
    size = int(_value(params, "image_size"))
    inputs, tensors = raw_inputs(spec)
    x = keras.layers.Rescaling(255.0, name="to_255")(rescaled_image(spec, tensors[spec.image.name]))
    x = keras.layers.Resizing(size, size, name="resize")(x)
    if channels == 1:
        x = keras.layers.Concatenate(name="gray_to_rgb")([x, x, x])
    x = _preprocessing(base_spec.preprocessing)(x)
    weights = str(_value(params, "weights"))
    base = build_base(name, size, weights)
    if weights == NO_WEIGHTS:  # from scratch: every layer trains, batch norm learns its statistics
        for layer in base.layers:
            # The applications' 0.99 needs hundreds of steps before the inference statistics mean anything, more
            # than a small folder's epochs give: validation would stay at chance while training fits
            # (benchmarks/transfer.py).
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = 0.9
        x = base(x)
    else:
        base.trainable = False
        x = base(x, training=False)  # inference mode, also once its top layers are unfrozen
    x = (keras.layers.GlobalAveragePooling2D if _value(params, "pooling") == "avg"
         else keras.layers.GlobalMaxPooling2D)(name="pool")(x)
    dropout = float(_value(params, "dropout"))
    dense_units = int(_value(params, "dense_units"))
    if dense_units > 0:
        x = keras.layers.Dense(dense_units, activation="relu", name="head_dense")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    return mlp.output_and_compile(inputs, x, spec, {"optimizer": "adam", **params}, name="transfer")


def build_base(name: str, size: int, weights: str) -> Any:
    """The application without its top, with ImageNet weights from Keras's cache, a file's, or none."""
    import keras

    source = None if weights == NO_WEIGHTS else IMAGENET if weights == IMAGENET else str(Path(weights).expanduser())
    return getattr(keras.applications, BASES[name].application)(include_top=False, weights=source,
                                                                 input_shape=(size, size, 3))


def _preprocessing(mode: str) -> Any:
    """The base's ``preprocess_input`` as layers (a Lambda would not load in safe mode)."""
    import keras
    import numpy as np

    if mode == "inside":
        return keras.layers.Identity(name="base_preprocessing")
    if mode == "tf":
        return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="base_preprocessing")
    # caffe: RGB -> BGR, then each channel's ImageNet mean subtracted; a fixed 1x1 convolution does both.
    swap = np.zeros((1, 1, 3, 3), dtype="float32")
    for out, source in enumerate((2, 1, 0)):
        swap[0, 0, source, out] = 1.0
    return keras.layers.Conv2D(3, 1, trainable=False, name="base_preprocessing",
                               kernel_initializer=keras.initializers.Constant(swap.tolist()),
                               bias_initializer=keras.initializers.Constant([-m for m in _CAFFE_MEAN]))


def transfer_fit_options(params: dict[str, Any], max_epochs: int, monitor: str, direction: Direction) -> FitOptions:
    """Phase 1 for the head's share of the epochs, then fine-tuning (unless ``unfreeze`` is 0)."""
    options = FitOptions(batch_size=int(_value(params, "batch_size")))
    share = float(_value(params, "unfreeze"))
    if share > 0 and max_epochs > 1 and str(_value(params, "weights")) != NO_WEIGHTS:
        head_epochs = min(max_epochs - 1, max(1, math.ceil(max_epochs * float(_value(params, "head_epochs_share")))))
        rate = float(_value(params, "learning_rate")) * float(_value(params, "fine_tune_factor"))
        options.fine_tune = FineTune(head_epochs, lambda model: unfreeze_top(model, share, rate))
    return options


def unfreeze_top(model: Any, share: float, learning_rate: float) -> None:
    """Phase 2: the top ``share`` of the base's layers trainable (batch norm kept frozen), recompiled at
    ``learning_rate``."""
    import keras

    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    base.trainable = True
    layers = base.layers
    first = len(layers) - max(1, round(len(layers) * share))
    for index, layer in enumerate(layers):
        layer.trainable = index >= first and not isinstance(layer, keras.layers.BatchNormalization)
    # The same loss, metrics and steps per execution; a fresh optimizer at the lower rate.
    config = model.get_compile_config()
    config["optimizer"] = keras.optimizers.serialize(keras.optimizers.Adam(learning_rate=learning_rate))
    model.compile_from_config(config)


TRANSFER = Preset(name="transfer", space=transfer_space(), build=build_transfer, fit_options=transfer_fit_options,
                  data_kinds=("image",), check_space=check_weights,
                  # Each member would carry its own copy of the pretrained base: the champion alone by default.
                  ensembles_by_default=False)
