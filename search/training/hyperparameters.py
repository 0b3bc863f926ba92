"""Keras Tuner's ``hp`` for a user's ``build_model(hp)``, answered by any engine (an Optuna trial, given values).

``RecordingHyperParameters`` behaves like ``keras_tuner.HyperParameters`` for
what a build function uses (the hyperparameter methods, ``values``, ``get``,
``[]``, ``in``, ``conditional_scope``, ``name_scope``, ``is_active``,
``space``): the same arguments are accepted and refused with the same errors,
the same defaults apply, and conditional parameters are active or not by the
same rules. Only the source of a new value differs: Keras Tuner's fresh
``HyperParameters`` answers with the default, this one asks ``suggest(kind,
name, spec)``; ``RecordingHyperParameters.with_defaults()`` answers as Keras
Tuner does. Keras Tuner's own tests, ported, are ``tests/search/test_kt_hyperparameters.py``.

``kind`` is one of ``"int"``, ``"float"``, ``"choice"``, ``"boolean"``,
``"fixed"``; ``spec`` holds the validated, normalized arguments (as Keras
Tuner stores them) and always ``default``:

- int, float: ``min_value``, ``max_value``, ``step`` (None: any value; with
  log sampling a factor), ``sampling`` (``"linear"``, ``"log"``,
  ``"reverse_log"``), ``default``
- choice: ``values`` (a list of one type: int, float, str or bool), ``ordered``, ``default``
- boolean: ``default``
- fixed: ``value``, ``default`` (the value)
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

Suggest = Callable[[str, str, dict[str, Any]], Any]

_SAMPLINGS = ("linear", "log", "reverse_log")
_CLASS_NAMES = {"int": "Int", "float": "Float", "choice": "Choice", "boolean": "Boolean", "fixed": "Fixed"}


def default_suggest(kind: str, name: str, spec: dict[str, Any]) -> Any:
    """Keras Tuner's answer for a fresh ``HyperParameters``: each parameter's default."""
    return spec["default"]


@dataclass(frozen=True)
class Condition:
    """Active when the parent ``name`` holds one of ``values`` (Keras Tuner's ``conditions.Parent``)."""

    name: str
    values: tuple[Any, ...]

    @classmethod
    def parent(cls, name: str, values: Any) -> Condition:
        """``values`` as Keras Tuner takes them: one value or a list/tuple of one type (int, float, str, bool)."""
        listed = list(values) if isinstance(values, (list, tuple)) else [values]
        first = listed[0] if listed else None
        if isinstance(first, str):
            listed = [str(v) for v in listed]
        elif isinstance(first, bool):
            pass  # before int: a bool is an int
        elif isinstance(first, int):
            listed = [int(v) for v in listed]
        elif not isinstance(first, float):
            raise TypeError(f"Can contain only `int`, `float`, `str`, or `bool`, found values: {listed!s}with "
                            f"types: {type(first)!s}")
        return cls(name, tuple(listed))

    def is_active(self, values: dict[str, Any]) -> bool:
        return self.name in values and values[self.name] in self.values


@dataclass(frozen=True)
class HyperParameter:
    """One declared hyperparameter, as in ``hp.space``: its kind, full name, arguments and conditions.

    Identified, as in Keras Tuner, by its name and conditions: the same name
    under other conditions is another hyperparameter (only one of them should
    be active at a time).
    """

    kind: str
    name: str
    spec: dict[str, Any] = field(default_factory=dict)
    conditions: tuple[Condition, ...] = ()

    @property
    def default(self) -> Any:
        return self.spec["default"]

    @property
    def min_value(self) -> Any:
        return self.spec.get("min_value")

    @property
    def max_value(self) -> Any:
        return self.spec.get("max_value")

    @property
    def step(self) -> Any:
        return self.spec.get("step")

    @property
    def sampling(self) -> str | None:
        return self.spec.get("sampling")

    @property
    def ordered(self) -> bool | None:
        return self.spec.get("ordered")

    @property
    def value(self) -> Any:
        return self.spec.get("value")

    @property
    def values(self) -> tuple[Any, ...] | None:
        """The possible values of a choice, a boolean or a fixed value; None for a range (the engine samples it)."""
        if self.kind == "choice":
            return tuple(self.spec["values"])
        if self.kind == "boolean":
            return (True, False)
        if self.kind == "fixed":
            return (self.spec["value"],)
        return None

    def __repr__(self) -> str:
        arguments = "".join(f", {key}: {value!r}" for key, value in self.spec.items())
        return f"{_CLASS_NAMES[self.kind]}(name: {self.name!r}{arguments})"


class RecordingHyperParameters:
    """``keras_tuner.HyperParameters`` for a build function, with new values from ``suggest(kind, name, spec)``.

    A parameter is asked for once: a name already in ``values`` (given before
    the build, or by an earlier declaration) keeps its value. Inside
    ``conditional_scope`` (or with ``parent_name``/``parent_values``), a
    parameter whose condition does not hold is declared (in ``space``) but
    not asked for, is not in ``values``, and returns None.
    """

    def __init__(self, suggest: Suggest):
        self._suggest = suggest
        self.values: dict[str, Any] = {}
        self._space: list[HyperParameter] = []
        self._name_scopes: list[str] = []
        self._conditions: list[Condition] = []

    @classmethod
    def with_defaults(cls) -> RecordingHyperParameters:
        """Answers every new parameter with its default, as a fresh ``keras_tuner.HyperParameters`` does."""
        return cls(default_suggest)

    # -- scopes --------------------------------------------------------------------

    @contextlib.contextmanager
    def name_scope(self, name: str) -> Iterator[None]:
        """Prefixes the names declared inside with ``name/``."""
        self._name_scopes.append(str(name))
        try:
            yield
        finally:
            self._name_scopes.pop()

    @contextlib.contextmanager
    def conditional_scope(self, parent_name: str, parent_values: Any) -> Iterator[None]:
        """Parameters declared inside are active only while ``parent_name``'s value is one of ``parent_values``.

        The parent must be declared already (under the current conditions).
        """
        parent_name = self._get_name(parent_name)
        if not self._exists(parent_name, tuple(self._conditions)):
            raise ValueError(f"`HyperParameter` named: {parent_name} not defined.")
        self._conditions.append(Condition.parent(parent_name, parent_values))
        try:
            yield
        finally:
            self._conditions.pop()

    @contextlib.contextmanager
    def _maybe_conditional_scope(self, parent_name: str | None, parent_values: Any) -> Iterator[None]:
        if parent_name:
            with self.conditional_scope(parent_name, parent_values):
                yield
        else:
            yield

    # -- reading -------------------------------------------------------------------

    @property
    def space(self) -> list[HyperParameter]:
        """The declared hyperparameters, in declaration order (parents before their conditional children)."""
        return list(self._space)

    def is_active(self, hyperparameter: HyperParameter | str) -> bool:
        """Whether this declaration's conditions hold; for a name, whether any declaration of it is active."""
        if isinstance(hyperparameter, HyperParameter):
            return self._conditions_hold(hyperparameter.conditions)
        name = str(hyperparameter)
        return any(self._conditions_hold(hp.conditions) for hp in self._space if hp.name == name)

    def get(self, name: str) -> Any:
        """The current value; ValueError for a declared but inactive name, KeyError for an unknown one."""
        name = self._get_name(name)
        if name in self.values:
            return self.values[name]
        if any(hp.name == name for hp in self._space):
            raise ValueError(f"{name} is currently inactive.")
        raise KeyError(f"{name} does not exist.")

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __contains__(self, name: str) -> bool:
        try:
            self.get(name)
        except (KeyError, ValueError):
            return False
        return True

    def copy(self) -> RecordingHyperParameters:
        """The same space and values (copied), answered by the same ``suggest``."""
        other = type(self)(self._suggest)
        other._space = copy.deepcopy(self._space)
        other.values = copy.deepcopy(self.values)
        return other

    # -- declaring -----------------------------------------------------------------

    def Int(self, name: str, min_value: int, max_value: int, step: int | None = None, sampling: str | None = "linear",
            default: Any = None, parent_name: str | None = None, parent_values: Any = None) -> Any:
        """An integer in [min_value, max_value] (inclusive); default min_value."""
        with self._maybe_conditional_scope(parent_name, parent_values):
            full_name = self._get_name(name)
            step = None if step is None else _check_int(step, "step")
            low, high = _check_int(min_value, "min_value"), _check_int(max_value, "max_value")
            sampling = _check_range("Int", full_name, low, high, step, sampling)
            if step is None and sampling == "linear":
                step = 1  # as Keras Tuner stores it
            spec = dict(min_value=low, max_value=high, step=step, sampling=sampling,
                        default=low if default is None else default)
            return self._retrieve(HyperParameter("int", full_name, spec, tuple(self._conditions)))

    def Float(self, name: str, min_value: float, max_value: float, step: float | None = None,
              sampling: str | None = "linear", default: Any = None, parent_name: str | None = None,
              parent_values: Any = None) -> Any:
        """A float in [min_value, max_value]; default min_value."""
        with self._maybe_conditional_scope(parent_name, parent_values):
            full_name = self._get_name(name)
            step = float(step) if step is not None else None
            low, high = float(min_value), float(max_value)
            sampling = _check_range("Float", full_name, low, high, step, sampling)
            spec = dict(min_value=low, max_value=high, step=step, sampling=sampling,
                        default=low if default is None else default)
            return self._retrieve(HyperParameter("float", full_name, spec, tuple(self._conditions)))

    def Choice(self, name: str, values: Sequence[Any], ordered: bool | None = None, default: Any = None,
               parent_name: str | None = None, parent_values: Any = None) -> Any:
        """One of ``values`` (int, float, str or bool, one type); default the first."""
        with self._maybe_conditional_scope(parent_name, parent_values):
            full_name = self._get_name(name)
            choices, default, ordered = _check_choice(values, ordered, default)
            spec = dict(values=choices, ordered=ordered, default=choices[0] if default is None else default)
            return self._retrieve(HyperParameter("choice", full_name, spec, tuple(self._conditions)))

    def Boolean(self, name: str, default: bool = False, parent_name: str | None = None,
                parent_values: Any = None) -> Any:
        """True or False; default False."""
        with self._maybe_conditional_scope(parent_name, parent_values):
            full_name = self._get_name(name)
            if default not in {True, False}:
                raise ValueError(f"`default` must be a Python boolean. You passed: default={default}")
            return self._retrieve(HyperParameter("boolean", full_name, dict(default=default),
                                                 tuple(self._conditions)))

    def Fixed(self, name: str, value: Any, parent_name: str | None = None, parent_values: Any = None) -> Any:
        """Always ``value`` (int, float, str or bool)."""
        with self._maybe_conditional_scope(parent_name, parent_values):
            full_name = self._get_name(name)
            if isinstance(value, bool):
                value = bool(value)
            elif isinstance(value, int):
                value = int(value)
            elif isinstance(value, str):
                value = str(value)
            elif not isinstance(value, float):
                raise ValueError(f"`Fixed` value must be an `int`, `float`, `str`, or `bool`, found {value}")
            return self._retrieve(HyperParameter("fixed", full_name, dict(value=value, default=value),
                                                 tuple(self._conditions)))

    # -- internals -----------------------------------------------------------------

    def _get_name(self, name: str) -> str:
        return "/".join([*self._name_scopes, str(name)])

    def _conditions_hold(self, conditions: Sequence[Condition]) -> bool:
        return all(condition.is_active(self.values) for condition in conditions)

    def _exists(self, name: str, conditions: tuple[Condition, ...]) -> bool:
        return any(hp.name == name and hp.conditions == conditions for hp in self._space)

    def _retrieve(self, hp: HyperParameter) -> Any:
        """The value of ``hp``, declaring it if it is new; None while it is inactive."""
        if not self._exists(hp.name, hp.conditions):
            for condition in hp.conditions:
                if condition.name == hp.name:
                    raise ValueError("A conditional `HyperParameter` cannot have the same name as its parent. "
                                     f"Found: {hp.name} and parent_name: {condition.name}")
            self._space.append(hp)
        if not self.is_active(hp):
            return None  # an inactive value is not there to be relied on
        if hp.name not in self.values:
            self.values[hp.name] = self._suggest(hp.kind, hp.name, dict(hp.spec))
        return self.values[hp.name]


def _check_int(value: Any, argument: str) -> int:
    integer = int(value)
    if integer != value:
        raise ValueError(f"{argument} must be an int, Received: {value!s} of type {type(value)}.")
    return integer


def _check_range(kind: str, name: str, low: float, high: float, step: float | None, sampling: str | None) -> str:
    """Keras Tuner's checks of a numeric range; the sampling, normalized."""
    where = f"For HyperParameters.{kind}(name='{name}'), "
    if low > high:
        raise ValueError(f"{where}min_value {low!s} is greater than the max_value {high!s}.")
    sampling = "linear" if sampling is None else sampling.lower()  # None: Keras Tuner's old default
    if sampling not in _SAMPLINGS:
        raise ValueError(f"{where}sampling must be one of {set(_SAMPLINGS)}")
    if sampling != "linear" and low <= 0:
        raise ValueError(f"{where}sampling='{sampling}' does not support negative values, found min_value: {low!s}.")
    if sampling != "linear" and step is not None and step <= 1:
        raise ValueError(f"{where}expected step > 1 with sampling='{sampling}'. Received: step={step!s}.")
    return sampling


def _check_choice(values: Sequence[Any], ordered: bool | None, default: Any) -> tuple[list[Any], Any, bool]:
    """Keras Tuner's checks of a choice: the values and default normalized to one type, and ``ordered``."""
    if not values:
        raise ValueError("`values` must be provided for `Choice`.")
    choices = list(values)
    types = {type(v) for v in choices}
    if len(types) > 1:
        raise TypeError(f"A `Choice` can contain only one type of value, found values: {choices!s} with types {types}.")
    if isinstance(choices[0], str):
        choices = [str(v) for v in choices]
        default = None if default is None else str(default)
    elif isinstance(choices[0], int):  # bools too: Keras Tuner stores True/False as 1/0
        choices = [int(v) for v in choices]
        default = None if default is None else int(default)
    elif not isinstance(choices[0], (bool, float)):
        raise TypeError(f"A `Choice` can contain only `int`, `float`, `str`, or `bool`, found values: {choices!s}"
                        f"with types: {type(choices[0])!s}")
    if default is not None and default not in choices:
        raise ValueError(f"The default value should be one of the choices. You passed: values={choices}, "
                         f"default={default}")
    numeric = isinstance(choices[0], (int, float))
    if ordered and not numeric:
        raise ValueError("`ordered` must be `False` for non-numeric types.")
    return choices, default, numeric if ordered is None else ordered
