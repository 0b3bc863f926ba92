"""How an engine's sampling reaches a trial: one engine's view of one trial samples a declared space and offers a
Keras Tuner style ``hp`` object, so every source runs under every engine."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from kerashpo.search.training.hyperparameters import RecordingHyperParameters
from kerashpo.spaces import Bool, Categorical, Fixed, Float, Int, Param, Space

if TYPE_CHECKING:
    from keras_tuner import HyperParameters
    from optuna import Trial

__all__ = ["FixedSampling", "KerasTunerSampling", "OptunaSampling", "model_params"]


class FixedSampling:
    """Given values, for retraining a known configuration."""

    def __init__(self, params: dict[str, Any]):
        self.params = dict(params)
        self.hp = RecordingHyperParameters(lambda kind, name, spec: self.params[name])

    def sample_space(self, space: Space) -> dict[str, Any]:
        return dict(self.params)


class OptunaSampling:
    """An Optuna trial: a suggester for spaces, and a Keras Tuner style ``hp`` for build functions."""

    def __init__(self, trial: Trial):
        self.trial = trial
        self.hp = RecordingHyperParameters(self._suggest)

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


class KerasTunerSampling:
    """A Keras Tuner ``hp``: declared spaces register through it with conditional scopes."""

    def __init__(self, hp: HyperParameters):
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


def _register(hp: HyperParameters, param: Param) -> Any:
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


def model_params(hp_values: dict[str, Any]) -> dict[str, Any]:
    """The sampled values, without Keras Tuner's own bookkeeping (Hyperband's ``tuner/epochs``, ...)."""
    return {k: v for k, v in hp_values.items() if not k.startswith("tuner/")}
