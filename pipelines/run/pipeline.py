"""``kerashpo run``: validate, load data once, search, evaluate the champion once, export.

It reads top to bottom as three steps: ``prepare_run`` checks everything and loads the data (nothing is written),
the search runs its trials, and ``ship_champion`` evaluates the champion once on test and ships it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerashpo.pipelines.config import PipelineConfig, load_config
from kerashpo.pipelines.review.record import WALL_TIME
from kerashpo.pipelines.run.baseline import Baseline
from kerashpo.pipelines.run.finish import fit_run_baselines, review_run, ship_champion
from kerashpo.pipelines.run.prepare import prepare_run
from kerashpo.pipelines.runtime.backend import select_backend
from kerashpo.pipelines.runtime.compute import Compute, backend_settings
from kerashpo.pipelines.runtime.stores import Stores, prepare
from kerashpo.pipelines.runtime.workers import search_in_processes
from kerashpo.pipelines.ship.export import ExportReport
from kerashpo.spaces.choices import Direction, Reference

__all__ = ["RunReport", "run_pipeline"]

if TYPE_CHECKING:  # importing these at run time would load TensorFlow for `kerashpo --help`
    from kerashpo.search.executor import SearchOutcome, TrialEvent
    from kerashpo.search.protocols import ModelSource
    from kerashpo.search.training.sources import UserModel
    from kerashpo.spaces import Preset


@dataclass
class RunReport:
    study: str
    experiment: str
    objective: str
    parent_run_id: str | None
    outcome: SearchOutcome
    export: ExportReport | None
    stores: Stores
    baselines: list[Baseline] = field(default_factory=list)  # the linear reference first
    direction: Direction = Direction.MINIMIZE
    review: Path | None = None  # report.html: summary, leaderboard, figures, model card

    @property
    def baseline(self) -> Baseline | None:
        """The linear reference."""
        return next((b for b in self.baselines if b.reference is Reference.LINEAR), None)

    def baseline_comparison(self) -> list[str]:
        """The shipped model against each reference, on validation and (after the one evaluation) on test; a
        line says so when the linear model is better on validation, and one for each other reference that is."""
        best = self.outcome.best_value
        shipped = "the champion"
        if self.export is not None and self.export.ensemble_value is not None:
            shipped, best = "the ensemble", self.export.ensemble_value
        lines = []
        for base in self.baselines:
            if best is None or self.objective not in base.validation:
                continue
            reference = base.validation[self.objective]
            lines.append(f"vs baseline ({base.name}, same splits): {self.objective} {best:.4f} vs {reference:.4f}")
            if self.export is not None and base.test:
                shared = [k for k in self.export.test_metrics if k in base.test]
                lines.append("  test: " + ", ".join(f"{k} {self.export.test_metrics[k]:.4f} vs {base.test[k]:.4f}"
                                                    for k in shared))
        linear = self.baseline
        # A shipped model holding the linear model was put together by the tie test with it in view.
        if (linear is not None and best is not None and self.objective in linear.validation
                and self.direction.better(linear.validation[self.objective], best)
                and not (self.export is not None and self.export.with_linear)):
            lines.append(f"{shipped} is worse than {linear.name} on validation ({self.objective} {best:.4f} vs "
                         f"{linear.validation[self.objective]:.4f}): give the search more budget (budget.trials, "
                         "budget.timeout), or use the linear model")
        return lines + (self.export.notices if self.export is not None else [])


def run_pipeline(
    config: PipelineConfig | str | Path,
    *,
    workdir: Path | None = None,
    tracking_uri: str | None = None,
    source: ModelSource | Preset | UserModel | None = None,
    on_trial_end: Callable[[TrialEvent], None] | None = None,
    command: str | None = None,
    data: Any = None,
) -> RunReport:
    """Run one pipeline (a config file's path, or a ``PipelineConfig``). Every input is checked first.

    ``source`` replaces what the config names: a ``spaces.Preset``, a
    ``search.ModelSource``, or a ``build_model(hp)`` function / HyperModel.
    ``data`` replaces the config's dataset: a pandas DataFrame (with
    ``dataset.target`` naming its target column) or ``(x, y)`` arrays.
    """
    from kerashpo.pipelines.runtime.quiet import import_backend_quietly
    from kerashpo.search.tracking import MLflowTracker
    from kerashpo.search.training.memory import collecting_new_objects_only

    if not isinstance(config, PipelineConfig):
        config = load_config(config)
    select_backend(config.backend)
    # GPU memory growth and the precision policy are set before the checks build their first model.
    compute = Compute(config.workers, len(import_backend_quietly()), config.mixed_precision)
    with backend_settings(compute), collecting_new_objects_only():
        run = prepare_run(config, workdir=(workdir or Path.cwd()).resolve(), tracking_uri=tracking_uri,
                          source=source, data=data)
        prepare(run.stores)
        artifacts = f"{run.stores.artifact_location}/{config.name}" if run.stores.artifact_location else None
        tracker = MLflowTracker(run.stores.tracking_uri, artifact_location=artifacts)
        tracker.start_search(run.search_info())
        with tracker.ending_search():
            baselines = fit_run_baselines(run, tracker)
            run.job.started_at = time.time()  # budget.timeout counts the search, not the checks before it
            try:
                outcome = search_in_processes(run.driver, run.job, tracker, on_trial_end, compute)
            finally:  # every session's time, an interrupted one's too: a resumed search's wall time is their sum
                tracker.log_search_results({WALL_TIME: time.time() - run.job.started_at}, {})
            report = None
            # With workers on several hosts the champion's checkpoint may be on another host; a refit needs none.
            if outcome.best_model_path is not None or (config.export.refit and outcome.best_number is not None):
                report = ship_champion(run, outcome, tracker,
                                       command or f"kerashpo run {config.source or '<config>'}", baselines)
    review = review_run(run, tracker.parent_run_id)
    return RunReport(run.study, config.name, run.objective, tracker.parent_run_id, outcome, report, run.stores,
                     baselines, run.direction, review)
