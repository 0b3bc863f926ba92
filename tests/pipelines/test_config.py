"""The pipeline config's schema (pipelines/config.py), key by key, walked from ``PipelineConfig.model_fields`` so
that a key added later is covered (or the test says which row it lacks): each key is required or has a default, a
minimal config gets the default the reference documents, a misspelled key is named with the key it meant, and each
key has a row in ``BAD_VALUES`` with the one line ``parse_config`` refuses it with. Every refusal a validator can
make has a row in ``BAD_COMBINATIONS``. No training: the whole module runs in about a second.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from dataclasses import dataclass
from enum import Enum
from typing import Any, Union, get_args, get_origin

import pytest
import yaml
from helpers import REPO
from pydantic import BaseModel

from kerashpo.pipelines.config import (
    DEFAULT_ENSEMBLE,
    DEFAULT_TRIALS,
    TIME_BOUND_TRIALS,
    ConfigError,
    PipelineConfig,
    load_config,
    parse_config,
)
from kerashpo.spaces.presets.mlp import MLP

MINIMAL = {"name": "minimal", "dataset": {"name": "iris"}}
EXAMPLES = REPO / "pipelines" / "examples"
# Where a key inside a list or a mapping of sections is put to be checked: the item's index or name, and the item's
# other keys (those it needs to be valid). A new field holding sections needs an entry.
ITEMS: dict[str, tuple[int | str, dict[str, Any]]] = {
    "objectives": (0, {"metric": "val_log_loss"}),
    "constraints": ("n_params", {"max": 5000}),
}
# Keys a config must give: a new one would break every config written so far.
REQUIRED = {"name", "dataset", "objectives.0.metric"}
GIVEN = {"name", "dataset", "dataset.name"}  # what MINIMAL sets


@dataclass(frozen=True)
class Key:
    loc: tuple[int | str, ...]  # as pydantic and the error messages spell it: ("objectives", 0, "metric")
    field: Any  # pydantic's FieldInfo
    in_item: bool  # under a list or mapping of sections: no default to read from a minimal config

    @property
    def dotted(self) -> str:
        return ".".join(str(part) for part in self.loc)

    @property
    def name(self) -> str:
        return str(self.loc[-1])


def section_of(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The config section a field holds and how it holds it: "" (itself), "list" or "dict" of sections."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is list and args and section_of(args[0])[0] is not None:
        return section_of(args[0])[0], "list"
    if origin is dict and len(args) == 2 and section_of(args[1])[0] is not None:
        return section_of(args[1])[0], "dict"
    if origin is Union or type(None) in args:
        return next(((s, how) for s, how in map(section_of, args) if s is not None), (None, ""))
    return None, ""


def walk(model: type[BaseModel] = PipelineConfig, loc: tuple[int | str, ...] = (), in_item: bool = False) -> list[Key]:
    keys = []
    for name, field in model.model_fields.items():
        if field.exclude:  # set by the code, never read from a file
            continue
        keys.append(Key((*loc, name), field, in_item))
        section, how = section_of(field.annotation)
        if section is None:
            continue
        if how:
            index, _ = ITEMS[name]  # a KeyError here: give the new field an entry in ITEMS
            keys += walk(section, (*loc, name, index), in_item=True)
        else:
            keys += walk(section, (*loc, name), in_item)
    return keys


KEYS = walk()
SECTIONS = [()] + [key.loc for key in KEYS if section_of(key.field.annotation)[0] and not section_of(
    key.field.annotation)[1]] + [(*key.loc, ITEMS[key.name][0]) for key in KEYS if section_of(key.field.annotation)[1]]


def nest(loc: tuple[int | str, ...], value: Any) -> Any:
    if not loc:
        return value
    head, *rest = loc
    inner = nest(tuple(rest), value)
    if str(head) in ITEMS and rest:  # into an item of a list or mapping: with the item's other keys
        index, item = ITEMS[str(head)]
        inner = {index: merge(item, inner[index])} if isinstance(index, str) else [merge(item, inner[0])]
        return {head: inner}
    return [inner] if isinstance(head, int) else {head: inner}


def merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        return {**base, **{k: merge(base[k], v) if k in base else v for k, v in extra.items()}}
    if isinstance(base, list) and isinstance(extra, list) and len(base) == len(extra) == 1:
        return [merge(base[0], extra[0])]
    return extra


def document(loc: tuple[int | str, ...], value: Any, base: dict[str, Any] = MINIMAL) -> dict[str, Any]:
    """``base`` with ``value`` at ``loc``."""
    return merge(base, nest(loc, value))


def refusal(document: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_config(document)
    message = str(raised.value)
    assert len(message.splitlines()) == 1 and "Traceback" not in message, message
    return message


def default_of(field: Any) -> Any:
    return field.default_factory() if field.default_factory is not None else field.default


def value_at(config: BaseModel, loc: tuple[int | str, ...]) -> Any:
    value: Any = config
    for part in loc:
        value = value[part] if isinstance(part, int) or isinstance(value, dict) else getattr(value, part)
    return value


def test_the_walk_reaches_every_section_and_nested_key():
    dotted = {key.dotted for key in KEYS}
    assert {"budget.max_epochs", "export.pick.rule", "objectives.0.direction", "constraints.n_params.min",
            "dataset.image_size", "ablation.variants"} <= dotted
    assert len(dotted) == len(KEYS) > 60


def test_only_the_keys_every_config_names_are_required_and_every_key_is_described():
    assert {key.dotted for key in KEYS if key.field.is_required()} == REQUIRED
    # The reference (docs/config-reference.md) is generated from these descriptions.
    assert not [key.dotted for key in KEYS if not (key.field.description or "").strip()]


def test_a_minimal_config_gets_each_documented_default():
    config = parse_config(MINIMAL)
    for key in KEYS:
        if key.field.is_required() or key.in_item or key.dotted in GIVEN:
            continue
        default = default_of(key.field)
        value = value_at(config, key.loc)
        if isinstance(default, BaseModel):  # a section: its keys are checked one by one
            assert type(value) is type(default), key.dotted
            continue
        assert value == default, f"{key.dotted}: {value!r}, documented {default!r}"
        assert type(value) is type(default) or isinstance(default, Enum), key.dotted
    # Items of lists and mappings: their defaults in an item that gives only what it must.
    items = parse_config(document(("objectives",), [{"metric": "val_log_loss"}, {"metric": "n_params"}]))
    assert items.objectives[1].direction is None
    bound = parse_config(document(("constraints", "n_params"), {"max": 5000})).constraints["n_params"]
    assert bound.min is None and bound.max == 5000
    # What the defaults resolve to where a default means "decided later".
    assert config.budget.trial_cap == DEFAULT_TRIALS and not config.budget.time_decides
    assert parse_config(document(("budget", "timeout"), 60)).budget.trial_cap == TIME_BOUND_TRIALS
    assert config.ensemble_size(MLP) == DEFAULT_ENSEMBLE and config.ensemble_size(None) == 0
    assert config.dataset.label == "iris" and config.source is None and not config.split.cross_validates


def test_the_validators_that_fill_in_values_do_so_and_leave_the_defaults_alone():
    folds = parse_config(document(("split", "folds"), 3))
    assert folds.export.refit and folds.ensemble_size(MLP) == 0
    hyperband = parse_config(merge(MINIMAL, {"driver": "keras_tuner", "keras_tuner": {"tuner": "hyperband"},
                                             "budget": {"max_epochs": 7}}))
    assert hyperband.keras_tuner.max_epochs == 7
    # Filled into that config only: a config parsed afterwards still gets the defaults.
    again = parse_config(MINIMAL)
    assert not again.export.refit and again.keras_tuner.max_epochs is None
    dataset = parse_config(document(("dataset",), {"name": None, "path": "rows.pq", "target": "y"})).dataset
    assert dataset.format == "parquet" and dataset.label == "rows.pq"
    assert parse_config(document(("dataset",), {"name": None, "path": "pictures"})).dataset.format == "images"


@pytest.mark.parametrize("key", KEYS, ids=lambda key: key.dotted)
def test_a_misspelled_key_is_named_with_the_key_it_meant(key):
    # One letter short (or, where that is another key, one letter dropped before the last), where the section
    # would hold it: the likeliest slips, close enough to name the key.
    siblings = {str(other.loc[-1]) for other in KEYS if other.loc[:-1] == key.loc[:-1]}
    slip = next(s for s in (key.name[:-1], key.name[:-2] + key.name[-1]) if s not in siblings)
    misspelled = (*key.loc[:-1], slip)
    placed = document(misspelled, 1)
    dotted = ".".join(str(part) for part in misspelled)
    assert refusal(placed) == f"unknown key '{dotted}'; did you mean '{key.name}'?"


@pytest.mark.parametrize("loc", SECTIONS, ids=lambda loc: ".".join(map(str, loc)) or "top level")
def test_an_unknown_key_in_any_section_is_refused_by_its_full_name(loc):
    dotted = ".".join(str(part) for part in (*loc, "wobble"))
    assert refusal(document((*loc, "wobble"), 1)) == f"unknown key '{dotted}'; remove it or check its spelling"


# (key, bad value) -> the one line that refuses it. Every key of the schema has at least one row.
BAD_VALUES: list[tuple[str, Any, str]] = [
    ("name", "my run!", "name: String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.-]*$' (got 'my run!')"),
    ("dataset", 3, "dataset: Input should be a valid dictionary or instance of DatasetConfig (got 3)"),
    ("dataset.name", "mnist", "dataset.name: unknown dataset 'mnist'; choose from digits, digits_images, "
                              "breast_cancer, wine, iris, diabetes, or give a file with dataset.path"),
    ("dataset.path", 3, "dataset.path: Input should be a valid string (got 3)"),
    ("dataset.format", "xlsx", "dataset.format: unknown value 'xlsx'; expected 'csv', 'parquet', 'npz' or 'images'"),
    ("dataset.target", ["a"], "dataset.target: Input should be a valid string (got ['a'])"),
    ("dataset.drop", "id", "dataset.drop: Input should be a valid list (got 'id')"),
    ("dataset.categorical", "zip", "dataset.categorical: Input should be a valid list (got 'zip')"),
    ("dataset.x_key", None, "dataset.x_key: Input should be a valid string (got None)"),
    ("dataset.y_key", [1], "dataset.y_key: Input should be a valid string (got [1])"),
    ("dataset.image_size", [0, 8], "dataset.image_size: image_size [0, 8] needs two positive numbers: [height, width]"),
    ("dataset.color_mode", "cmyk", "dataset.color_mode: unknown value 'cmyk'; expected 'grayscale', 'rgb' or 'rgba'"),
    ("task", "ranking", "task: unknown task 'ranking'; choose from auto, binary, multiclass, regression"),
    ("split", 3, "split: Input should be a valid dictionary or instance of SplitConfig (got 3)"),
    ("split.validation", 0, "split.validation: Input should be greater than 0 (got 0)"),
    ("split.validation", 1.5, "split.validation: Input should be less than 1 (got 1.5)"),
    ("split.test", 1, "split.test: Input should be less than 1 (got 1)"),
    ("split.folds", 1, "split.folds: Input should be greater than or equal to 2 (got 1)"),
    ("split.folds", 21, "split.folds: Input should be less than or equal to 20 (got 21)"),
    ("split.repeats", 0, "split.repeats: Input should be greater than or equal to 1 (got 0)"),
    ("split.repeats", 11, "split.repeats: Input should be less than or equal to 10 (got 11)"),
    ("space", 3, "space: Input should be a valid string (got 3)"),
    ("defaults", "catboost", "defaults: unknown value 'catboost'; expected 'realmlp', 'mlp_plr' or 'tabm'"),
    ("build_model", "models.build",
     "build_model: String should match pattern '^[A-Za-z_][\\w.]*:[A-Za-z_]\\w*$' (got 'models.build')"),
    ("driver", "hyperopt", "driver: unknown value 'hyperopt'; expected 'optuna' or 'keras_tuner'"),
    ("optuna", 3, "optuna: Input should be a valid dictionary or instance of OptunaConfig (got 3)"),
    ("optuna.sampler", "annealing",
     "optuna.sampler: unknown value 'annealing'; expected 'tpe', 'random', 'cmaes', 'gp', 'grid' or 'nsga2'"),
    ("optuna.pruner", "patient",
     "optuna.pruner: unknown value 'patient'; expected 'hyperband', 'successive_halving', 'median' or 'none'"),
    ("optuna.pruning", "all", "optuna.pruning: unknown value 'all'; expected 'off' or 'primary'"),
    ("keras_tuner", "x", "keras_tuner: Input should be a valid dictionary or instance of KerasTunerConfig (got 'x')"),
    ("keras_tuner.tuner", "annealing",
     "keras_tuner.tuner: unknown value 'annealing'; expected 'random', 'bayesian', 'hyperband' or 'grid'"),
    ("keras_tuner.executions_per_trial", 0,
     "keras_tuner.executions_per_trial: Input should be greater than or equal to 1 (got 0)"),
    ("keras_tuner.max_epochs", 0, "keras_tuner.max_epochs: Input should be greater than or equal to 1 (got 0)"),
    ("keras_tuner.factor", 1, "keras_tuner.factor: Input should be greater than or equal to 2 (got 1)"),
    ("keras_tuner.hyperband_iterations", 0,
     "keras_tuner.hyperband_iterations: Input should be greater than or equal to 1 (got 0)"),
    ("keras_tuner.num_initial_points", 0,
     "keras_tuner.num_initial_points: Input should be greater than or equal to 1 (got 0)"),
    ("budget", [1], "budget: Input should be a valid dictionary or instance of BudgetConfig (got [1])"),
    ("budget.trials", 0, "budget.trials: Input should be greater than or equal to 1 (got 0)"),
    ("budget.max_epochs", 0, "budget.max_epochs: Input should be greater than or equal to 1 (got 0)"),
    ("budget.patience", 0, "budget.patience: Input should be greater than or equal to 1 (got 0)"),
    ("budget.timeout", 0, "budget.timeout: Input should be greater than 0 (got 0)"),
    ("budget.timeout", "1h",
     "budget.timeout: Input should be a valid number, unable to parse string as a number (got '1h')"),
    ("budget.trials_per_process", 0, "budget.trials_per_process: Input should be greater than or equal to 1 (got 0)"),
    ("objective", 1, "objective: Input should be a valid dictionary or instance of ObjectiveConfig (got 1)"),
    ("objective.metric", 3, "objective.metric: Input should be a valid string (got 3)"),
    ("objective.direction", "up", "objective.direction: unknown value 'up'; expected 'minimize' or 'maximize'"),
    ("objectives", "val_loss", "objectives: Input should be a valid list (got 'val_loss')"),
    ("objectives.0.metric", 3, "objectives.0.metric: Input should be a valid string (got 3)"),
    ("objectives.0.direction", "up",
     "objectives.0.direction: unknown value 'up'; expected 'minimize' or 'maximize'"),
    ("constraints", [1], "constraints: Input should be a valid dictionary (got [1])"),
    ("constraints.n_params.min", "small",
     "constraints.n_params.min: Input should be a valid number, unable to parse string as a number (got 'small')"),
    ("constraints.n_params.max", "big",
     "constraints.n_params.max: Input should be a valid number, unable to parse string as a number (got 'big')"),
    ("seed", "seven", "seed: Input should be a valid integer, unable to parse string as an integer (got 'seven')"),
    ("seed", 1.5, "seed: Input should be a valid integer, got a number with a fractional part (got 1.5)"),
    ("tracking", 1, "tracking: Input should be a valid dictionary or instance of TrackingConfig (got 1)"),
    ("tracking.uri", 5, "tracking.uri: Input should be a valid string (got 5)"),
    ("storage", 5, "storage: Input should be a valid string (got 5)"),
    ("export", 1, "export: Input should be a valid dictionary or instance of ExportConfig (got 1)"),
    ("export.keep_best", 0, "export.keep_best: Input should be greater than or equal to 1 (got 0)"),
    ("export.formats", ["keras", "onnx"],
     "export.formats.1: unknown value 'onnx'; expected 'keras', 'saved_model' or 'mlflow'"),
    ("export.formats", "keras", "export.formats: Input should be a valid list (got 'keras')"),
    ("export.register_model", "maybe",
     "export.register_model: Input should be a valid boolean, unable to interpret input (got 'maybe')"),
    ("export.dir", 3, "export.dir: Input should be a valid string (got 3)"),
    ("export.refit", "sometimes",
     "export.refit: Input should be a valid boolean, unable to interpret input (got 'sometimes')"),
    ("export.ensemble", -1, "export.ensemble: Input should be greater than or equal to 0 (got -1)"),
    ("export.pick", 1, "export.pick: Input should be a valid dictionary or instance of PickConfig (got 1)"),
    ("export.pick.rule", "cheapest",
     "export.pick.rule: unknown value 'cheapest'; expected 'smallest_within', 'best_first' or 'trial'"),
    ("export.pick.tolerance", -0.1, "export.pick.tolerance: Input should be greater than or equal to 0 (got -0.1)"),
    ("export.pick.trial", -1, "export.pick.trial: Input should be greater than or equal to 0 (got -1)"),
    ("workers", 0, "workers: Input should be greater than or equal to 1 (got 0)"),
    ("mixed_precision", "maybe",
     "mixed_precision: Input should be a valid boolean, unable to interpret input (got 'maybe')"),
    ("backend", "theano", "backend: unknown value 'theano'; expected 'tensorflow', 'jax' or 'torch'"),
    ("baseline", 2, "baseline: give true, false or a list of linear, gradient_boosting (got 2)"),
    ("report", "maybe", "report: Input should be a valid boolean, unable to interpret input (got 'maybe')"),
    ("ablation", 1, "ablation: Input should be a valid dictionary or instance of AblationConfig (got 1)"),
    ("ablation.variants", [1], "ablation.variants: Input should be a valid dictionary (got [1])"),
    ("ablation.seeds", 0, "ablation.seeds: Input should be greater than or equal to 1 (got 0)"),
]


def test_every_key_has_a_bad_value_row():
    rows = {dotted for dotted, _, _ in BAD_VALUES}
    assert not [key.dotted for key in KEYS if key.dotted not in rows]
    assert not rows - {key.dotted for key in KEYS}, "a row names a key the schema does not have"


@pytest.mark.parametrize("dotted, value, message", BAD_VALUES, ids=[f"{d}={v!r}" for d, v, _ in BAD_VALUES])
def test_a_bad_value_is_refused_in_one_line_naming_its_key(dotted, value, message):
    loc = tuple(int(part) if part.isdigit() else part for part in dotted.split("."))
    assert refusal(document(loc, value)) == message


# The refusals that weigh keys against each other: (validator, the config besides MINIMAL, the line). Every
# `raise` of every validator has a row (test_every_validator_refusal_has_a_row counts them).
BAD_COMBINATIONS: list[tuple[str, dict[str, Any], str]] = [
    ("_baseline_words", {"baseline": "maybe"}, "baseline: give true, false or a list of linear, gradient_boosting "
                                               "(got 'maybe')"),
    ("_baseline_words", {"baseline": ["linear", "trees"]},
     "baseline: unknown reference 'trees'; expected linear or gradient_boosting"),
    ("_known", {"dataset": {"name": "cifar10"}}, "dataset.name: unknown dataset 'cifar10'"),
    ("_positive", {"dataset": {"name": None, "path": "pictures", "image_size": [32, -1]}},
     "dataset.image_size: image_size [32, -1] needs two positive numbers: [height, width]"),
    ("_one_source", {"dataset": {"path": "rows.csv", "target": "y"}},
     "dataset: give either name (a built-in dataset) or path (a file or folder), not both"),
    ("_one_source", {"dataset": {"name": None, "path": "rows.xlsx"}},
     "dataset: cannot tell the format of 'rows.xlsx'; set dataset.format to one of csv, parquet, npz, images"),
    ("_one_source", {"dataset": {"name": None, "path": "rows.csv"}},
     "dataset: a csv dataset needs target: the name of the column to predict"),
    ("_room_to_train", {"split": {"validation": 0.5, "test": 0.4}},
     "split: validation + test must leave at least 10% for training"),
    ("_room_to_train", {"split": {"folds": 3, "validation": 0.2}},
     "split: with folds each fold is the validation part in turn; remove validation"),
    ("_room_to_train", {"split": {"repeats": 2}},
     "split: repeats repeats the folds of cross-validation; set folds too, or remove repeats"),
    ("_trial_named", {"export": {"pick": {"rule": "trial"}}},
     "export.pick: rule: trial takes the trial's number (trial: N), and only it does"),
    ("_trial_named", {"export": {"pick": {"rule": "best_first", "trial": 3}}},
     "export.pick: rule: trial takes the trial's number (trial: N), and only it does"),
    ("_a_bound", {"constraints": {"latency_ms": {}}}, "constraints.latency_ms: give max, min or both"),
    ("_a_bound", {"constraints": {"latency_ms": {"min": 5, "max": 1}}},
     "constraints.latency_ms: min 5 is above max 1"),
    ("_keras_always", {"export": {"formats": ["saved_model"]}},
     "export.formats: 'keras' is always written (kerashpo predict and the MLflow model read it): list it too"),
    ("_registry_needs_mlflow", {"export": {"formats": ["keras"], "register_model": True}},
     "export: register_model: true needs 'mlflow' in export.formats; add it or set register_model: false"),
    ("_ensemble_of_trials", {"export": {"ensemble": 1}},
     "export: ensemble: 1 model is the champion alone; give 0 (off) or at least 2"),
    ("_ensemble_of_trials", {"export": {"ensemble": 3, "refit": True}},
     "export: ensemble averages the trials' own models; it cannot be combined with refit: true"),
    ("_named_and_setting_something", {"ablation": {"variants": {"champion": {"l2": 0.1}}}},
     "ablation.variants: 'champion' is a built-in variant; give yours another name"),
    ("_named_and_setting_something", {"ablation": {"variants": {"my l2!": {"l2": 0.1}}}},
     "ablation.variants: 'my l2!': a variant's name takes letters, digits, '_' and '-'"),
    ("_named_and_setting_something", {"ablation": {"variants": {"nothing": {}}}},
     "ablation.variants: 'nothing' sets no parameter; give it at least one (param: value)"),
    ("_known_task", {"task": "ranking"}, "task: unknown task 'ranking'"),
    ("_published_defaults", {"defaults": "tabm"},
     "defaults: tabm is a configuration of space tabular; set space: tabular (or remove defaults)"),
    ("_published_defaults", {"space": "tabular", "defaults": "realmlp", "budget": {"trials": 3}},
     "defaults: realmlp trains one fixed configuration; set budget.trials to 1 or remove it"),
    ("_workers_need_optuna", {"driver": "keras_tuner", "workers": 2},
     "workers > 1 needs driver optuna: Keras Tuner's oracle keeps its state in one process"),
    ("_several_objectives", {"optuna": {"pruning": "primary"}},
     "optuna.pruning says how a search with several objectives prunes; with one, optuna.pruner decides: "
     "remove optuna.pruning"),
    ("_several_objectives", {"export": {"pick": {"rule": "best_first"}}},
     "export.pick chooses from the Pareto front of several objectives; set objectives or remove export.pick"),
    ("_several_objectives", {"objectives": [{"metric": "val_log_loss"}]},
     "objectives: give two or three (got 1); one goes in objective"),
    ("_several_objectives", {"objectives": [{"metric": "val_log_loss"}, {"metric": "n_params"}],
                             "objective": {"metric": "val_accuracy"}},
     "give objective (one) or objectives (several), not both"),
    ("_several_objectives", {"objectives": [{"metric": "val_log_loss"}, {"metric": "n_params"}],
                             "driver": "keras_tuner"},
     "objectives: Keras Tuner combines several objectives into one number; use driver optuna for a Pareto "
     "front, or keep one objective and bound the others with constraints"),
    ("_several_objectives", {"objectives": [{"metric": "val_log_loss"}, {"metric": "n_params"}],
                             "export": {"ensemble": 3}},
     "export.ensemble averages the best trials by one objective; with objectives the model shipped is picked "
     "from the front (export.pick)"),
    ("_several_objectives", {"objectives": [{"metric": "val_log_loss"}, {"metric": "val_log_loss"}]},
     "objectives: val_log_loss, val_log_loss names a metric twice"),
    ("_ensemble_within_constraints", {"export": {"ensemble": 3}, "constraints": {"n_params": {"max": 5000}}},
     "export.ensemble: constraints bound each trial's model, and an average of several is larger and slower"),
    ("_folds_refit", {"split": {"folds": 3}, "export": {"ensemble": 3}},
     "export.ensemble averages the trials' own models, and with split.folds a trial keeps none"),
    ("_folds_refit", {"split": {"folds": 3}, "export": {"refit": False}},
     "with split.folds the champion is always refit on every non-test row; remove export.refit: false"),
    ("_hyperband_epochs", {"driver": "keras_tuner", "keras_tuner": {"tuner": "hyperband"}},
     "keras_tuner.tuner hyperband needs max_epochs: set keras_tuner.max_epochs or budget.max_epochs"),
]


def validators() -> dict[str, int]:
    """Each validator of every section of the schema, with how many refusals (``raise``) it holds."""
    sections = {PipelineConfig} | {section_of(key.field.annotation)[0] for key in KEYS} - {None}
    found: dict[str, int] = {}
    for section in sections:
        decorators = section.__pydantic_decorators__
        for name, decorator in {**decorators.model_validators, **decorators.field_validators}.items():
            source = textwrap.dedent(inspect.getsource(decorator.func))
            found[name] = sum(isinstance(node, ast.Raise) for node in ast.walk(ast.parse(source)))
    return found


def test_every_validator_refusal_has_a_row():
    rows: dict[str, int] = {}
    for name, _, _ in BAD_COMBINATIONS:
        rows[name] = rows.get(name, 0) + 1
    found = validators()
    assert set(rows) == set(found)
    assert not {name: (count, rows[name]) for name, count in found.items() if rows[name] < count}, \
        "validator: (refusals it can make, rows)"



@pytest.mark.parametrize("validator, extra, message", BAD_COMBINATIONS,
                         ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(BAD_COMBINATIONS)])
def test_keys_that_contradict_each_other_are_refused_in_one_line(validator, extra, message):
    assert message in refusal(merge(MINIMAL, extra))


def test_load_config_names_the_file_and_validates_command_line_overrides_like_its_own_keys(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({**MINIMAL, "budget": {"max_epoch": 5}}))
    where = re.escape(str(path))
    with pytest.raises(ConfigError, match=f"^{where}: unknown key 'budget.max_epoch'; did you mean 'max_epochs'\\?$"):
        load_config(path)
    path.write_text(yaml.safe_dump(MINIMAL))
    # An override reaches a section the file does not have, and is refused as the file's own key would be.
    config = load_config(path, {"budget.trials": 4, "optuna.sampler": "random", "export.dir": None})
    assert config.budget.trials == 4 and config.optuna.sampler == "random" and config.source == path
    assert config.export.dir is None  # an unset flag changes nothing
    with pytest.raises(ConfigError, match=f"^{where}: budget.trials: Input should be greater than or equal to 1"):
        load_config(path, {"budget.trials": 0})


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")) + ["folds"])
def test_the_logged_config_runs_again_as_the_same_config(example):
    config = parse_config(merge(MINIMAL, {"split": {"folds": 3, "repeats": 2}, "export": {"ensemble": 0}})) \
        if example == "folds" else load_config(EXAMPLES / example)
    again = parse_config(yaml.safe_load(config.to_yaml()))
    assert again.fingerprint() == config.fingerprint()


def test_the_fingerprint_follows_every_value_and_the_logged_config_hides_passwords():
    config = parse_config(MINIMAL)
    assert config.fingerprint() == parse_config(MINIMAL).fingerprint()
    assert config.fingerprint() != parse_config(document(("budget", "patience"), 9)).fingerprint()
    assert config.fingerprint() != parse_config(document(("export", "keep_best"), 4)).fingerprint()
    secret = parse_config(merge(MINIMAL, {"storage": "postgresql://me:hunter2@db/optuna",
                                          "tracking": {"uri": "http://me:hunter2@mlflow:5000"}}))
    logged = secret.to_yaml()
    assert "hunter2" not in logged and yaml.safe_load(logged)["storage"].startswith("postgresql://me:***@")
    assert secret.storage == "postgresql://me:hunter2@db/optuna"  # what the run connects with is unchanged
