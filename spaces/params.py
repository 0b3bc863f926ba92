"""Engine-neutral parameter declarations.

A parameter knows its own range and how to ask a *suggester* for a value. The
suggester protocol is the subset of ``optuna.Trial`` that sampling needs, so an
Optuna trial is a suggester as it is, and other engines need a thin adapter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kerashpo.spaces.errors import SpaceError

# The values Optuna (and YAML) can hold for a categorical choice.
_PLAIN_TYPES = (str, int, float, bool, type(None))
_GRID_LIMIT = 32


class Suggester(Protocol):
    """What a search engine offers to sample one value (``optuna.Trial`` fits)."""

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any: ...


@dataclass(frozen=True)
class Param:
    """Base of all parameter kinds.

    ``when`` maps other parameter names to the values under which this one is
    active, e.g. ``{"optimizer": ("sgd",)}``; an inactive parameter is neither
    sampled nor passed to the builder.
    """

    name: str
    when: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise SpaceError(f"parameter name must be a non-empty string, got {self.name!r}")
        normalised = {}
        for other, values in dict(self.when).items():
            values = tuple(values) if isinstance(values, (list, tuple, set)) else (values,)
            if not values:
                raise SpaceError(f"{self.name}: condition on '{other}' lists no values")
            normalised[other] = values
        object.__setattr__(self, "when", normalised)

    def is_active(self, values: dict[str, Any]) -> bool:
        return all(other in values and values[other] in allowed for other, allowed in self.when.items())

    def sample(self, suggester: Suggester) -> Any:
        raise NotImplementedError

    def admits(self, value: Any) -> bool:
        """Whether sampling could return ``value``."""
        raise NotImplementedError

    def grid_values(self) -> list[Any]:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def _fail(self, message: str) -> SpaceError:
        return SpaceError(f"{self.name}: {message}")


@dataclass(frozen=True)
class Int(Param):
    low: int = 0
    high: int = 0
    step: int = 1
    log: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.low > self.high:
            raise self._fail(f"low={self.low} > high={self.high}; make low <= high")
        if self.step < 1:
            raise self._fail(f"step={self.step} must be >= 1")
        if self.log and self.low <= 0:
            raise self._fail(f"log scale needs low > 0, got low={self.low}")
        if self.log and self.step != 1:
            raise self._fail("log scale takes step=1 only")

    def sample(self, suggester: Suggester) -> int:
        return suggester.suggest_int(self.name, self.low, self.high, step=self.step, log=self.log)

    def admits(self, value: Any) -> bool:
        return (isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high
                and (value - self.low) % self.step == 0)

    def grid_values(self) -> list[int]:
        values = list(range(self.low, self.high + 1, self.step))
        if len(values) > _GRID_LIMIT:
            raise self._fail(f"{len(values)} grid values; narrow the range or raise step for the grid sampler")
        return values

    def describe(self) -> str:
        return f"int [{self.low}, {self.high}]" + (" log" if self.log else "") + (
            f" step {self.step}" if self.step != 1 else ""
        )


@dataclass(frozen=True)
class Float(Param):
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    step: float | None = None
    grid: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise self._fail("low and high must be finite numbers")
        if self.low > self.high:
            raise self._fail(f"low={self.low:g} > high={self.high:g}; make low <= high")
        if self.log and self.low <= 0:
            raise self._fail(f"log scale needs low > 0, got low={self.low:g}")
        if self.log and self.step is not None:
            raise self._fail("log scale cannot take a step")
        if self.step is not None and self.step <= 0:
            raise self._fail(f"step={self.step:g} must be > 0")
        if self.grid is not None:
            grid = tuple(float(v) for v in self.grid)
            if not grid:
                raise self._fail("grid lists no values")
            outside = [v for v in grid if not self.low <= v <= self.high]
            if outside:
                raise self._fail(f"grid values {outside} lie outside [{self.low:g}, {self.high:g}]")
            object.__setattr__(self, "grid", grid)

    def sample(self, suggester: Suggester) -> float:
        return suggester.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)

    def admits(self, value: Any) -> bool:
        return (isinstance(value, (int, float)) and not isinstance(value, bool) and self.low <= value <= self.high
                and (self.grid is None or float(value) in self.grid))

    def grid_values(self) -> list[float]:
        if self.grid is None:
            raise self._fail("the grid sampler needs `grid: [values]` on every float parameter")
        return list(self.grid)

    def describe(self) -> str:
        return f"float [{self.low:g}, {self.high:g}]" + (" log" if self.log else "")


@dataclass(frozen=True)
class Categorical(Param):
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        choices = tuple(self.choices)
        if not choices:
            raise self._fail("categorical parameter has no choices; list at least one")
        bad = [c for c in choices if not isinstance(c, _PLAIN_TYPES)]
        if bad:
            raise self._fail(f"choices must be strings, numbers, booleans or null, got {bad[0]!r}")
        if len(set(map(repr, choices))) != len(choices):
            raise self._fail(f"choices {list(choices)} repeat a value")
        object.__setattr__(self, "choices", choices)

    def sample(self, suggester: Suggester) -> Any:
        return suggester.suggest_categorical(self.name, self.choices)

    def admits(self, value: Any) -> bool:
        return any(type(value) is type(choice) and value == choice for choice in self.choices)

    def grid_values(self) -> list[Any]:
        return list(self.choices)

    def describe(self) -> str:
        return "one of " + ", ".join(map(str, self.choices))


@dataclass(frozen=True)
class Bool(Param):
    def sample(self, suggester: Suggester) -> bool:
        return bool(suggester.suggest_categorical(self.name, (False, True)))

    def admits(self, value: Any) -> bool:
        return isinstance(value, bool)

    def grid_values(self) -> list[bool]:
        return [False, True]

    def describe(self) -> str:
        return "bool"


@dataclass(frozen=True)
class Fixed(Param):
    """A constant: passed to the builder, never sampled."""

    value: Any = None

    def sample(self, suggester: Suggester) -> Any:
        return self.value

    def admits(self, value: Any) -> bool:
        return bool(value == self.value)

    def grid_values(self) -> list[Any]:
        return [self.value]

    def describe(self) -> str:
        return f"fixed {self.value!r}"
