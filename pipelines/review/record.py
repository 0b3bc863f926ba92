"""A search as its MLflow store holds it: the parent run, each trial's params, state and objective per epoch,
the baseline, the champion's test predictions and the model card.

Figures and the report are drawn from this alone, so a store copied from another machine gives the same report.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerashpo.pipelines.ship.export import CARD
from kerashpo.search.selection.ensemble import ENSEMBLE_TAG, Ensemble
from kerashpo.search.tracking import (
    INFEASIBLE_TAG,
    OBJECTIVES_TAG,
    REFERENCE_TAG,
    ROLE_TAG,
    STATE_TAG,
    TRIAL_TAG,
    child_runs,
)
from kerashpo.spaces.choices import Direction, TrialState

# The champion's single test evaluation, summed up for the figures: confusion counts, or (actual, predicted) pairs.
PREDICTIONS = "evaluation/test_predictions.json"
# A parent-run metric logged once by each `kerashpo run` of the search, interrupted ones included: a resumed
# search's wall time is the sum of its history (the latest value is the last session's alone).
WALL_TIME = "search_seconds"
# A parent-run tag: the budget as the latest session configured it, as JSON (trials, timeout, max_epochs,
# patience). Set again on every session, where the params keep the first session's (MLflow never overwrites
# a param).
BUDGET_TAG = "budget"


@dataclass(frozen=True)
class TrialRecord:
    number: int
    state: TrialState  # one of TrialState.finished(), or RUNNING for a run a crash left open
    value: float | None  # the best epoch's objective
    params: dict[str, str]  # as MLflow keeps them: text
    curve: dict[int, float]  # the objective per epoch (the metric's step is the epoch)
    metrics: dict[str, float] = field(default_factory=dict)  # the run's final metrics (best_<metric>, n_params...)
    feasible: bool = True  # met the search's constraints


@dataclass
class SearchRecord:
    run: Any  # the parent mlflow Run
    experiment: str
    trials: list[TrialRecord]
    baselines: list[Any] = field(default_factory=list)  # the reference models' child runs, the linear one first
    champion_validation: dict[str, float] = field(default_factory=dict)  # the champion's val_* at its best epoch
    predictions: dict[str, Any] | None = None  # the PREDICTIONS artifact
    card: str | None = None
    session_seconds: list[float] = field(default_factory=list)  # WALL_TIME's history: each session's search time

    @property
    def baseline(self) -> Any | None:
        """The linear reference's run."""
        return next((run for run in self.baselines if reference_of(run) == "linear"), None)

    @property
    def run_id(self) -> str:
        return str(self.run.info.run_id)

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.run.data.tags)

    @property
    def objective(self) -> str:
        return self.tags.get("objective", "objective")

    @property
    def direction(self) -> Direction:
        return Direction(self.tags.get("direction", Direction.MINIMIZE))

    @property
    def objectives(self) -> list[tuple[str, Direction]]:
        """Every objective of a search with several; empty with one."""
        items = json.loads(self.tags.get(OBJECTIVES_TAG, "[]"))
        return [(item["metric"], Direction(item["direction"])) for item in items]

    @property
    def champion(self) -> TrialRecord | None:
        number = self.tags.get("best_trial", "")
        return next((t for t in self.trials if str(t.number) == number), None)

    @property
    def ensemble(self) -> Ensemble | None:
        """What shipped instead of the champion alone (``export.ensemble``), as the run recorded it."""
        text = self.tags.get(ENSEMBLE_TAG)
        return None if text is None else Ensemble.from_json(text)

    @property
    def shipped(self) -> str:
        """The model the search shipped: for an average (or the linear model) the sentence `kerashpo run` printed,
        else how the champion's weights came about."""
        ensemble = self.ensemble
        return ensemble.summary() if ensemble is not None else self.tags.get("weights", "-")

    def count(self, state: TrialState) -> int:
        return sum(t.state is state for t in self.trials)

    def wall_seconds(self) -> float | None:
        """The search's logged time, summed over its sessions; failing that, the parent run's span."""
        if self.session_seconds:
            return sum(self.session_seconds)
        if WALL_TIME in self.run.data.metrics:
            return float(self.run.data.metrics[WALL_TIME])
        info = self.run.info
        return (info.end_time - info.start_time) / 1000 if info.end_time and info.start_time else None


def load_search(client: Any, run_id: str) -> SearchRecord:
    """Everything the figures and the report show about the search whose parent run is ``run_id``."""
    parent = client.get_run(run_id)
    objective = parent.data.tags.get("objective", "objective")
    children = child_runs(client, parent)
    trials = [_trial(client, run, objective) for run in children if run.data.tags.get(TRIAL_TAG, "").isdigit()]
    trials.sort(key=lambda t: t.number)
    baselines = sorted((r for r in children if r.data.tags.get(ROLE_TAG) == "baseline"
                        or r.data.tags.get(STATE_TAG) == TrialState.BASELINE),
                       key=lambda r: reference_of(r) != "linear")
    record = SearchRecord(parent, client.get_experiment(parent.info.experiment_id).name, trials, baselines)
    record.session_seconds = [m.value for m in sorted(client.get_metric_history(run_id, WALL_TIME),
                                                      key=lambda m: m.timestamp)]
    champion = record.champion
    if champion is not None and baselines:
        record.champion_validation = _validation_at_best_epoch(client, children, champion.number, baselines[0])
    with tempfile.TemporaryDirectory() as scratch:
        predictions = _artifact_text(client, run_id, PREDICTIONS, scratch)
        record.predictions = json.loads(predictions) if predictions else None
        record.card = _artifact_text(client, run_id, CARD, scratch)
    return record


def reference_of(run: Any) -> str:
    """Which reference model a baseline run holds (runs from before there were several hold the linear one)."""
    return str(run.data.tags.get(REFERENCE_TAG, "linear"))


def _trial(client: Any, run: Any, objective: str) -> TrialRecord:
    metrics = run.data.metrics
    value = metrics.get(f"best_{objective}")
    curve = {m.step: m.value for m in client.get_metric_history(run.info.run_id, objective)} \
        if objective in metrics else {}
    return TrialRecord(int(run.data.tags[TRIAL_TAG]), TrialState(run.data.tags.get(STATE_TAG, TrialState.RUNNING)),
                       None if value is None else float(value), dict(run.data.params), curve, dict(metrics),
                       INFEASIBLE_TAG not in run.data.tags)


def _validation_at_best_epoch(client: Any, children: list[Any], number: int, baseline: Any) -> dict[str, float]:
    """The champion's validation scores on the metrics the baseline reports, at the epoch its weights come from."""
    run = next(r for r in children if r.data.tags.get(TRIAL_TAG) == str(number))
    best_epoch = int(run.data.metrics.get("best_epoch", 0))
    scores = {}
    for name in baseline.data.metrics:
        if name.startswith("val_") and name in run.data.metrics:
            history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, name)}
            scores[name] = history.get(best_epoch, run.data.metrics[name])  # the last epoch's, failing that
    return scores


def _artifact_text(client: Any, run_id: str, path: str, scratch: str) -> str | None:
    """An artifact's text, or None where the run has none (an older run, a search that exported nothing)."""
    folder = str(Path(path).parent) if "/" in path else None
    if path not in {a.path for a in client.list_artifacts(run_id, folder)}:
        return None
    return Path(client.download_artifacts(run_id, path, scratch)).read_text()
