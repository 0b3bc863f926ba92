"""A trial's result: plain data, importable without Keras."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kerashpo.spaces.choices import TrialState


@dataclass
class TrialResult:
    state: TrialState
    params: dict[str, Any] = field(default_factory=dict)
    value: float | None = None
    best_epoch: int | None = None
    epochs_run: int = 0
    train_seconds: float = 0.0
    n_params: int = 0
    # A completed model's weights in bytes and its median batch-1 prediction time on this machine.
    model_bytes: int | None = None
    latency_ms: float | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None
    model: Any = None
    # With constraints (search.constraints): each one's violation (positive: broken) and why the trial is
    # infeasible, if it is; an infeasible trial is never the champion.
    violations: tuple[float, ...] = ()
    infeasible: str | None = None
    # Several objectives: each one's value (the first is ``value``), at the best epoch for a trained metric.
    objective_values: dict[str, float] = field(default_factory=dict)
    # Cross-validation: each fold's metrics at its best epoch, as ``fold_<k>_<metric>``.
    fold_metrics: dict[str, float] = field(default_factory=dict)
    # The failure is the configuration's, not this trial's (the objective is never reported): stop the search.
    stops_search: bool = False
    # Training ended at ``budget.timeout`` (``TrainingSetup.deadline``), before its own stop: scored as trained.
    stopped_at_deadline: bool = False
