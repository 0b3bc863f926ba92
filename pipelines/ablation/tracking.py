"""MLflow for an ablation: one ``ablation`` parent run linked to its search, one child per variant and seed.

It is the search tracker with a parent of its own: each ablation gets a new
parent (an ablation is never resumed), children are named by variant and seed,
and the parent carries what ``kerashpo compare`` reads (the objective, the
champion variant's ``best_<objective>`` and the split fingerprint). Tracking
failures are warnings, as everywhere.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kerashpo.search.tracking import ROLE_TAG, SPLIT_TAG, STATE_TAG, MLflowTracker, SearchInfo, ensure_experiment
from kerashpo.spaces.choices import TrialState

ROLE = "ablation"
RUN_ROLE = "ablation_run"
# The search whose champion an ablation retrains (its parent run id).
SEARCH_TAG = "kerashpo.search_run"


class AblationTracker(MLflowTracker):
    def start_search(self, info: SearchInfo) -> None:
        """A new ``ablation`` parent run in the pipeline's experiment."""
        self.info = info
        with self._guarded("open the ablation run"):
            self.experiment_id = ensure_experiment(self.client, info.experiment, self.artifact_location)
            tags = {ROLE_TAG: ROLE, "objective": info.objective, "direction": str(info.direction), **info.tags}
            self.parent_run_id = self.client.create_run(self.experiment_id, tags=tags,
                                                        run_name=f"ablation of {info.study}").info.run_id
            self._log_batch(self.parent_run_id, params=info.params)
        if info.config_text is not None:
            self.log_text(info.config_text, "config.yaml")

    def start_run(self, number: int, name: str, params: dict[str, Any], tags: dict[str, str]) -> None:
        """The child run of one variant and seed, tagged with the parent's split fingerprint."""
        if self.parent_run_id is None or self.info is None:
            return
        with self._guarded("start a variant's run"):
            split = {k: v for k, v in self.info.tags.items() if k == SPLIT_TAG}
            all_tags = {"mlflow.parentRunId": self.parent_run_id, ROLE_TAG: RUN_ROLE,
                        STATE_TAG: TrialState.RUNNING.value, **split, **tags}
            self._runs[number] = self.client.create_run(self.experiment_id, tags=all_tags, run_name=name).info.run_id
            self._logged_params[number] = set(params)
            self._log_batch(self._runs[number], params=params)

    def log_metrics(self, number: int, metrics: dict[str, float]) -> None:
        """Final figures of a child run beyond the trial's own (the train-validation gap, test scores)."""
        run_id = self._runs.get(number)
        if run_id is None:
            return
        with self._guarded("record a variant's figures"):
            now = int(time.time() * 1000)
            self._log_batch(run_id, metrics=[(k, float(v), now, 0) for k, v in metrics.items()])

    def log_artifacts(self, directory: Path) -> None:
        """The table and the figures on the parent run."""
        if self.parent_run_id is None:
            return
        with self._guarded("log the ablation's table and figures"):
            self.client.log_artifacts(self.parent_run_id, str(directory))
