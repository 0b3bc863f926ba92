"""Constraints on a trial's model (size, latency, or any metric it reports): feasible or not, and by how much.

A trial breaking a constraint is recorded, never hidden, and never chosen as the
champion. Its violations are what Optuna's constrained samplers read (positive:
broken by that much, zero or less: met). Constraints on the parameter count or
the weights' bytes are known once the model is built, so such a configuration is
refused before it trains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kerashpo.search.results import TrialResult

# What each trial records of its model's size and speed (``search.runner.measured``).
SIZE_METRICS = ("n_params", "model_bytes", "latency_ms")
# Known from the built model, before any training.
BUILT_METRICS = ("n_params", "model_bytes")


@dataclass(frozen=True)
class Constraint:
    """``metric`` must lie in ``[min, max]`` (either bound may be absent)."""

    metric: str
    min: float | None = None
    max: float | None = None

    def violation(self, value: float | None) -> float:
        """How far ``value`` is outside the bounds (0 inside); a missing value breaks the constraint."""
        if value is None or not math.isfinite(value):
            return math.inf
        over = value - self.max if self.max is not None else -math.inf
        under = self.min - value if self.min is not None else -math.inf
        return max(over, under, 0.0)

    def describe(self, value: float | None) -> str:
        bound = f"> max {self.max:g}" if self.max is not None and (value is None or value > self.max) \
            else f"< min {self.min:g}"
        return f"{self.metric} {'missing' if value is None else f'{value:g}'} {bound}"


def model_bytes(model: Any) -> int:
    """The model's weights in bytes, as served."""
    import numpy as np

    return int(sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights))


def built_value(metric: str, model: Any) -> float:
    return float(model.count_params() if metric == "n_params" else model_bytes(model))


def refusal(constraints: tuple[Constraint, ...], model: Any) -> tuple[str, tuple[float, ...]] | None:
    """Why a freshly built model breaks a size constraint, with every constraint's violation; None if it
    does not (constraints on trained metrics count as met until the trial has trained)."""
    values = {c.metric: built_value(c.metric, model) for c in constraints if c.metric in BUILT_METRICS}
    broken = [c.describe(values[c.metric]) for c in constraints if c.metric in values
              and c.violation(values[c.metric]) > 0]
    if not broken:
        return None
    return "; ".join(broken), tuple(c.violation(values[c.metric]) if c.metric in values else 0.0
                                    for c in constraints)


def judge(constraints: tuple[Constraint, ...], result: TrialResult) -> None:
    """Record on a completed trial's result each constraint's violation and, if any is broken, why."""
    if not constraints or result.value is None:
        return
    values = {c.metric: trial_metric(c.metric, result) for c in constraints}
    result.violations = tuple(c.violation(values[c.metric]) for c in constraints)
    broken = [c.describe(values[c.metric]) for c, v in zip(constraints, result.violations) if v > 0]
    result.infeasible = "; ".join(broken) or None


def trial_metric(metric: str, result: TrialResult) -> float | None:
    """A size metric, or a metric's value at the trial's best epoch (constraints and objectives read these)."""
    if metric == "n_params":
        return float(result.n_params)
    if metric in ("model_bytes", "latency_ms"):
        value = getattr(result, metric)
        return None if value is None else float(value)
    values = result.history.get(metric)
    if not values or result.best_epoch is None:
        return None
    return values[min(result.best_epoch, len(values)) - 1]
