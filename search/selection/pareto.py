"""Several objectives: the Pareto front of the trials, and the rule that picks the one model to ship from it."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kerashpo.spaces.choices import Direction, Pick

log = logging.getLogger("kerashpo.pareto")


@dataclass(frozen=True)
class Objective:
    """A metric the search optimizes, and which way."""

    metric: str
    direction: Direction


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[Direction]) -> bool:
    """``a`` is at least as good as ``b`` on every objective and better on one."""
    better = False
    for x, y, direction in zip(a, b, directions):
        if direction.better(y, x):
            return False
        better = better or direction.better(x, y)
    return better


def pareto_front(points: Mapping[int, Sequence[float]], directions: Sequence[Direction]) -> set[int]:
    """The trials no other trial dominates."""
    return {n for n, values in points.items()
            if not any(dominates(other, values, directions) for m, other in points.items() if m != n)}


@dataclass(frozen=True)
class PickRule:
    """``smallest_within``: of the front's trials whose first objective is within ``tolerance`` (relative) of the
    best, the best on the second objective, then the third; ``best_first``: the best first objective;
    ``trial``: trial ``trial``."""

    rule: Pick = Pick.SMALLEST_WITHIN
    tolerance: float = 0.01
    trial: int | None = None

    def describe(self) -> str:
        if self.rule is Pick.SMALLEST_WITHIN:
            return f"smallest_within: best on the other objectives within {self.tolerance:.0%} of the best first one"
        return "best_first: the best first objective" if self.rule is Pick.BEST_FIRST else f"trial {self.trial}"

    def pick(self, points: Mapping[int, Sequence[float]], directions: Sequence[Direction]) -> int | None:
        """The chosen trial among ``points`` (complete, feasible trials: number -> objective values)."""
        if not points:
            return None
        if self.rule is Pick.TRIAL:
            if self.trial in points:
                return self.trial
            # Known only once the search has run: the search's result is not thrown away for it.
            log.warning("export.pick: trial %s is not a complete trial that meets the constraints (those are %s); "
                        "shipping the default pick instead", self.trial, ", ".join(map(str, sorted(points))))
            return PickRule().pick(points, directions)
        front = pareto_front(points, directions)
        first = directions[0]
        best = min((points[n][0] for n in front), key=first.best_first)
        if self.rule is Pick.BEST_FIRST:
            candidates = [n for n in front if points[n][0] == best]
        else:
            margin = self.tolerance * abs(best)
            candidates = [n for n in front if abs(points[n][0] - best) <= margin]
        return min(candidates, key=lambda n: (*(d.best_first(v) for d, v in zip(directions[1:], points[n][1:])),
                                              first.best_first(points[n][0]), n))
