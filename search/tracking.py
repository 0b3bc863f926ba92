"""MLflow tracking: one parent run per search, one nested child run per trial.

Every MLflow call goes through ``_guarded``: a tracking failure is reported once
per kind and the trial goes on. A trial's run is found again by its trial
number, so a resumed search never creates a second run for the same trial.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kerashpo.search.results import TrialResult
from kerashpo.spaces.choices import Direction, TrialState

log = logging.getLogger("kerashpo.tracking")

ROLE_TAG, STUDY_TAG, STARTED_TAG = "kerashpo.role", "kerashpo.study", "kerashpo.last_started"
STATE_TAG, TRIAL_TAG = "state", "trial_number"
# Set on a trial whose training the search's time budget ended (it keeps the best epoch it reached).
STOPPED_BY_TAG = "stopped_by"
# The hash of the data and of each split's rows: runs compare fairly only on equal ones (`kerashpo compare`).
SPLIT_TAG = "split_fingerprint"
# A search with several objectives: [{"metric": ..., "direction": ...}, ...] as JSON, the first one trained on.
OBJECTIVES_TAG = "objectives"
# Which reference model a baseline run holds (linear, gradient_boosting); a run without it is the linear one.
REFERENCE_TAG = "reference"
# Why a trial broke the search's constraints (absent on feasible trials).
INFEASIBLE_TAG = "infeasible"
NOTE_TAG = "mlflow.note.content"  # a run's description in the MLflow UI (Markdown)
# MLflow 3 UIs that choose their view from the experiment show this one as model training, not as a GenAI app.
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
_RUN_NAME_TAG = "mlflow.runName"
_MAX_PARAM_CHARS = 6000
_BATCH = 900  # MLflow accepts at most 1000 metrics per log_batch
_PAGE = 1000  # runs per search_runs call
# A resumed search reopens its study's first parent run and, where a trial has two runs, keeps the later one.
_OLDEST_FIRST = ["attributes.start_time ASC"]


@dataclass(frozen=True)
class DatasetRecord:
    """The data a search trains on, as MLflow's Dataset column shows it: the source's name, the split
    fingerprint as digest (two searches on different splits show different digests)."""

    name: str
    digest: str
    source_type: str
    source: str  # JSON, e.g. {"uri": "file:///data/houses.csv"}
    profile: str | None = None  # JSON: rows per split


@dataclass
class SearchInfo:
    """What the parent run records about a search."""

    study: str
    experiment: str
    objective: str
    direction: Direction
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    config_text: str | None = None
    dataset: DatasetRecord | None = None


def objectives_tag(objectives: Any) -> str:
    return json.dumps([{"metric": o.metric, "direction": str(o.direction)} for o in objectives])


def trial_run_name(number: int, state: TrialState) -> str:
    """What the runs table shows for a trial: its number and state, e.g. ``trial 3 (pruned)``."""
    return f"trial {number} ({state.lower()})"


class NullTracker:
    """Tracking off: records nothing. The other trackers start from it."""

    parent_run_id: str | None = None

    def start_search(self, info: SearchInfo) -> None:
        pass

    def start_trial(self, number: int, params: dict[str, Any], tags: dict[str, str] | None = None) -> None:
        pass

    def end_trial(self, number: int, result: TrialResult) -> None:
        pass

    def fail_trials(self, numbers: list[int], reason: str) -> None:
        pass

    def close_finished(self, trials: list[Any]) -> None:
        """Close runs still open for trials the study has finished (``search.trials.FinishedTrial``)."""

    def log_search_results(self, metrics: dict[str, float], tags: dict[str, str]) -> None:
        pass

    def log_text(self, text: str, artifact_file: str) -> None:
        pass

    def describe_search(self, markdown: str) -> None:
        pass

    def end_search(self, status: str = "FINISHED") -> None:
        pass


class RelayTracker(NullTracker):
    """Sends each trial's tracking calls to another process, whose tracker makes them.

    Workers of one search relay to the process that started them, so one
    process alone writes to MLflow (SQLite takes one writer at a time).
    """

    def __init__(self, queue: Any):
        self.queue = queue

    def start_trial(self, number: int, params: dict[str, Any], tags: dict[str, str] | None = None) -> None:
        self.queue.put(("track", "start_trial", (number, params, tags)))

    def end_trial(self, number: int, result: TrialResult) -> None:
        # The model stays here: it is checkpointed by the worker and never tracked.
        self.queue.put(("track", "end_trial", (number, dataclasses.replace(result, model=None))))

    def fail_trials(self, numbers: list[int], reason: str) -> None:
        self.queue.put(("track", "fail_trials", (numbers, reason)))

    def close_finished(self, trials: list[Any]) -> None:
        self.queue.put(("track", "close_finished", (trials,)))


class MLflowTracker(NullTracker):
    def __init__(self, tracking_uri: str, artifact_location: str | None = None):
        self.tracking_uri = tracking_uri
        self.artifact_location = artifact_location
        self.info: SearchInfo | None = None
        self.experiment_id: str | None = None
        self._runs: dict[int, str] = {}
        self._open: set[int] = set()  # trial runs found RUNNING when the search was resumed
        self._unended: set[int] = set()  # trial runs this tracker started and nothing has closed yet
        self._reported: set[str] = set()
        self._logged_params: dict[int, set[str]] = {}
        self._baseline_run_ids: dict[str, str] = {}  # by reference
        self._inputs: list[Any] = []  # the search's data as MLflow dataset inputs, logged on every run
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    @contextlib.contextmanager
    def _guarded(self, what: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:  # tracking must never kill training
            if what not in self._reported:
                self._reported.add(what)
                log.warning("tracking: could not %s (%s: %s); training goes on",
                            what, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")

    # -- the search ---------------------------------------------------------

    def start_search(self, info: SearchInfo) -> None:
        from mlflow.entities import RunStatus

        self.info = info
        with self._guarded("open the MLflow experiment"):
            self.experiment_id = ensure_experiment(self.client, info.experiment, self.artifact_location)
            existing = _runs_where(self.client, self.experiment_id, f"tags.`{STUDY_TAG}` = '{_quote(info.study)}' and "
                                   f"tags.`{ROLE_TAG}` = 'search'", order_by=_OLDEST_FIRST)
            if existing:
                self.parent_run_id = existing[0].info.run_id
                self.client.update_run(self.parent_run_id, status=RunStatus.to_string(RunStatus.RUNNING))
                for run in child_runs(self.client, existing[0], order_by=_OLDEST_FIRST):
                    number = run.data.tags.get(TRIAL_TAG)
                    if number is not None and number.isdigit():
                        self._runs[int(number)] = run.info.run_id
                        if run.info.status == RunStatus.to_string(RunStatus.RUNNING):
                            self._open.add(int(number))
                # The tags describe the latest session (its budget, config, code); MLflow never overwrites a
                # param, so the params keep the first session's.
                self._log_batch(self.parent_run_id, tags=info.tags)
            else:
                tags = {ROLE_TAG: "search", STUDY_TAG: info.study, "objective": info.objective,
                        "direction": str(info.direction), **info.tags}
                run = self.client.create_run(self.experiment_id, tags=tags, run_name=info.study)
                self.parent_run_id = run.info.run_id
                self._log_batch(self.parent_run_id, params=info.params)
            if info.dataset is not None:
                self._inputs = [_dataset_input(info.dataset)]
                self.client.log_inputs(self.parent_run_id, datasets=self._inputs)
            # A resumed search keeps its first start time; this tag says which search ran last.
            self.client.set_tag(self.parent_run_id, STARTED_TAG, f"{int(time.time() * 1000):015d}")
        if info.config_text is not None:
            self.log_text(info.config_text, "config.yaml")

    def log_search_results(self, metrics: dict[str, float], tags: dict[str, str]) -> None:
        """Final figures of the search (test metrics, best value) on the parent run."""
        if self.parent_run_id is None:
            return
        with self._guarded("log the search's results"):
            now = int(time.time() * 1000)
            self._log_batch(self.parent_run_id, metrics=[(k, float(v), now, 0) for k, v in metrics.items()],
                            tags=tags)

    def log_baseline(self, name: str, metrics: dict[str, float], reference: str = "linear") -> None:
        """A reference model's scores as a child run tagged ``baseline`` and its ``reference`` (linear, gradient
        boosting): one per reference and search, updated in place."""
        if self.parent_run_id is None or self.info is None:
            return
        from mlflow.entities import RunStatus

        with self._guarded(f"record the {reference} baseline"):
            run_id = self._baseline_run_ids.get(reference)
            if run_id is None:
                found = [run for run in child_runs(self.client, self.parent_run_id, f"tags.`{ROLE_TAG}` = 'baseline'")
                         if run.data.tags.get(REFERENCE_TAG, "linear") == reference]
                run_id = found[0].info.run_id if found else self.client.create_run(
                    self.experiment_id, run_name=f"baseline ({name})",
                    tags={ROLE_TAG: "baseline", STATE_TAG: TrialState.BASELINE.value, REFERENCE_TAG: reference,
                          "mlflow.parentRunId": self.parent_run_id, "model": name,
                          **{k: v for k, v in self.info.tags.items() if k == SPLIT_TAG}}).info.run_id
                if self._inputs and not found:
                    self.client.log_inputs(run_id, datasets=self._inputs)
                self._baseline_run_ids[reference] = run_id
            now = int(time.time() * 1000)
            finals = dict(metrics)
            if f"{self.info.objective}" in metrics:  # ranked beside the trials on the same column
                finals[f"best_{self.info.objective}"] = metrics[self.info.objective]
            self._log_batch(run_id, metrics=[(k, float(v), now, 0) for k, v in finals.items()])
            self.client.set_terminated(run_id, status=RunStatus.to_string(RunStatus.FINISHED))

    def log_text(self, text: str, artifact_file: str) -> None:
        """A text artifact (the config, the model card) on the search's run."""
        if self.parent_run_id is None:
            return
        with self._guarded(f"log {artifact_file}"):
            self.client.log_text(self.parent_run_id, text, artifact_file)

    def describe_search(self, markdown: str) -> None:
        """The search run's description, shown on its page in the MLflow UI."""
        if self.parent_run_id is None:
            return
        with self._guarded("describe the search run"):
            self.client.set_tag(self.parent_run_id, NOTE_TAG, markdown)

    def end_search(self, status: str = "FINISHED") -> None:
        if self.parent_run_id is None:
            return
        # A killed worker's relayed start can arrive after its trial was failed: no trial run outlives its search.
        self.fail_trials([n for n in self._runs if n in self._unended], "its process stopped before the trial ended")
        with self._guarded("close the search run"):
            self.client.set_terminated(self.parent_run_id, status=status)

    @contextlib.contextmanager
    def ending_search(self) -> Iterator[None]:
        """The search's run ends KILLED on Ctrl-C, FAILED on an error, FINISHED otherwise."""
        from mlflow.entities import RunStatus

        try:
            yield
        except KeyboardInterrupt:
            self.end_search(RunStatus.to_string(RunStatus.KILLED))
            raise
        except BaseException:
            self.end_search(RunStatus.to_string(RunStatus.FAILED))
            raise
        self.end_search(RunStatus.to_string(RunStatus.FINISHED))

    # -- trials ---------------------------------------------------------------

    def start_trial(self, number: int, params: dict[str, Any], tags: dict[str, str] | None = None) -> None:
        if self.parent_run_id is None:
            return
        from mlflow.entities import RunStatus

        with self._guarded("start a trial run"):
            all_tags = {TRIAL_TAG: str(number), STATE_TAG: TrialState.RUNNING.value,
                        "mlflow.parentRunId": self.parent_run_id, ROLE_TAG: "trial", **(tags or {})}
            name = trial_run_name(number, TrialState.RUNNING)
            self._unended.add(number)
            run_id = self._runs.get(number)
            self._logged_params[number] = set(params)
            if run_id is None:  # tagged from birth, so a crash right after still leaves a findable run
                run_id = self._runs[number] = self.client.create_run(
                    self.experiment_id, tags=all_tags, run_name=name).info.run_id
                self._log_batch(run_id, params=params)
                if self._inputs:  # fills the Dataset column of each trial's row
                    self.client.log_inputs(run_id, datasets=self._inputs)
            else:  # the same trial again (resumed or retried): reuse its run
                self.client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
                self._log_batch(run_id, params=params, tags={**all_tags, _RUN_NAME_TAG: name})

    def end_trial(self, number: int, result: TrialResult) -> None:
        run_id = self._runs.get(number)
        if run_id is None:
            return
        self._open.discard(number)
        self._unended.discard(number)
        with self._guarded("record a trial's results"):
            now = int(time.time() * 1000)
            metrics = [(name, value, now, epoch)
                       for name, values in result.history.items()
                       for epoch, value in enumerate(values, start=1)]
            finals = {"epochs_run": result.epochs_run, "train_seconds": result.train_seconds,
                      "n_params": result.n_params}
            if result.value is not None and self.info is not None:
                finals[f"best_{self.info.objective}"] = result.value
            if result.best_epoch is not None:
                finals["best_epoch"] = result.best_epoch
            for name in ("model_bytes", "latency_ms"):
                if getattr(result, name) is not None:
                    finals[name] = getattr(result, name)
            finals.update({f"best_{name}": value for name, value in result.objective_values.items()})
            metrics += [(name, float(value), now, 0) for name, value in {**result.fold_metrics, **finals}.items()]
            # The state is known only now: the run's name says it (the tag renames the run in the same write).
            tags = {STATE_TAG: result.state, _RUN_NAME_TAG: trial_run_name(number, result.state)}
            if result.error:
                tags["error"] = result.error[:5000]
            if result.infeasible:
                tags[INFEASIBLE_TAG] = result.infeasible[:5000]
            if result.stopped_at_deadline:
                tags[STOPPED_BY_TAG] = "budget.timeout"
            # What a user's own fit sampled (epochs, batch size) is known only now.
            logged = self._logged_params.pop(number, set())
            late = {k: v for k, v in result.params.items() if k not in logged}
            self._log_batch(run_id, metrics=metrics, params=late, tags=tags)
            self.client.set_terminated(run_id, status=_ended_status(result.state))

    def fail_trials(self, numbers: list[int], reason: str) -> None:
        """Close the runs of trials whose worker died, so none stays RUNNING."""
        for number in numbers:
            run_id = self._runs.get(number)
            if run_id is None:
                continue
            self._open.discard(number)
            self._unended.discard(number)
            with self._guarded("close a lost trial's run"):
                self._log_batch(run_id, tags={STATE_TAG: TrialState.FAILED, "error": reason,
                                              _RUN_NAME_TAG: trial_run_name(number, TrialState.FAILED)})
                self.client.set_terminated(run_id, status=_ended_status(TrialState.FAILED))

    def close_finished(self, trials: list[Any]) -> None:
        """A process killed between a trial's end and its tracking leaves the run open: close it from the study."""
        for trial in trials:
            run_id = self._runs.get(trial.number)
            if run_id is None or trial.number not in self._open:
                continue
            self._open.discard(trial.number)
            self._unended.discard(trial.number)
            with self._guarded("close a finished trial's run"):
                now = int(time.time() * 1000)
                finals = {"best_epoch": trial.best_epoch}
                if self.info is not None:
                    finals[f"best_{self.info.objective}"] = trial.value
                metrics = [(name, float(value), now, 0) for name, value in finals.items() if value is not None]
                self._log_batch(run_id, metrics=metrics, tags={
                    STATE_TAG: trial.state, _RUN_NAME_TAG: trial_run_name(trial.number, trial.state),
                    "note": "closed from the study: its process stopped before tracking it"})
                self.client.set_terminated(run_id, status=_ended_status(trial.state))

    # -- helpers --------------------------------------------------------------

    def _log_batch(self, run_id: str, *, metrics: list[tuple] | None = None,
                   params: dict[str, Any] | None = None, tags: dict[str, str] | None = None) -> None:
        from mlflow.entities import Metric, Param, RunTag

        param_list = [Param(k, _param_text(v)) for k, v in (params or {}).items()]
        tag_list = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
        metric_list = [Metric(k, v, ts, step) for k, v, ts, step in (metrics or [])]
        # One call when it fits: per-trial logging stays a couple of database writes.
        for start in range(0, max(len(metric_list), 1), _BATCH):
            chunk = metric_list[start:start + _BATCH]
            self.client.log_batch(run_id, metrics=chunk,
                                  params=param_list if start == 0 else [],
                                  tags=tag_list if start == 0 else [])


@contextlib.contextmanager
def using_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API at ``uri`` for this block only.

    ``mlflow.set_tracking_uri`` is process-wide and also exports
    ``MLFLOW_TRACKING_URI`` to the environment, so a later run (or a child
    process) would silently track into the wrong store.
    """
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    previous = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        with _use_tracking_uri(uri):
            yield
    finally:
        if previous is not None:
            os.environ["MLFLOW_TRACKING_URI"] = previous


def child_runs(client: Any, parent: Any, where: str = "", order_by: list[str] | None = None) -> list[Any]:
    """Every run nested under ``parent`` (a run, or its id): a search's trials and baseline. ``where``, an MLflow
    filter, narrows them."""
    if isinstance(parent, str):
        parent = client.get_run(parent)
    nested = f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    return _runs_where(client, parent.info.experiment_id, f"{nested} and {where}" if where else nested, order_by)


def _runs_where(client: Any, experiment_id: str, where: str, order_by: list[str] | None = None) -> list[Any]:
    """Every run of the experiment that ``where`` selects, read page by page (MLflow caps a page)."""
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string=where, max_results=_PAGE, page_token=token,
                                  order_by=order_by)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def ensure_experiment(client: Any, name: str, artifact_location: str | None) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name, artifact_location=artifact_location,
                                        tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    if EXPERIMENT_KIND_TAG not in experiment.tags:  # a kind the user chose in the UI stays
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return experiment.experiment_id


def _ended_status(state: TrialState) -> str:
    """The MLflow status a trial's run ends with."""
    from mlflow.entities import RunStatus

    return RunStatus.to_string(RunStatus.FAILED if state is TrialState.FAILED else RunStatus.FINISHED)


def _dataset_input(record: DatasetRecord) -> Any:
    from mlflow.entities import Dataset, DatasetInput, InputTag

    dataset = Dataset(name=record.name, digest=record.digest, source_type=record.source_type,
                      source=record.source, profile=record.profile)
    return DatasetInput(dataset, tags=[InputTag("mlflow.data.context", "training")])


def _param_text(value: Any) -> str:
    text = repr(value) if isinstance(value, float) else str(value)
    return text[:_MAX_PARAM_CHARS]


def _quote(text: str) -> str:
    return text.replace("'", "\\'")
