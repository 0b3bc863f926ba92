"""What a trial trains, and how an engine's sampling reaches it.

A *source* is either a declared space with its builder (``SpaceSource``) or a
user's Keras Tuner style ``build_model(hp)`` / ``keras_tuner.HyperModel``
(``HyperModelSource``). A *sampling* is one engine's view of one trial: it can
sample a declared space and it offers a Keras Tuner style ``hp`` object. Every
source runs under every engine through these two views.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from spaces import Bool, Categorical, DataSpec, Fixed, FitOptions, Float, Int, Param, Preset, Space, UserError
from spaces.preset import default_fit_options


class Sampling(Protocol):
    """One trial as an engine sees it."""

    def sample_space(self, space: Space) -> dict[str, Any]: ...

    @property
    def hp(self) -> Any: ...


class ModelSource(Protocol):
    name: str

    def build(self, sampling: Sampling, spec: DataSpec) -> tuple[dict[str, Any], Any]: ...

    def fit_options(self, params: dict[str, Any], max_epochs: int, monitor: str, direction: str) -> FitOptions: ...

    def fit(self, sampling: Sampling, model: Any, data: Any, *, batch_size: int, seed: int, validate: bool = True,
            augmentation: Any = None, **kwargs: Any) -> Any: ...


def fit_batches(model: Any, data: Any, *, batch_size: int, seed: int, validate: bool = True,
                augmentation: Any = None, **kwargs: Any) -> Any:
    """``model.fit`` over the search's cached ``tf.data`` pipelines; shuffling is theirs, seeded."""
    validation = data.batches("val", model, batch_size) if validate else None
    return model.fit(data.batches("train", model, batch_size, seed, augmentation), validation_data=validation,
                     shuffle=False, **kwargs)


def as_source(thing: Any) -> Any:
    """A Preset, a build function or a HyperModel as a source; a source stays as it is."""
    if isinstance(thing, (SpaceSource, HyperModelSource)):
        return thing
    if isinstance(thing, Preset):
        return SpaceSource(thing)
    return HyperModelSource(thing)


class SpaceSource:
    """A declared space and the preset builder that reads its values."""

    def __init__(self, preset: Preset):
        self.preset = preset
        self.name = preset.name
        self.space = preset.space

    def check(self) -> None:
        """Declared spaces were validated when they were made."""

    def build(self, sampling: Sampling, spec: DataSpec) -> tuple[dict[str, Any], Any]:
        params = sampling.sample_space(self.preset.space)
        return params, self.preset.build(dict(params), spec)

    def fit_options(self, params: dict[str, Any], max_epochs: int, monitor: str, direction: str) -> FitOptions:
        return self.preset.fit_options(dict(params), max_epochs, monitor, direction)

    def fit(self, sampling: Sampling, model: Any, data: Any, *, batch_size: int, seed: int, validate: bool = True,
            augmentation: Any = None, **kwargs: Any) -> Any:
        return fit_batches(model, data, batch_size=batch_size, seed=seed, validate=validate,
                           augmentation=augmentation, **kwargs)


class HyperModelSource:
    """A user's ``build_model(hp)`` or ``keras_tuner.HyperModel``, unchanged, under any engine.

    A HyperModel that overrides ``fit(hp, model, ...)`` has it called with the
    training arguments; ``batch_size`` in ``hp`` is applied otherwise.
    """

    space = None

    def __init__(self, hypermodel: Any, name: str | None = None):
        if inspect.isclass(hypermodel):
            hypermodel = hypermodel()
        if not callable(hypermodel) and not hasattr(hypermodel, "build"):
            raise UserError(f"{name or hypermodel!r} is neither a function build_model(hp) nor a HyperModel")
        self.hypermodel = hypermodel
        self.name = name or getattr(hypermodel, "__name__", type(hypermodel).__name__)
        self._build = hypermodel.build if hasattr(hypermodel, "build") else hypermodel
        self._custom_fit = _overrides_fit(hypermodel)

    def build(self, sampling: Sampling, spec: DataSpec) -> tuple[dict[str, Any], Any]:
        model = self._build(sampling.hp)
        return model_params(sampling.hp.values), model

    def fit_options(self, params: dict[str, Any], max_epochs: int, monitor: str, direction: str) -> FitOptions:
        return default_fit_options(params, max_epochs, monitor, direction)

    def check(self) -> None:
        """Build once with Keras Tuner's defaults: a function that cannot make a compiled model is a user error."""
        import keras
        import keras_tuner

        from search.runner import check_model

        try:
            try:
                model = self._build(keras_tuner.HyperParameters())
            except Exception as exc:
                raise UserError(f"build_model {self.name}: failed with default values: "
                                f"{type(exc).__name__}: {exc}") from None
            try:
                check_model(model)
            except TypeError as exc:
                raise UserError(f"build_model {self.name}: {exc}") from None
        finally:
            keras.backend.clear_session()

    def fit(self, sampling: Sampling, model: Any, data: Any, *, batch_size: int, seed: int, validate: bool = True,
            augmentation: Any = None, **kwargs: Any) -> Any:
        if self._custom_fit:
            # A user's fit(hp, model, x, y, ...) may choose its own batch size: it gets arrays.
            x, y = data.arrays("train", model)
            validation = data.arrays("val", model) if validate else None
            return self.hypermodel.fit(sampling.hp, model, x, y, validation_data=validation, batch_size=batch_size,
                                       **kwargs)
        return fit_batches(model, data, batch_size=batch_size, seed=seed, validate=validate,
                           augmentation=augmentation, **kwargs)


def model_params(hp_values: dict[str, Any]) -> dict[str, Any]:
    """The sampled values, without Keras Tuner's own bookkeeping (Hyperband's ``tuner/epochs``, ...)."""
    return {k: v for k, v in hp_values.items() if not k.startswith("tuner/")}


def _overrides_fit(hypermodel: Any) -> bool:
    fit = getattr(type(hypermodel), "fit", None)
    if fit is None:
        return False
    try:
        import keras_tuner

        return fit is not keras_tuner.HyperModel.fit
    except ImportError:  # pragma: no cover - keras-tuner is a dependency
        return True


def import_hypermodel(reference: str, search_path: Path | None = None) -> HyperModelSource:
    """``module:function`` (or ``module:HyperModelClass``) as a source; the module may sit beside the config."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise UserError(f"build_model: {reference!r} should look like 'module:function'")
    # The folder stays on sys.path: a fresh search process (spawned) re-imports the function from it.
    if search_path is not None and str(search_path) not in sys.path:
        sys.path.insert(0, str(search_path))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"build_model: cannot import module {module_name!r} ({exc}); "
                        "put it beside the config or on PYTHONPATH") from None
    except Exception as exc:
        raise UserError(f"build_model: importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    if not hasattr(module, attribute):
        raise UserError(f"build_model: module {module_name!r} has no attribute {attribute!r}")
    target = getattr(module, attribute)
    if not (callable(target) or hasattr(target, "build")):
        raise UserError(f"build_model: {reference} is not callable; give a function build_model(hp) or a HyperModel")
    return HyperModelSource(target, name=reference)


# -- samplings ---------------------------------------------------------------------


class FixedSampling:
    """Given values, for retraining a known configuration."""

    def __init__(self, params: dict[str, Any]):
        self.params = dict(params)
        self.hp = _RecordingHyperParameters(lambda kind, name, spec: self.params[name])

    def sample_space(self, space: Space) -> dict[str, Any]:
        return dict(self.params)


class OptunaSampling:
    """An Optuna trial: a suggester for spaces, and a Keras Tuner style ``hp`` for build functions."""

    def __init__(self, trial: Any):
        self.trial = trial
        self.hp = _RecordingHyperParameters(self._suggest)

    def sample_space(self, space: Space) -> dict[str, Any]:
        return space.sample(self.trial)

    def _suggest(self, kind: str, name: str, spec: dict[str, Any]) -> Any:
        trial = self.trial
        if kind == "int":
            log = spec.get("sampling") in ("log", "reverse_log")
            step = 1 if log else (spec.get("step") or 1)
            return trial.suggest_int(name, spec["min_value"], spec["max_value"], step=step, log=log)
        if kind == "float":
            log = spec.get("sampling") in ("log", "reverse_log")
            step = None if log else spec.get("step")
            return trial.suggest_float(name, spec["min_value"], spec["max_value"], step=step, log=log)
        if kind == "choice":
            return trial.suggest_categorical(name, list(spec["values"]))
        if kind == "boolean":
            return trial.suggest_categorical(name, [False, True])
        return spec["value"]


class _RecordingHyperParameters:
    """The part of ``keras_tuner.HyperParameters`` a build function uses, answered by ``suggest``.

    Inside ``conditional_scope`` (or with ``parent_name``/``parent_values``), a
    parameter whose condition does not hold is not sampled and returns None, as
    in Keras Tuner.
    """

    def __init__(self, suggest: Callable[[str, str, dict[str, Any]], Any]):
        self._suggest = suggest
        self.values: dict[str, Any] = {}
        self._scopes: list[tuple[str, tuple[Any, ...]]] = []

    @contextlib.contextmanager
    def conditional_scope(self, parent_name: str, parent_values: Any) -> Iterator[None]:
        values = tuple(parent_values) if isinstance(parent_values, (list, tuple, set)) else (parent_values,)
        self._scopes.append((parent_name, values))
        try:
            yield
        finally:
            self._scopes.pop()

    def _value(self, kind: str, name: str, spec: dict[str, Any]) -> Any:
        parent, parent_values = spec.pop("parent_name", None), spec.pop("parent_values", None)
        scopes = self._scopes + ([(parent, tuple(parent_values))] if parent is not None else [])
        if not all(self.values.get(p) in allowed for p, allowed in scopes):
            return None
        if name not in self.values:
            self.values[name] = self._suggest(kind, name, spec)
        return self.values[name]

    def Int(self, name: str, min_value: int, max_value: int, step: int | None = None, sampling: str = "linear",
            default: Any = None, parent_name: str | None = None, parent_values: Any = None) -> Any:
        return self._value("int", name, dict(min_value=min_value, max_value=max_value, step=step, sampling=sampling,
                                             parent_name=parent_name, parent_values=parent_values))

    def Float(self, name: str, min_value: float, max_value: float, step: float | None = None,
              sampling: str = "linear", default: Any = None, parent_name: str | None = None,
              parent_values: Any = None) -> Any:
        return self._value("float", name, dict(min_value=min_value, max_value=max_value, step=step,
                                               sampling=sampling, parent_name=parent_name,
                                               parent_values=parent_values))

    def Choice(self, name: str, values: list[Any], ordered: bool | None = None, default: Any = None,
               parent_name: str | None = None, parent_values: Any = None) -> Any:
        return self._value("choice", name, dict(values=values, parent_name=parent_name, parent_values=parent_values))

    def Boolean(self, name: str, default: bool = False, parent_name: str | None = None,
                parent_values: Any = None) -> Any:
        return self._value("boolean", name, dict(parent_name=parent_name, parent_values=parent_values))

    def Fixed(self, name: str, value: Any, parent_name: str | None = None, parent_values: Any = None) -> Any:
        return self._value("fixed", name, dict(value=value, parent_name=parent_name, parent_values=parent_values))

    def get(self, name: str) -> Any:
        return self.values[name]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def __contains__(self, name: str) -> bool:
        return name in self.values


class KerasTunerSampling:
    """A Keras Tuner ``hp``: declared spaces register through it with conditional scopes."""

    def __init__(self, hp: Any):
        self.hp = hp

    def sample_space(self, space: Space) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for param in space:
            with contextlib.ExitStack() as scopes:
                for parent, allowed in param.when.items():
                    scopes.enter_context(self.hp.conditional_scope(parent, list(allowed)))
                value = _register(self.hp, param)
            if param.is_active(values):
                values[param.name] = value
        return values


def _register(hp: Any, param: Param) -> Any:
    if isinstance(param, Int):
        # Keras Tuner reads a log-scale step as a factor; no step samples the whole range.
        return hp.Int(param.name, param.low, param.high, step=None if param.log else param.step,
                      sampling="log" if param.log else "linear")
    if isinstance(param, Float):
        if param.grid is not None:
            return hp.Choice(param.name, list(param.grid))
        return hp.Float(param.name, param.low, param.high, step=param.step,
                        sampling="log" if param.log else "linear")
    if isinstance(param, Categorical):
        return hp.Choice(param.name, list(param.choices))
    if isinstance(param, Bool):
        return hp.Boolean(param.name)
    if isinstance(param, Fixed):
        return hp.Fixed(param.name, param.value)
    raise TypeError(f"unknown parameter kind {type(param).__name__}")
