"""The cnn preset: its space, the conv net it builds for images, and that net learning digits."""

from __future__ import annotations

import keras
import numpy as np
import optuna
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from kerashpo.spaces import (
    CNN,
    DataSpec,
    ImageInput,
    NumericInput,
    Space,
    SpaceError,
    build_cnn,
    get_preset,
    resolve_space,
)
from kerashpo.spaces.choices import Direction
from kerashpo.spaces.presets.cnn import cnn_fit_options

optuna.logging.set_verbosity(optuna.logging.WARNING)

DIGITS_SPEC = DataSpec(inputs=(ImageInput("image", (8, 8, 1), scale=16.0),), task="multiclass", n_classes=10)
# A configuration known to learn digits well; the tests override parts of it.
GOOD = {"n_blocks": 2, "filters_1": 32, "filters_2": 64, "kernel_size": 3, "pooling": "max", "dense_units": 64,
        "activation": "relu", "initializer": "he_normal", "batch_norm": False, "dropout": 0.1,
        "optimizer": "adam", "learning_rate": 3e-3, "batch_size": 64}
AUGMENTED = {**GOOD, "flip": "horizontal", "rotation": 0.2, "zoom": 0.2}


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    return data.images[..., None].astype("float32"), data.target


def sample_many(space: Space, n: int = 60, seed: int = 0) -> list[dict]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [space.sample(study.ask()) for _ in range(n)]


def class_names(model: keras.Model) -> list[str]:
    return [layer.__class__.__name__ for layer in model.layers]


def test_cnn_space_only_samples_active_parameters():
    for values in sample_many(CNN.space):
        blocks = values["n_blocks"]
        assert 1 <= blocks <= 3
        assert {f"filters_{k}" for k in range(1, blocks + 1)} <= set(values)
        assert ("filters_3" in values) == (blocks >= 3)
        assert all(8 <= values[f"filters_{k}"] <= 128 for k in range(1, blocks + 1))
        assert ("momentum" in values) == (values["optimizer"] == "sgd")
        assert values["pooling"] in ("max", "average") and values["flip"] in ("none", "horizontal")
        assert 0.0 <= values["rotation"] <= 0.2 and 0.0 <= values["zoom"] <= 0.2


def test_every_sampled_configuration_builds_and_predicts(digits):
    images = digits[0][:4]
    for values in sample_many(CNN.space, n=6, seed=1):
        model = build_cnn(values, DIGITS_SPEC)
        assert model.predict(images, verbose=0).shape == (4, 10)


@pytest.mark.parametrize("blocks", [1, 2, 3])
def test_builds_a_compiled_model_for_8x8_digits_with_any_number_of_blocks(digits, blocks):
    params = {**GOOD, "n_blocks": blocks, "filters_3": 16, "batch_norm": True, "pooling": "average"}
    model = build_cnn(params, DIGITS_SPEC)
    assert model.compiled and model.loss == "sparse_categorical_crossentropy"
    assert model.name == "cnn" and model.output_shape == (None, 10)
    assert class_names(model).count("Conv2D") == blocks
    assert class_names(model).count("BatchNormalization") == blocks
    # 8 -> 4 -> 2 -> 1: every block can still halve the image.
    assert class_names(model).count("AveragePooling2D") == blocks
    assert model.get_layer("rescale").scale == pytest.approx(1 / 16)
    assert model.predict(digits[0][:3], verbose=0).shape == (3, 10)


def test_pooling_stops_once_the_image_is_one_pixel_across():
    spec = DataSpec(inputs=(ImageInput("image", (4, 6, 3)),), task="binary")
    model = build_cnn({**GOOD, "n_blocks": 3, "filters_3": 8}, spec)
    # 4x6 -> 2x3 -> 1x1, then a third halving would leave nothing.
    assert class_names(model).count("MaxPooling2D") == 2
    assert model.get_layer("rescale").scale == pytest.approx(1 / 255)
    assert model.predict(np.full((2, 4, 6, 3), 255.0, dtype="float32"), verbose=0).shape == (2, 1)


def test_augmentation_is_a_training_pipeline_layer_only_when_enabled():
    assert cnn_fit_options(GOOD, 10, "val_loss", Direction.MINIMIZE).augmentation is None
    layers = cnn_fit_options(AUGMENTED, 10, "val_loss", Direction.MINIMIZE).augmentation.layers
    assert [type(layer).__name__ for layer in layers] == ["RandomFlip", "RandomRotation", "RandomZoom"]
    only_zoom = cnn_fit_options({**GOOD, "zoom": 0.1}, 10, "val_loss", Direction.MINIMIZE).augmentation.layers
    assert [type(layer).__name__ for layer in only_zoom] == ["RandomZoom"]


def test_the_model_itself_is_deterministic_however_it_is_called(digits):
    """Random layers in a model augment a plain ``model(x)`` call too; the model carries none."""
    keras.utils.set_random_seed(0)
    model = build_cnn({**AUGMENTED, "dropout": 0.0}, DIGITS_SPEC)
    assert not [name for name in class_names(model) if name.startswith("Random")]
    images = digits[0][:32]
    first = model.predict(images, verbose=0)
    np.testing.assert_allclose(first, keras.ops.convert_to_numpy(model(images)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(first, keras.ops.convert_to_numpy(model(images, training=True)), rtol=1e-5,
                               atol=1e-6)
    augment = cnn_fit_options(AUGMENTED, 10, "val_loss", Direction.MINIMIZE).augmentation
    assert not np.allclose(keras.ops.convert_to_numpy(augment(images, training=True)), images)


def test_saved_model_reloads_in_safe_mode_and_predicts_the_same(digits, tmp_path):
    model = build_cnn({**AUGMENTED, "batch_norm": True, "l2_enabled": True, "l2": 1e-4}, DIGITS_SPEC)
    model.fit(digits[0][:128], digits[1][:128], epochs=1, batch_size=64, verbose=0)
    path = tmp_path / "cnn.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    images = digits[0][:16]
    np.testing.assert_allclose(reloaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-5,
                               atol=1e-6)


def test_a_fixed_good_configuration_learns_digits(digits):
    images, labels = digits
    x_rest, x_test, y_rest, y_test = train_test_split(images, labels, test_size=0.2, stratify=labels,
                                                      random_state=0)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.25, stratify=y_rest,
                                                      random_state=0)
    keras.utils.set_random_seed(0)
    model = build_cnn(GOOD, DIGITS_SPEC)
    options = CNN.fit_options(GOOD, 15, "val_accuracy", Direction.MAXIMIZE)
    model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=15, batch_size=options.batch_size,
              callbacks=options.callbacks, verbose=0)
    assert model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"] >= 0.95


def test_cnn_is_a_preset_and_refuses_tabular_data():
    assert get_preset("cnn") is CNN
    tabular = DataSpec(inputs=(NumericInput("features", np.zeros(4), np.ones(4)),), task="binary")
    with pytest.raises(SpaceError, match="image"):
        CNN.check_data(tabular)
    with pytest.raises(SpaceError, match="needs image data"):
        build_cnn(GOOD, tabular)
    CNN.check_data(DIGITS_SPEC)


def test_space_file_extending_cnn_narrows_it_and_keeps_the_builder(tmp_path):
    path = tmp_path / "narrow.yaml"
    path.write_text(
        "extends: cnn\n"
        "params:\n"
        "  n_blocks: {type: int, low: 1, high: 2}\n"
        "  filters_*: {type: int, low: 8, high: 16}\n"
        "  pooling: [average]\n"
    )
    preset = resolve_space(str(path))
    assert preset.build is build_cnn and preset.data_kinds == ("image",)
    assert preset.space["filters_2"].when == {"n_blocks": (2, 3)}
    for values in sample_many(preset.space, n=20):
        assert values["n_blocks"] <= 2 and "filters_3" not in values
        assert values["pooling"] == "average"
        assert all(8 <= values[f"filters_{k}"] <= 16 for k in range(1, values["n_blocks"] + 1))


@pytest.mark.parametrize("line, name, value", [
    ("pooling: [max, median]", "pooling", "median"),
    ("flip: [none, vertical]", "flip", "vertical"),
])
def test_space_file_extending_cnn_refuses_values_the_builder_does_not_know(tmp_path, line, name, value):
    path = tmp_path / "bad.yaml"
    path.write_text(f"extends: cnn\nparams:\n  {line}\n")
    with pytest.raises(SpaceError, match=f"{name}: unknown value '{value}'") as info:
        resolve_space(str(path))
    assert str(path) in str(info.value)
