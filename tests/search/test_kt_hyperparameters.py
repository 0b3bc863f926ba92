"""Keras Tuner's own tests of ``HyperParameters`` and its hyperparameter types, run against kerashpo's ``hp``.

Adapted from KerasTuner's tests (Copyright 2019 The KerasTuner Authors, Apache License 2.0,
https://github.com/keras-team/keras-tuner, snapshot 417e5b5, the source of keras-tuner 1.4.7/1.4.8):

- keras_tuner/engine/hyperparameters/hyperparameters_test.py
- keras_tuner/engine/hyperparameters/hp_types/{boolean,choice,fixed,float,int}_hp_test.py
- keras_tuner/engine/conditions_test.py

Each port keeps the original test's name and says which file it comes from. The only change is where a
test constructs Keras Tuner itself: ``hp_module.HyperParameters()`` becomes
``RecordingHyperParameters.with_defaults()`` (which answers with defaults, as a fresh Keras Tuner
``HyperParameters`` does), and a standalone ``hp_module.Int(...)`` (``Float``, ``Choice``...) becomes the same
call on such an ``hp``, reading the declaration it records in ``hp.space`` (``declared``). Assertions on Keras
Tuner's own sampler (``random_sample``, ``value_to_prob``/``prob_to_value``, the numeric ``values`` grid),
on serialization (``get_config``/``from_config``, protos) and on ``merge`` are dropped: under kerashpo the
engine samples and nothing is serialized through ``hp``. The tests left out whole are listed in
``LEFT_OUT`` with the reason. A ``random_sample()`` whose range or type is asserted is read as the value
``hp`` returns.

The tests after the ports are kerashpo's own: what an engine's ``suggest`` is given, and ``OptunaSampling``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kerashpo.search.training import hyperparameters as facade
from kerashpo.search.training.hyperparameters import HyperParameter, RecordingHyperParameters


def new_hp() -> RecordingHyperParameters:
    """Stands for ``hp_module.HyperParameters()``."""
    return RecordingHyperParameters.with_defaults()


def declared(method: str, *args, **kwargs) -> HyperParameter:
    """Stands for a standalone ``hp_module.<method>(...)``: the declaration that call records on a fresh ``hp``."""
    hp = new_hp()
    getattr(hp, method)(*args, **kwargs)
    return hp.space[-1]


def by_name(hp: RecordingHyperParameters, name: str) -> HyperParameter:
    """Stands for ``hp._hps[name][0]`` (Keras Tuner's private index): the first declaration of ``name``."""
    return next(p for p in hp.space if p.name == name)


# Tests of the original files that are not ported, and why.
SAMPLER = "Keras Tuner's own sampler (random_sample / value_to_prob / prob_to_value); under kerashpo the engine samples"
GRID = "the numeric `values` grid Keras Tuner's GridSearch enumerates; under kerashpo the engine samples a range"
PROTO = "protobuf serialization (to_proto/from_proto), Keras Tuner's oracle wire format; nothing crosses it here"
SERIAL = "Keras Tuner serialization (get_config/from_config, serialize/deserialize); hp is not serialized here"
MERGE = "HyperParameters.merge, Keras Tuner's oracle/tuner bookkeeping; a build function does not merge spaces"
LEFT_OUT = {
    "hyperparameters_test.py": {
        "test_name_collision": "empty in Keras Tuner (a TODO with no assertion)",
        "test_to_proto_unrecognized_hp_type": PROTO,
        "test_to_proto_unrecognized_value_type": PROTO,
        "test_merge_inactive_hp_with_conditional_scopes": MERGE,
        "test_merge": MERGE,
        "test_hyperparameters_proto": PROTO,
        "test_hyperparameters_values_proto": PROTO,
        "test_serialize_deserialize_hyperparameters": SERIAL,
        "test_int_log_without_step_random_sample": SAMPLER,
    },
    "hyperparameter_test.py": {
        "test_base_hyperparameter": "constructs the abstract HyperParameter base class and round-trips its config",
    },
    "hp_utils_test.py": {
        "test_sampling_from_proto_raise_error": PROTO,
        "test_sampling_to_proto_raise_error": PROTO,
    },
    "hp_types/choice_hp_test.py": {
        "test_choice_proto": PROTO,
        "test_prob_one_choice": SAMPLER,
    },
    "hp_types/float_hp_test.py": {
        "test_float_linear_value_to_prob_no_step": SAMPLER,
        "test_float_log_with_step": SAMPLER,
        "test_float_reverse_log_with_step": SAMPLER,
        "test_log_sampling_random_state": SAMPLER,
        "test_reverse_log_sampling_random_state": SAMPLER,
        "test_float_proto": PROTO,
        "test_float_values_property_with_step": GRID,
        "test_float_values_property_without_step": GRID,
    },
    "hp_types/int_hp_test.py": {
        "test_int_log_with_step": SAMPLER,
        "test_int_log_without_step": SAMPLER,
        "test_int_proto": PROTO,
        "test_serialize_deserialize_int": SERIAL,
        "test_int_values_property_with_step": GRID,
        "test_int_values_property_without_step": GRID,
    },
    "conditions_test.py": {
        "test_from_proto_error": PROTO,
        "test_int_to_from_proto": PROTO,
        "test_float_to_from_proto": PROTO,
        "test_bool_to_from_proto": PROTO,
    },
}


# == keras_tuner/engine/hyperparameters/hyperparameters_test.py ========================================


# hyperparameters_test.py
def test_hyperparameters():
    hp = new_hp()
    assert hp.values == {}
    assert hp.space == []
    hp.Choice("choice", [1, 2, 3], default=2)
    assert hp.values == {"choice": 2}
    assert len(hp.space) == 1
    assert hp.space[0].name == "choice"
    hp.values["choice"] = 3
    assert hp.get("choice") == 3
    hp = hp.copy()
    assert hp.values == {"choice": 3}
    assert len(hp.space) == 1
    assert hp.space[0].name == "choice"
    with pytest.raises(KeyError, match="does not exist"):
        hp.get("wrong")


# hyperparameters_test.py
def test_name_scope():
    hp = new_hp()
    hp.Choice("choice", [1, 2, 3], default=2)
    with hp.name_scope("scope1"):
        hp.Choice("choice", [4, 5, 6], default=5)
        with hp.name_scope("scope2"):
            hp.Choice("choice", [7, 8, 9], default=8)
        hp.Int("range", min_value=0, max_value=10, step=1, default=0)
    assert hp.values == {
        "choice": 2,
        "scope1/choice": 5,
        "scope1/scope2/choice": 8,
        "scope1/range": 0,
    }


# hyperparameters_test.py
def test_parent_name():
    hp = new_hp()
    hp.Choice("a", [1, 2, 3], default=2)
    b1 = hp.Int("b", 0, 10, parent_name="a", parent_values=1, default=5)
    b2 = hp.Int("b", 0, 100, parent_name="a", parent_values=2, default=4)
    assert b1 is None
    assert b2 == 4
    # Only active values appear in `values`.
    assert hp.values == {"a": 2, "b": 4}


# hyperparameters_test.py
def test_conditional_scope():
    hp = new_hp()
    hp.Choice("choice", [1, 2, 3], default=2)
    # Assignment to a non-active conditional hyperparameter returns `None`.
    with hp.conditional_scope("choice", [1, 3]):
        child1 = hp.Choice("child_choice", [4, 5, 6])
    assert child1 is None
    # Retrieve a non-active hp, still none.
    with hp.conditional_scope("choice", [1, 3]):
        child1 = hp.Choice("child_choice", [4, 5, 6])
    assert child1 is None
    # Assignment to an active conditional hyperparameter returns the value.
    with hp.conditional_scope("choice", 2):
        child2 = hp.Choice("child_choice", [7, 8, 9])
    assert child2 == 7
    # Retrieve the value, still same value.
    with hp.conditional_scope("choice", 2):
        child2 = hp.Choice("child_choice", [7, 8, 9])
    assert child2 == 7
    # Only active values appear in `values`.
    assert hp.values == {"choice": 2, "child_choice": 7}

    with pytest.raises(ValueError, match="not defined"):
        with hp.conditional_scope("not_defined_hp", 2):
            hp.Choice("child_choice", [7, 8, 9])


# hyperparameters_test.py (hp._hps[name][0] read through hp.space)
def test_is_active_with_hp_name_and_hp():
    hp = new_hp()
    hp.Choice("choice", [1, 2, 3], default=3)
    with hp.conditional_scope("choice", [1, 3]):
        hp.Choice("child_choice", [4, 5, 6])
    with hp.conditional_scope("choice", 2):
        hp.Choice("child_choice2", [7, 8, 9])

    # Custom oracle populates value for an inactive hp.
    hp.values["child_choice2"] = 7

    assert hp.is_active("child_choice")
    assert hp.is_active(by_name(hp, "child_choice"))

    assert not hp.is_active("child_choice2")
    assert not hp.is_active(by_name(hp, "child_choice2"))


# hyperparameters_test.py (builds a Keras model: imports Keras, so TensorFlow)
def test_build_with_conditional_scope():
    import keras

    def build_model(hp):
        model = hp.Choice("model", ["v1", "v2"])
        with hp.conditional_scope("model", "v1"):
            v1_params = {
                "layers": hp.Int("layers", 1, 3),
                "units": hp.Int("units", 16, 32),
            }
        with hp.conditional_scope("model", "v2"):
            v2_params = {
                "layers": hp.Int("layers", 2, 4),
                "units": hp.Int("units", 32, 64),
            }

        params = v1_params if model == "v1" else v2_params
        inputs = keras.Input(shape=(10,))
        x = inputs
        for _ in range(params["layers"]):
            x = keras.layers.Dense(params["units"])(x)
        outputs = keras.layers.Dense(1)(x)
        model = keras.Model(inputs, outputs)
        model.compile("sgd", "mse")
        return model

    hp = new_hp()
    build_model(hp)
    assert hp.values == {
        "model": "v1",
        "layers": 1,
        "units": 16,
    }


# hyperparameters_test.py
def test_error_when_hp_same_name_as_condition():
    hp = new_hp()
    hp.Choice("a", [1, 2, 3], default=3)
    with pytest.raises(ValueError, match="cannot have the same name"):
        with hp.conditional_scope("a", [1, 3]):
            hp.Choice("a", [4, 5, 6], default=6)


# hyperparameters_test.py
def test_nested_conditional_scopes_and_name_scopes():
    hp = new_hp()
    a = hp.Choice("a", [1, 2, 3], default=3)
    with hp.conditional_scope("a", [1, 3]):
        b = hp.Choice("b", [4, 5, 6], default=6)
        with hp.conditional_scope("b", 6):
            c = hp.Choice("c", [7, 8, 9])
            with hp.name_scope("d"):
                e = hp.Choice("e", [10, 11, 12])
    with hp.conditional_scope("a", 2):
        f = hp.Choice("f", [13, 14, 15])
        with hp.name_scope("g"):
            h = hp.Int("h", 0, 10)

    assert hp.values == {
        "a": 3,
        "b": 6,
        "c": 7,
        "d/e": 10,
    }
    # Assignment to an active conditional hyperparameter returns the value.
    assert a == 3
    assert b == 6
    assert c == 7
    assert e == 10
    # Assignment to a non-active conditional hyperparameter returns `None`.
    assert f is None
    assert h is None


# hyperparameters_test.py
def test_get_with_conditional_scopes():
    hp = new_hp()
    hp.Choice("a", [1, 2, 3], default=2)
    assert hp.get("a") == 2
    with hp.conditional_scope("a", 2):
        hp.Fixed("b", 4)
        assert hp.get("b") == 4
        assert hp.get("a") == 2
    with hp.conditional_scope("a", 3):
        hp.Fixed("b", 5)
        assert hp.get("b") == 4

    # Value corresponding to the currently active condition is returned.
    assert hp.get("b") == 4


# hyperparameters_test.py
def test_dict_methods():
    hps = new_hp()
    hps.Int("a", 0, 10, default=3)
    hps.Choice("b", [1, 2], default=2)
    with hps.conditional_scope("b", 1):
        hps.Float("c", -10, 10, default=3)
        # Don't allow access of a non-active param within its scope.
        with pytest.raises(ValueError, match="is currently inactive"):
            hps["c"]
    with hps.conditional_scope("b", 2):
        hps.Float("c", -30, -20, default=-25)

    assert hps["a"] == 3
    assert hps["b"] == 2
    # Ok to access 'c' here since there is an active 'c'.
    assert hps["c"] == -25
    with pytest.raises(KeyError, match="does not exist"):
        hps["d"]

    assert "a" in hps
    assert "b" in hps
    assert "c" in hps
    assert "d" not in hps


# hyperparameters_test.py
def test_return_populated_value_for_new_hp():
    hp = new_hp()

    hp.values["hp_name"] = "hp_value"
    assert (
        hp.Choice(
            "hp_name",
            ["hp_value", "hp_value_default"],
            default="hp_value_default",
        )
        == "hp_value"
    )


# hyperparameters_test.py
def test_return_default_value_if_not_populated():
    hp = new_hp()

    assert (
        hp.Choice(
            "hp_name",
            ["hp_value", "hp_value_default"],
            default="hp_value_default",
        )
        == "hp_value_default"
    )


# == keras_tuner/engine/hyperparameters/hp_types/boolean_hp_test.py ====================================


# hp_types/boolean_hp_test.py (config round trip, seeded random_sample and value_to_prob dropped)
def test_boolean():
    # Test default default
    boolean = declared("Boolean", "bool")
    assert boolean.default is False
    # Test default setting
    boolean = declared("Boolean", "bool", default=True)
    assert boolean.default is True
    # Wrong default type
    with pytest.raises(ValueError, match="must be a Python boolean"):
        new_hp().Boolean("bool", default=None)
    # Test serialization: dropped.
    assert boolean.name == "bool"

    # Test random_sample: the value hp returns.
    assert new_hp().Boolean("bool", default=True) in {True, False}


# hp_types/boolean_hp_test.py
def test_boolean_repr():
    assert repr(declared("Boolean", "bool")) == repr(declared("Boolean", "bool"))


# hp_types/boolean_hp_test.py
def test_boolean_values_property():
    assert list(declared("Boolean", "bool").values) == [True, False]


# == keras_tuner/engine/hyperparameters/hp_types/choice_hp_test.py =====================================


# hp_types/choice_hp_test.py (config round trip, seeded random_sample and value_to_prob dropped)
def test_choice():
    choice = declared("Choice", "choice", [1, 2, 3], default=2)
    assert choice.default == 2
    assert new_hp().Choice("choice", [1, 2, 3], default=2) in [1, 2, 3]
    # No default
    choice = declared("Choice", "choice", [1, 2, 3])
    assert choice.default == 1
    with pytest.raises(ValueError, match="default value should be"):
        new_hp().Choice("choice", [1, 2, 3], default=4)


# hp_types/choice_hp_test.py (Choice(**choice.get_config()) becomes a declaration from the recorded one)
@pytest.mark.parametrize(
    "values,ordered_arg,ordered_val",
    [
        ([1, 2, 3], True, True),
        ([1, 2, 3], False, False),
        ([1, 2, 3], None, True),
        (["a", "b", "c"], False, False),
        (["a", "b", "c"], None, False),
    ],
)
def test_choice_ordered(values, ordered_arg, ordered_val):
    choice = declared("Choice", "choice", values, ordered=ordered_arg)
    assert choice.ordered == ordered_val
    choice_new = declared("Choice", choice.name, list(choice.values), ordered=choice.ordered, default=choice.default)
    assert choice_new.ordered == ordered_val


# hp_types/choice_hp_test.py
def test_choice_ordered_invalid():
    with pytest.raises(ValueError, match="must be `False`"):
        new_hp().Choice("a", ["a", "b"], ordered=True)


# hp_types/choice_hp_test.py
def test_choice_types():
    values1 = ["a", "b", 0]
    with pytest.raises(TypeError, match="can contain only one"):
        new_hp().Choice("a", values1)
    values2 = [{"a": 1}, {"a": 2}]
    with pytest.raises(TypeError, match="can contain only `int`"):
        new_hp().Choice("a", values2)


# hp_types/choice_hp_test.py
def test_choice_value_not_provided_error():
    with pytest.raises(ValueError, match="`values` must be provided"):
        new_hp().Choice("a", [])


# hp_types/choice_hp_test.py
def test_choice_repr():
    assert repr(declared("Choice", "a", [1, 2, 3])) == repr(declared("Choice", "a", [1, 2, 3]))


# hp_types/choice_hp_test.py
def test_choice_none_as_default():
    hp = declared("Choice", "a", [1, 2], default=None)
    assert hp.default == 1


# hp_types/choice_hp_test.py
def test_choice_default_not_none():
    hp = declared("Choice", "a", [1, 2], default=2)
    assert hp.default == 2


# hp_types/choice_hp_test.py
def test_choice_values_property():
    assert list(declared("Choice", "choice", [0, 1, 2]).values) == [0, 1, 2]


# == keras_tuner/engine/hyperparameters/hp_types/fixed_hp_test.py ======================================


# hp_types/fixed_hp_test.py (config round trips and value_to_prob dropped; random_sample is the value hp returns)
def test_fixed():
    fixed = declared("Fixed", "fixed", "value")
    assert fixed.default == "value"
    assert new_hp().Fixed("fixed", "value") == "value"

    fixed = declared("Fixed", "fixed", True)
    assert fixed.default is True
    assert new_hp().Fixed("fixed", True) is True

    fixed = declared("Fixed", "fixed", False)
    assert fixed.default is False
    assert new_hp().Fixed("fixed", False) is False

    fixed = declared("Fixed", "fixed", 1)
    assert fixed.value == 1
    assert new_hp().Fixed("fixed", 1) == 1

    fixed = declared("Fixed", "fixed", 8.2)
    assert fixed.value == 8.2
    assert new_hp().Fixed("fixed", 8.2) == 8.2

    with pytest.raises(ValueError, match="value must be an"):
        new_hp().Fixed("fixed", None)


# hp_types/fixed_hp_test.py
def test_fixed_repr():
    assert repr(declared("Fixed", "fixed", "value")) == repr(declared("Fixed", "fixed", "value"))


# hp_types/fixed_hp_test.py
def test_fixed_values_property():
    assert list(declared("Fixed", "fixed", 2).values) == [2]


# == keras_tuner/engine/hyperparameters/hp_types/float_hp_test.py ======================================


# hp_types/float_hp_test.py (config round trips and seeded random_sample dropped; the value hp returns is checked)
def test_float():
    # Test with step arg
    linear = declared("Float", "linear", min_value=0.5, max_value=9.5, step=0.1, default=9.0)
    assert linear.default == 9.0
    value = new_hp().Float("linear", min_value=0.5, max_value=9.5, step=0.1, default=9.0)
    assert 0.5 <= value <= 9.5
    assert isinstance(value, float)

    # Test without step arg
    linear = declared("Float", "linear", min_value=0.5, max_value=6.5, default=2.0)
    assert linear.default == 2.0
    value = new_hp().Float("linear", min_value=0.5, max_value=6.5, default=2.0)
    assert 0.5 <= value < 6.5
    assert isinstance(value, float)

    # No default
    linear = declared("Float", "linear", min_value=0.5, max_value=9.5, step=0.1)
    assert linear.default == 0.5


# hp_types/float_hp_test.py (value_to_prob dropped)
def test_sampling_zero_length_intervals():
    rand_sample = new_hp().Float("f", 2, 2)
    assert rand_sample == 2


# hp_types/float_hp_test.py (config round trip dropped)
def test_float_sampling_arg():
    f = declared("Float", "f", 1e-20, 1e10, sampling="log")
    assert f.sampling == "log"


# == keras_tuner/engine/hyperparameters/hp_types/int_hp_test.py ========================================


# hp_types/int_hp_test.py (config round trip dropped)
def test_int_sampling_arg():
    i = declared("Int", "i", 0, 10, sampling="linear")
    assert i.sampling == "linear"

    with pytest.raises(ValueError, match="sampling must be one of"):
        new_hp().Int("j", 0, 10, sampling="invalid")

    with pytest.raises(
        ValueError,
        match="min_value 1 is greater than the max_value 0",
    ):
        new_hp().Int("k", 1, 0, sampling="linear")

    with pytest.raises(
        ValueError,
        match="min_value 1 is greater than the max_value 0",
    ):
        new_hp().Int("k", 1, 0, sampling="linear")

    with pytest.raises(
        ValueError,
        match="does not support negative values",
    ):
        new_hp().Int("k", -10, -1, sampling="log")

    with pytest.raises(
        ValueError,
        match=r"For HyperParameters.Int\(name='k'\), expected step > 1",
    ):
        new_hp().Int("k", 1, 10, step=1, sampling="log")


# hp_types/int_hp_test.py (config round trip, seeded random_sample and value_to_prob dropped)
def test_int():
    rg = declared("Int", "rg", min_value=5, max_value=9, step=1, default=6)
    assert rg.default == 6
    value = new_hp().Int("rg", min_value=5, max_value=9, step=1, default=6)
    assert 5 <= value <= 9
    assert isinstance(value, int)
    # No default
    rg = declared("Int", "rg", min_value=5, max_value=9, step=1)
    assert rg.default == 5


# hp_types/int_hp_test.py
def test_int_raise_error_with_float_min_value():
    with pytest.raises(ValueError, match="must be an int"):
        new_hp().Int("j", 0.5, 10)


# hp_types/int_hp_test.py
def test_repr_int_is_str():
    assert "name: 'j'" in repr(declared("Int", "j", 1, 10))


# hp_types/int_hp_test.py
def test_sampling_none_is_linear():
    # This is for backward compatibility
    assert declared("Int", "int", 2, 4, sampling=None).sampling == "linear"


# == keras_tuner/engine/conditions_test.py =============================================================


# conditions_test.py (conditions.Parent("parent", [None]) is what conditional_scope builds)
def test_unknown_condition_values_error():
    hp = new_hp()
    hp.Choice("parent", [1, 2])
    with pytest.raises(TypeError, match="Can contain only"):
        with hp.conditional_scope("parent", [None]):
            pass


# == kerashpo's own: what an engine is asked, and the facade under OptunaSampling =====================


def test_left_out_tests_are_not_ported():
    ported = {name for name in globals() if name.startswith("test_")}
    left_out = {name for tests in LEFT_OUT.values() for name in tests}
    assert not ported & left_out


def asking() -> tuple[RecordingHyperParameters, list[tuple[str, str, dict]]]:
    """An ``hp`` whose engine answers with defaults and logs each question."""
    asked: list[tuple[str, str, dict]] = []

    def suggest(kind, name, spec):
        asked.append((kind, name, spec))
        return spec["default"]

    return RecordingHyperParameters(suggest), asked


def test_the_engine_is_asked_with_normalized_arguments_and_the_default():
    hp, asked = asking()
    hp.Int("units", 32, 512.0, step=32, default=64)
    hp.Int("filters", 8, 64, sampling="log")
    hp.Float("lr", 1e-4, 1e-2, sampling="LOG")
    hp.Float("momentum", 0, 1, step=0.1)
    hp.Choice("activation", ["relu", "tanh"])
    hp.Choice("flag", [True, False], default=False)
    hp.Boolean("dropout", default=True)
    hp.Fixed("epochs", 3)
    assert asked == [
        ("int", "units", dict(min_value=32, max_value=512, step=32, sampling="linear", default=64)),
        ("int", "filters", dict(min_value=8, max_value=64, step=None, sampling="log", default=8)),
        ("float", "lr", dict(min_value=1e-4, max_value=1e-2, step=None, sampling="log", default=1e-4)),
        ("float", "momentum", dict(min_value=0.0, max_value=1.0, step=0.1, sampling="linear", default=0.0)),
        ("choice", "activation", dict(values=["relu", "tanh"], ordered=False, default="relu")),
        # Keras Tuner stores a choice of booleans as the ints 1 and 0; so does the facade, so both engines agree.
        ("choice", "flag", dict(values=[1, 0], ordered=True, default=0)),
        ("boolean", "dropout", dict(default=True)),
        ("fixed", "epochs", dict(value=3, default=3)),
    ]


def test_the_engine_is_asked_once_per_name_and_never_for_an_inactive_parameter():
    answers = {"model": "cnn", "filters": 16}
    hp = RecordingHyperParameters(lambda kind, name, spec: answers[name])
    assert hp.Choice("model", ["mlp", "cnn"]) == "cnn"
    with hp.conditional_scope("model", "mlp"):
        assert hp.Int("units", 8, 64) is None  # inactive: not asked (answers has no "units")
    with hp.conditional_scope("model", "cnn"):
        assert hp.Int("filters", 8, 64) == 16
    answers["filters"] = 99
    assert hp.Int("filters", 8, 64, parent_name="model", parent_values=["cnn"]) == 16
    assert hp.values == {"model": "cnn", "filters": 16}
    assert [p.name for p in hp.space] == ["model", "units", "filters"]


def test_the_engine_answers_and_a_given_value_wins():
    hp = RecordingHyperParameters(lambda kind, name, spec: spec["max_value"])
    hp.values["given"] = 7
    assert hp.Int("given", 0, 10) == 7
    assert hp.Int("asked", 0, 10) == 10
    assert hp.values == {"given": 7, "asked": 10}
    copied = hp.copy()
    assert copied.Int("new", 0, 3) == 3 and "new" not in hp


def test_the_facade_imports_no_engine():
    tree = ast.parse(Path(facade.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__", "contextlib", "copy", "collections", "dataclasses", "typing"}


def test_under_optuna_sampling():
    """``OptunaSampling`` (search/training/sampling.py) answers the facade from a real Optuna trial."""
    import optuna

    from kerashpo.search.training.sampling import OptunaSampling

    def build(hp):
        model = hp.Choice("model", ["mlp", "cnn"])
        with hp.conditional_scope("model", "mlp"):
            hp.Int("units", 8, 64, step=8)
        with hp.conditional_scope("model", "cnn"):
            hp.Int("filters", 4, 64, sampling="log")
        hp.Float("lr", 1e-4, 1e-1, sampling="log")
        hp.Float("dropout", 0.0, 0.5, step=0.1)
        hp.Boolean("batch_norm")
        hp.Fixed("epochs", 2)
        return model

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(8):
        trial = study.ask()
        sampling = OptunaSampling(trial)
        model = build(sampling.hp)
        values = sampling.hp.values
        assert {k: v for k, v in trial.params.items()} == {k: v for k, v in values.items() if k != "epochs"}
        assert ("units" in values) == (model == "mlp") and ("filters" in values) == (model == "cnn")
        assert values.get("units", 8) % 8 == 0 and 4 <= values.get("filters", 4) <= 64
        assert 1e-4 <= values["lr"] <= 1e-1 and values["epochs"] == 2
        study.tell(trial, 0.0)
