"""What the MLflow UI shows about a search besides its numbers: the data it trained on (the Dataset column) and
the search run's description (a short Markdown summary)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from kerashpo.pipelines.review.report import REPORT
from kerashpo.pipelines.ship.export import CARD
from kerashpo.pipelines.web.mlflow_ui import TRAINING_VIEW
from kerashpo.search.tracking import DatasetRecord
from kerashpo.spaces.choices import Direction

if TYPE_CHECKING:
    from kerashpo.pipelines.config import DatasetConfig
    from kerashpo.pipelines.data.dataset import Dataset
    from kerashpo.pipelines.data.splits import Splits
    from kerashpo.pipelines.run.baseline import Baseline
    from kerashpo.search.executor import SearchOutcome


def dataset_record(source: DatasetConfig, dataset: Dataset, splits: Splits, base_dir: Path) -> DatasetRecord:
    """The dataset named after its source, with the split fingerprint as digest."""
    if source.path:
        path = Path(source.path).expanduser()
        kind, where = "local", {"uri": (path if path.is_absolute() else base_dir / path).resolve().as_uri()}
    elif source.name:
        kind, where = "builtin", {"name": source.name}
    else:  # arrays or a DataFrame handed to run_pipeline
        kind, where = "code", {}
    profile = {"rows": len(dataset.y), **splits.sizes(), "task": dataset.task}
    return DatasetRecord(name=dataset.name, digest=splits.fingerprint, source_type=kind, source=json.dumps(where),
                         profile=json.dumps(profile))


def search_note(*, study: str, objective: str, direction: Direction, outcome: SearchOutcome,
                test_metrics: dict[str, float], baselines: list[Baseline], shipped: str, experiment_id: str | None,
                run_id: str | None, report: bool = True) -> str:
    """Markdown for the search run's page: best trial, objective, test scores, baseline, links to the report
    and the model card."""
    counts = f"{outcome.n_complete} complete, {outcome.n_pruned} pruned, {outcome.n_failed} failed"
    lines = [f"**Search `{study}`**: {counts} trials.", ""]
    if outcome.best_value is not None:
        epoch = f" at epoch {outcome.best_epoch}" if outcome.best_epoch is not None else ""
        lines.append(f"- **Best trial**: {outcome.best_number}, `{objective}` = {outcome.best_value:.4f}{epoch}")
    lines += [f"- **Objective**: `{objective}` ({direction}; each trial scored at its best epoch)",
              f"- **Shipped**: {shipped}",
              f"- **Test** (evaluated once): {_scores(test_metrics)}"]
    for baseline in baselines:
        scores = _scores({k: v for k, v in baseline.validation.items() if k == objective} | baseline.test)
        lines.append(f"- **Baseline** ({baseline.name}, same splits): {scores}")
    if experiment_id is not None and run_id is not None:
        # The UI opens these in a new tab: it must be told the view again.
        page, view = f"#/experiments/{experiment_id}/runs/{run_id}/artifacts", urlencode(TRAINING_VIEW)
        links = ([f"[Report]({page}/{REPORT}?{view})"] if report else []) + [f"[Model card]({page}/{CARD}?{view})"]
        lines.append("- " + " · ".join(links))
    return "\n".join(lines) + "\n"


def _scores(metrics: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.4f}" for name, value in metrics.items()) or "-"
