"""A search space: an ordered set of named parameters, some conditional on others."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from kerashpo.spaces.errors import SpaceError
from kerashpo.spaces.params import (
    Bool,
    Categorical,
    Fixed,
    Float,
    Int,
    Param,
    Suggester,
)

_KINDS: dict[str, type[Param]] = {
    "int": Int,
    "float": Float,
    "categorical": Categorical,
    "bool": Bool,
    "fixed": Fixed,
}
_REQUIRED: dict[str, set[str]] = {"int": {"low", "high"}, "float": {"low", "high"}, "categorical": {"choices"},
                                   "bool": set(), "fixed": {"value"}}
_FIELDS: dict[str, set[str]] = {
    "int": {"low", "high", "step", "log"},
    "float": {"low", "high", "step", "log", "grid"},
    "categorical": {"choices"},
    "bool": set(),
    "fixed": {"value"},
}


class Space:
    """Named parameters in sampling order.

    A condition may only name a parameter declared before it, so one pass in
    order samples every active parameter. ``vocabulary`` lists, for parameters a
    builder interprets, the values it understands; choices outside it are
    refused when the space is made, not when a trial fails.
    """

    def __init__(self, params: Iterable[Param], vocabulary: Mapping[str, Iterable[Any]] | None = None):
        self.vocabulary = {name: tuple(values) for name, values in (vocabulary or {}).items()}
        self._params: dict[str, Param] = {}
        for param in params:
            if param.name in self._params:
                raise SpaceError(f"{param.name}: declared twice")
            self._params[param.name] = param
        self._check()

    def __iter__(self) -> Iterator[Param]:
        return iter(self._params.values())

    def __len__(self) -> int:
        return len(self._params)

    def __contains__(self, name: object) -> bool:
        return name in self._params

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    @property
    def names(self) -> list[str]:
        return list(self._params)

    def sample(self, suggester: Suggester) -> dict[str, Any]:
        """Sample every active parameter, in order, into a plain dict."""
        values: dict[str, Any] = {}
        for param in self._params.values():
            if param.is_active(values):
                values[param.name] = param.sample(suggester)
        return values

    def starting_point(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The values this space admits, active ones only, in order: a configuration to try first.

        What the space leaves out or ranges otherwise is dropped (the engine samples it).
        """
        point: dict[str, Any] = {}
        for param in self._params.values():
            if param.name in values and param.is_active(point) and param.admits(values[param.name]):
                point[param.name] = values[param.name]
        return point

    def grid(self) -> dict[str, list[Any]]:
        """Every parameter's finite list of values, for grid search."""
        return {param.name: param.grid_values() for param in self._params.values()}

    def override(self, params: Iterable[Param]) -> Space:
        """A new space where ``params`` replace same-named ones (in place) or are appended."""
        merged = dict(self._params)
        for param in params:
            merged[param.name] = param
        return Space(merged.values(), self.vocabulary)

    def _check(self) -> None:
        seen: set[str] = set()
        for param in self._params.values():
            for other in param.when:
                if other not in self._params:
                    known = ", ".join(self._params)
                    raise SpaceError(
                        f"{param.name}: condition names parameter '{other}', which does not exist (known: {known})"
                    )
                if other not in seen:
                    raise SpaceError(f"{param.name}: condition on '{other}' must come after '{other}' is declared")
            allowed = self.vocabulary.get(param.name)
            if allowed is not None:
                for value in _possible_values(param):
                    if value not in allowed:
                        raise SpaceError(
                            f"{param.name}: unknown value {value!r}; choose from {', '.join(map(str, allowed))}"
                        )
            seen.add(param.name)


def _possible_values(param: Param) -> tuple[Any, ...]:
    if isinstance(param, Categorical):
        return param.choices
    if isinstance(param, Fixed):
        return (param.value,)
    return ()


def param_from_spec(name: str, spec: Any) -> Param:
    """One parameter from its YAML form.

    ``{type: int, low: 1, high: 4}``, ``{type: categorical, choices: [...]}``;
    a bare list is a categorical and a bare scalar a fixed value.
    """
    if isinstance(spec, list):
        return Categorical(name, choices=tuple(spec))
    if not isinstance(spec, dict):
        return Fixed(name, value=spec)
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in _KINDS:
        raise SpaceError(f"{name}: type {kind!r} is not one of {', '.join(_KINDS)}")
    when = spec.pop("when", {}) or {}
    if not isinstance(when, dict):
        raise SpaceError(f"{name}: `when` must map parameter names to values, got {when!r}")
    unknown = set(spec) - _FIELDS[kind]
    if unknown:
        raise SpaceError(
            f"{name}: unknown key '{sorted(unknown)[0]}' for a {kind} parameter"
            f" (allowed: {', '.join(sorted(_FIELDS[kind] | {'type', 'when'}))})"
        )
    missing = _REQUIRED[kind] - set(spec)
    if missing:
        raise SpaceError(f"{name}: parameter of type {kind} needs `{sorted(missing)[0]}`")
    if kind == "categorical":
        spec["choices"] = tuple(spec.get("choices") or ())
    if kind == "float" and spec.get("grid") is not None:
        spec["grid"] = tuple(spec["grid"])
    try:
        return _KINDS[kind](name, when=when, **spec)
    except TypeError as exc:
        raise SpaceError(f"{name}: {exc}") from None


def space_from_dict(
    document: Mapping[str, Any], base: Space | None = None, vocabulary: Mapping[str, Iterable[Any]] | None = None
) -> Space:
    """A space from its YAML form, optionally narrowing or extending ``base``.

    Keys of ``params`` may be globs (``units_*``) to re-declare every matching
    parameter of the base at once; a re-declared parameter keeps the base's
    condition unless it states its own.
    """
    unknown = set(document) - {"extends", "params"}
    if unknown:
        raise SpaceError(f"unknown key '{sorted(unknown)[0]}' (allowed: extends, params)")
    specs = document.get("params") or {}
    if not isinstance(specs, dict):
        raise SpaceError("`params` must map parameter names to declarations")
    params: list[Param] = []
    for key, spec in specs.items():
        key = str(key)
        names = [key]
        if base is not None and any(ch in key for ch in "*?["):
            names = [name for name in base.names if fnmatch.fnmatchcase(name, key)]
            if not names:
                raise SpaceError(f"{key}: matches no parameter of the base space ({', '.join(base.names)})")
        for name in names:
            param = param_from_spec(name, spec)
            if base is not None and name in base and not (isinstance(spec, dict) and "when" in spec):
                param = replace(param, when=base[name].when)
            params.append(param)
    if base is None:
        return Space(params, vocabulary)
    return base.override(params)


def load_space_file(
    path: str | Path, presets: Mapping[str, Space], default: str
) -> tuple[str, Space]:
    """Read a space YAML file: the preset it builds on and the space.

    ``extends: <preset>`` starts from that preset's parameters; without it the
    file declares its own, for the ``default`` preset's builder.
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SpaceError(f"{path}: space file not found") from None
    except yaml.YAMLError as exc:
        raise SpaceError(f"{path}: not valid YAML ({_yaml_problem(exc)})") from None
    if not isinstance(document, dict):
        raise SpaceError(f"{path}: a space file is a mapping with `params` (and optionally `extends`)")
    name = document.get("extends")
    if name is not None and name not in presets:
        raise SpaceError(f"{path}: extends: unknown preset {name!r}; choose from {', '.join(presets)}")
    base = presets[name] if name is not None else None
    try:
        return name or default, space_from_dict(document, base, presets[default].vocabulary)
    except SpaceError as exc:
        raise SpaceError(f"{path}: {exc}") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{problem} at line {mark.line + 1}" if mark else problem
