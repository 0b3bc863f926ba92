"""The model card: what was shipped, from which search, how it scored, and how to reproduce it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kerashpo.spaces.choices import Task


@dataclass
class ModelCard:
    name: str
    dataset: str
    fingerprint: str
    task: Task
    split_sizes: dict[str, int]
    seed: int
    study: str
    search: str  # driver, sampler or tuner, pruner, and the trials by state
    trial: int | None
    n_complete: int
    objective: str
    val_value: float | None
    best_epoch: int | None
    weights: str  # how the shipped weights came about (restored best epoch, or a refit)
    test_metrics: dict[str, float]
    params: dict[str, Any]
    command: str
    run_id: str = "-"
    registered: str = "-"
    baselines: list[str] = field(default_factory=list)  # each reference's scores on the same splits
    notices: list[str] = field(default_factory=list)  # references better than what shipped on validation
    ensemble: str | None = None  # what shipped instead of the champion alone (``Ensemble.summary``)

    def markdown(self) -> str:
        splits = ", ".join(f"{k} {v}" for k, v in self.split_sizes.items())
        trial = f"trial {self.trial} of study `{self.study}`, rank 1 of {self.n_complete} complete trials"
        validation = f"{_fmt(self.val_value)} (best epoch {_fmt(self.best_epoch)})"
        shipped = [f"- Shipped: {self.ensemble}", f"- Best single trial: {trial}",
                   f"- Its validation {self.objective}: {validation}"] if self.ensemble else \
            [f"- Champion: {trial}", f"- Validation {self.objective}: {validation}", f"- Weights: {self.weights}"]
        lines = [f"# Model card: {self.name}", "",
                 f"- Dataset: `{self.dataset}` (fingerprint `{self.fingerprint}`), task {self.task}",
                 f"- Split sizes: {splits} (seed {self.seed})",
                 f"- Search: {self.search}",
                 *shipped,
                 *(f"- Baseline: {line}" for line in self.baselines or ["-"]),
                 *(f"- Note: {line}" for line in self.notices),
                 f"- MLflow: run `{self.run_id}`, registered `{self.registered}`",
                 "", "## Test metrics (evaluated once, after the search)", "", *_table(self.test_metrics),
                 "", "## Hyperparameters", "", *_table(self.params),
                 "", "## Reproduce", "", "```", self.command, "```", ""]
        return "\n".join(lines)


def _table(rows: dict[str, Any]) -> list[str]:
    return ["| name | value |", "|---|---|", *(f"| {k} | {_fmt(v)} |" for k, v in rows.items())]


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.6g}" if isinstance(value, float) else str(value)
