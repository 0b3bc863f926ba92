"""Spaces: declaration, validation, conditional sampling, narrowing; the builder for each task."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from kerashpo.spaces import (
    MLP,
    Bool,
    Categorical,
    DataSpec,
    Fixed,
    Float,
    Int,
    NumericInput,
    Space,
    SpaceError,
    build_mlp,
    resolve_space,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def sample_many(space: Space, n: int = 60, seed: int = 0) -> list[dict]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    samples = []
    for _ in range(n):
        trial = study.ask()
        samples.append(space.sample(trial))
        study.tell(trial, 0.0)
    return samples


def test_mlp_preset_only_samples_active_parameters():
    for values in sample_many(MLP.space):
        depth = values["n_layers"]
        assert 0 <= depth <= 6  # depth 0: the linear model
        assert {f"units_{k}" for k in range(1, depth + 1)} <= set(values)
        assert not {f"units_{k}" for k in range(depth + 1, 7)} & set(values)
        assert ("momentum" in values) == (values["optimizer"] == "sgd")
        assert ("l1" in values) == values["l1_enabled"]
        assert ("l2" in values) == values["l2_enabled"]
        assert 1e-4 <= values["learning_rate"] <= 3e-2


def test_preset_covers_every_declared_choice():
    space = MLP.space
    assert set(space["activation"].choices) == {"relu", "leaky_relu", "elu", "selu", "gelu", "tanh"}
    assert set(space["optimizer"].choices) == {"sgd", "rmsprop", "adam", "adamw", "nadam"}
    assert set(space["initializer"].choices) == {"glorot_uniform", "he_normal", "lecun_normal"}
    assert set(space["lr_schedule"].choices) == {"constant", "cosine", "reduce_on_plateau"}
    assert space["learning_rate"].log


def test_fixed_values_reach_the_builder_without_being_sampled():
    space = Space([Int("n_layers", low=1, high=2), Fixed("activation", value="tanh")])
    for values in sample_many(space, 5):
        assert values["activation"] == "tanh"


@pytest.mark.parametrize("make, message", [
    (lambda: Int("depth", low=5, high=1), "low=5 > high=1"),
    (lambda: Float("lr", low=0.0, high=0.1, log=True), "log scale needs low > 0"),
    (lambda: Float("lr", low=-1.0, high=0.1, log=True), "log scale needs low > 0"),
    (lambda: Categorical("act", choices=()), "no choices"),
    (lambda: Space([Float("momentum", low=0.1, high=0.9, when={"optimiser": ("sgd",)})]),
     "condition names parameter 'optimiser', which does not exist"),
    (lambda: Space([Categorical("activation", choices=("relu", "swishy"))], MLP.space.vocabulary),
     "unknown value 'swishy'"),
])
def test_invalid_declarations_are_refused_with_the_reason(make, message):
    with pytest.raises(SpaceError, match=message):
        make()


def test_space_file_narrows_the_preset_keeping_conditions(tmp_path):
    path = tmp_path / "narrow.yaml"
    path.write_text(
        "extends: mlp\n"
        "params:\n"
        "  n_layers: {type: int, low: 1, high: 2}\n"
        "  units_*: {type: int, low: 8, high: 32}\n"
        "  activation: [relu, gelu]\n"
        "  batch_norm: false\n"
        "  extra_flag: {type: bool}\n"
    )
    preset = resolve_space(str(path))
    assert preset.build is build_mlp
    for values in sample_many(preset.space):
        assert values["n_layers"] <= 2
        assert "units_3" not in values
        assert all(8 <= values[f"units_{k}"] <= 32 for k in range(1, values["n_layers"] + 1))
        assert values["activation"] in ("relu", "gelu")
        assert values["batch_norm"] is False
        assert isinstance(values["extra_flag"], bool)
    assert preset.space["units_2"].when == {"n_layers": (2, 3, 4, 5, 6)}


@pytest.mark.parametrize("body, message", [
    ("params:\n  optimizer: [adam, adagrad]\n", "optimizer: unknown value 'adagrad'"),
    ("params:\n  depth: {type: int, low: 1}\n", "depth: parameter of type int needs `high`"),
    ("params:\n  depth: {type: int, low: 1, high: 3}\n  width: {type: int, low: 1, high: 4, when: {deep: 2}}\n",
     "condition names parameter 'deep'"),
    ("params:\n  lr: {type: float, low: 0.1, high: 1, scale: log}\n", "unknown key 'scale'"),
    ("extends: transformer\nparams: {}\n", "unknown preset 'transformer'"),
])
def test_space_file_errors_name_the_file_and_parameter(tmp_path, body, message):
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(SpaceError, match=message) as info:
        resolve_space(str(path))
    assert str(path) in str(info.value)


def test_grid_lists_every_value_and_requires_float_grids():
    space = Space([Int("depth", low=1, high=3), Bool("bn"), Float("dropout", low=0.0, high=0.5, grid=(0.0, 0.25))])
    assert space.grid() == {"depth": [1, 2, 3], "bn": [False, True], "dropout": [0.0, 0.25]}
    with pytest.raises(SpaceError, match="grid"):
        Space([Float("dropout", low=0.0, high=0.5)]).grid()


@pytest.mark.parametrize("task, n_classes, units, loss", [
    ("binary", 2, 1, "binary_crossentropy"),
    ("multiclass", 4, 4, "sparse_categorical_crossentropy"),
    ("regression", None, 1, "mse"),
])
def test_builder_makes_a_compiled_model_for_each_task(task, n_classes, units, loss):
    mean = np.arange(5, dtype="float32")
    spec = DataSpec(inputs=(NumericInput("features", mean, np.ones(5, dtype="float32")),), task=task,
                    n_classes=n_classes, target_mean=100.0, target_std=10.0)
    params = {"n_layers": 3, "units_1": 8, "units_2": 8, "units_3": 4, "activation": "selu", "batch_norm": True,
              "dropout": 0.1, "l1_enabled": True, "l1": 1e-4, "optimizer": "sgd", "momentum": 0.8,
              "learning_rate": 0.01, "clipnorm": 1.0}
    model = build_mlp(params, spec)
    assert model.compiled and model.loss == loss
    assert model.output_shape == (None, units)
    assert len([layer for layer in model.layers if layer.__class__.__name__ == "Dense"]) == 4
    assert model.optimizer.__class__.__name__ == "SGD" and model.optimizer.clipnorm == 1.0
    normalize = model.get_layer("normalize")
    np.testing.assert_allclose(np.ravel(normalize.mean), mean)
    prediction = model.predict(np.zeros((2, 5), dtype="float32"), verbose=0)
    assert prediction.shape == (2, units)
