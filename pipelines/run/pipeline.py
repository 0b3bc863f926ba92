"""``kerashpo run``: validate, load data once, search, evaluate the champion once, export.

It reads top to bottom as three steps: ``prepare_run`` checks everything and
loads the data (nothing is written), the search runs its trials, and
``_finish`` evaluates the champion once on test and ships it.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerashpo.pipelines.config import ConfigError, PipelineConfig, load_config
from kerashpo.pipelines.data.dataset import Dataset
from kerashpo.pipelines.data.splits import Splits, data_spec, load_dataset, model_schema, split_for, take
from kerashpo.pipelines.review.record import WALL_TIME
from kerashpo.pipelines.run.baseline import Baseline, fit_baseline
from kerashpo.pipelines.run.card import ModelCard
from kerashpo.pipelines.run.describe import dataset_record, search_note
from kerashpo.pipelines.run.predictions import log_test_predictions
from kerashpo.pipelines.runtime.backend import check_inputs, select_backend
from kerashpo.pipelines.runtime.compute import Compute, tensorflow_settings
from kerashpo.pipelines.runtime.stores import Stores, prepare, resolve_stores, resolve_tracking_uri
from kerashpo.pipelines.runtime.workers import not_portable, search_in_processes
from kerashpo.pipelines.ship.export import (
    CARD,
    ExportReport,
    evaluate_once,
    log_and_register,
    raw_example,
    write_bundle,
)
from kerashpo.pipelines.ship.preflight import check_export, export_directory
from kerashpo.search.protocols import Driver, ModelSource
from kerashpo.spaces import (
    DEFAULT_OBJECTIVE,
    METRIC_NAMES,
    PRESETS,
    DataSpec,
    UserError,
    objective_direction,
    resolve_space,
)
from kerashpo.spaces.choices import Direction, ObjectivesPruning, Pruner
from kerashpo.spaces.choices import Driver as DriverName

log = logging.getLogger("kerashpo.run")

if TYPE_CHECKING:  # importing these at run time would load TensorFlow for `kerashpo --help`
    from kerashpo.search.executor import SearchJob, SearchOutcome
    from kerashpo.search.selection.ensemble import Ensemble
    from kerashpo.search.tracking import MLflowTracker, SearchInfo
    from kerashpo.search.training.runner import TrainingSetup


@dataclass
class RunReport:
    study: str
    experiment: str
    objective: str
    parent_run_id: str | None
    outcome: SearchOutcome
    export: ExportReport | None
    stores: Stores
    baseline: Baseline | None = None
    direction: Direction = Direction.MINIMIZE
    review: Path | None = None  # report.html: summary, leaderboard, figures, model card

    def baseline_comparison(self) -> list[str]:
        """The shipped model against the linear reference, on validation and (after the one evaluation) on test;
        a last line says so when it is worse on validation."""
        base, best = self.baseline, self.outcome.best_value
        if base is None or best is None or self.objective not in base.validation:
            return []
        reference = base.validation[self.objective]
        shipped = "the champion"
        if self.export is not None and self.export.ensemble_value is not None:
            shipped, best = "the ensemble", self.export.ensemble_value
        lines = [f"vs baseline ({base.name}, same splits): {self.objective} {best:.4f} vs {reference:.4f}"]
        if self.export is not None and base.test:
            shared = [k for k in self.export.test_metrics if k in base.test]
            lines.append("  test: " + ", ".join(f"{k} {self.export.test_metrics[k]:.4f} vs {base.test[k]:.4f}"
                                                for k in shared))
        # A shipped model holding the linear model was put together by the tie test with it in view.
        if self.direction.better(reference, best) and not (self.export is not None and self.export.with_linear):
            lines.append(f"{shipped} is worse than {base.name} on validation ({self.objective} {best:.4f} vs "
                         f"{reference:.4f}): give the search more budget (budget.trials, budget.timeout), or "
                         "use the linear model")
        return lines


@dataclass
class PreparedRun:
    """A run whose every input was checked and whose data was loaded and split, before anything is written."""

    config: PipelineConfig
    stores: Stores
    dataset: Dataset
    splits: Splits
    spec: DataSpec
    schema: dict[str, Any]
    objective: str
    direction: Direction
    driver: Driver
    job: SearchJob
    ensemble: int  # up to how many of the best trials the shipped model averages (0 or 1: the champion alone)

    @property
    def study(self) -> str:
        return self.job.name

    def search_info(self) -> SearchInfo:
        """What the parent run records: tags, params and the resolved config."""
        from kerashpo.search.tracking import OBJECTIVES_TAG, SPLIT_TAG, SearchInfo, objectives_tag

        config = self.config
        several = {OBJECTIVES_TAG: objectives_tag(self.job.objectives), "pick": self.job.pick.describe()} \
            if self.job.objectives else {}
        tags = {**self.driver.describe(), **several, "model": self.job.source.name, "dataset": self.dataset.name,
                "task": self.dataset.task, "config_hash": config.fingerprint(), "code_version": code_version(),
                SPLIT_TAG: self.splits.fingerprint}
        params = {"trials": "until timeout" if config.budget.time_decides else config.budget.trial_cap,
                  "timeout": config.budget.timeout, "max_epochs": config.budget.max_epochs,
                  "patience": config.budget.patience, "seed": config.seed, "space": config.space,
                  "workers": config.workers, "mixed_precision": config.mixed_precision, "backend": config.backend,
                  **{f"split_{k}": v for k, v in self.splits.sizes().items()}}
        base_dir = config.source.parent if config.source else self.stores.root.parent
        return SearchInfo(study=self.study, experiment=config.name, objective=self.objective,
                          direction=self.direction, tags=tags, params=params, config_text=config.to_yaml(),
                          dataset=dataset_record(config.dataset, self.dataset, self.splits, base_dir))


def resolve_objective(config: PipelineConfig, task: str, trains_itself: bool = False,
                      byo: bool = False) -> tuple[str, Direction]:
    """The metric to select on and its direction; checked now unless the source's own fit reports its metrics
    (then the first trial checks it)."""
    # A user's own model reports what it was compiled with: Keras Tuner's default objective, val_loss, is the
    # one every compiled model has.
    chosen = config.objectives[0] if config.objectives else config.objective
    field = "objectives.0.metric" if config.objectives else "objective.metric"
    metric = chosen.metric or ("val_loss" if byo else DEFAULT_OBJECTIVE[task])
    known = reported_metrics(task)
    if metric not in known and not trains_itself:
        trained = " (the first objective is the one each trial trains and stops early on)" if config.objectives \
            else ""
        raise ConfigError(f"{field}: {metric!r} is not reported for a {task} task{trained}; "
                          f"choose from {', '.join(known)}")
    return metric, Direction(chosen.direction or objective_direction(metric))


def reported_metrics(task: str) -> list[str]:
    """What a trained model reports each epoch, validation metrics first."""
    return [f"val_{m}" for m in METRIC_NAMES[task]] + list(METRIC_NAMES[task])


def recorded_metrics(task: str) -> list[str]:
    """What every completed trial records: its model's size and latency, and what the model reports."""
    from kerashpo.search.selection.constraints import SIZE_METRICS

    return [*SIZE_METRICS, *reported_metrics(task)]


def resolve_objectives(config: PipelineConfig, task: str, trains_itself: bool = False) -> tuple[Any, ...]:
    """Every objective of a search with several (the first is ``resolve_objective``'s); empty with one."""
    from kerashpo.search.selection.pareto import Objective

    known = recorded_metrics(task)
    for index, item in enumerate(config.objectives[1:], start=1):
        if item.metric not in known and not trains_itself:
            raise ConfigError(f"objectives.{index}.metric: {item.metric!r} is not a metric the trials record; "
                              f"choose from {', '.join(known)}")
    return tuple(Objective(item.metric, Direction(item.direction or objective_direction(item.metric)))
                 for item in config.objectives)


def resolve_constraints(config: PipelineConfig, task: str, trains_itself: bool = False) -> tuple[Any, ...]:
    """The config's constraints, each on a metric the trials record (checked now unless the source's own fit
    reports its metrics)."""
    from kerashpo.search.selection.constraints import Constraint

    known = recorded_metrics(task)
    for metric in config.constraints:
        if metric not in known and not trains_itself:
            raise ConfigError(f"constraints.{metric}: not a metric the trials record; choose from "
                              f"{', '.join(known)}")
    return tuple(Constraint(metric, bound.min, bound.max) for metric, bound in config.constraints.items())


def make_driver(config: PipelineConfig, stores: Stores) -> Driver:
    """The driver the config names: switching is one word (``driver: keras_tuner``)."""
    if config.driver is DriverName.KERAS_TUNER:
        from kerashpo.search.drivers.keras_tuner import KerasTunerDriver

        options = config.keras_tuner
        return KerasTunerDriver(options.tuner, stores.keras_tuner_dir,
                                executions_per_trial=options.executions_per_trial,
                                max_epochs=options.max_epochs, factor=options.factor,
                                hyperband_iterations=options.hyperband_iterations,
                                num_initial_points=options.num_initial_points)
    from kerashpo.search.drivers.optuna import OptunaDriver

    return OptunaDriver(sampler=config.optuna.sampler, pruner=config.optuna.pruner, storage=stores.storage,
                        pruning=config.optuna.pruning)


def resolve_source(config: PipelineConfig, base_dir: Path) -> ModelSource:
    """A declared space (preset or file), or the user's ``build_model`` function."""
    from kerashpo.search.training.sources import SpaceSource, import_hypermodel

    if config.build_model:
        return import_hypermodel(config.build_model, base_dir)
    return SpaceSource(resolve_space(config.space, base_dir))


def describe_ranges(space: Any, names: tuple[str, ...] = ("n_layers", "units_1", "learning_rate")) -> str:
    """The ranges of the parameters that size a network, for the run's summary."""
    shown = []
    for name in names:
        if name in space:
            param = space[name]
            label = "units" if name.startswith("units_") else name
            shown.append(f"{label} {param.low:g}-{param.high:g}")
    return ", ".join(shown)


def code_version() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@dataclass
class PreparedTraining:
    """The source, the data split once, its preprocessing and how a configuration trains on it: what a search
    and an ablation of its champion share, so both train on exactly the same rows."""

    source: ModelSource
    stores: Stores
    dataset: Dataset
    splits: Splits
    spec: DataSpec
    schema: dict[str, Any]  # the exported model's inputs and outputs (schema.json), by the data's own names
    objective: str
    direction: Direction
    setup: TrainingSetup


def prepare_training(config: PipelineConfig, *, workdir: Path, tracking_uri: str | None = None, source: Any = None,
                     data: Any = None) -> PreparedTraining:
    """Resolve the source and the stores, load and split the data once, fit the preprocessing on train;
    nothing is written and the test rows are only set aside."""
    from kerashpo.search.training.runner import TrainingSetup
    from kerashpo.search.training.sources import SpaceSource, as_source
    from kerashpo.search.training.trial_data import TrialData

    base_dir = config.source.parent if config.source else workdir
    sized = source is None and not config.build_model and config.space in PRESETS
    source = resolve_source(config, base_dir) if source is None else as_source(source)
    stores = resolve_stores(workdir, resolve_tracking_uri(tracking_uri, config.tracking.uri, workdir), config.storage)
    dataset = load_dataset(config, base_dir, data)
    objective, direction = resolve_objective(config, dataset.task, getattr(source, "trains_itself", False),
                                             byo=source.space is None)
    splits = split_for(dataset, config.split, config.seed)
    spec = data_spec(dataset, splits)
    schema = model_schema(dataset, spec, config.dataset)
    # Here, not in the run alone: `kerashpo ablate` trains on the config's backend too.
    check_inputs(config.backend, schema)
    if sized:  # a built-in preset named in the config: its default ranges follow the training rows
        source = SpaceSource(source.preset.sized_for(len(splits.y_train)))
        log.warning("space %s for %d training rows: %s", config.space, len(splits.y_train),
                    describe_ranges(source.preset.space))
    preset = getattr(source, "preset", None)
    if preset is not None:
        preset.check_data(spec)
    first = TrialData(splits.x_train, splits.y_train, splits.x_val, splits.y_val, spec)
    # Each fold's preprocessing (scaling, vocabularies) is fitted on that fold's training part alone.
    folds = tuple(TrialData(fold.x_train, fold.y_train, fold.x_val, fold.y_val, data_spec(dataset, fold))
                  for fold in splits.folds[1:])
    setup = TrainingSetup(
        data=first, objective=objective, direction=direction, max_epochs=config.budget.max_epochs,
        patience=config.budget.patience, seed=config.seed, folds=(first, *folds) if splits.folds else (),
    )
    return PreparedTraining(source, stores, dataset, splits, spec, schema, objective, direction, setup)


def prepare_run(config: PipelineConfig, *, workdir: Path, tracking_uri: str | None = None, source: Any = None,
                data: Any = None) -> PreparedRun:
    """Check every input and load and split the data once; nothing is written."""
    from kerashpo.search.executor import SearchJob
    from kerashpo.search.selection.pareto import PickRule

    training = prepare_training(config, workdir=workdir, tracking_uri=tracking_uri, source=source, data=data)
    source, stores, dataset, splits, spec = (training.source, training.stores, training.dataset, training.splits,
                                             training.spec)
    objective, direction, setup = training.objective, training.direction, training.setup
    if config.driver is DriverName.OPTUNA and config.optuna.pruner is not Pruner.NONE and not config.objectives:
        for note in setup.budget.notes():
            log.warning(note)
    driver = make_driver(config, stores)
    study = driver.study_name(config.name)
    trains_itself = getattr(source, "trains_itself", False)
    objectives = resolve_objectives(config, dataset.task, trains_itself)
    if objectives and config.optuna.pruning is ObjectivesPruning.OFF:
        log.warning("%d objectives: Optuna cannot prune trials of several objectives, so pruning is off (early "
                    "stopping on %s stays; optuna.pruning: primary prunes on it alone)", len(objectives), objective)
    elif objectives:
        log.warning("%d objectives: the %s pruner judges %s alone (optuna.pruning: primary)", len(objectives),
                    config.optuna.pruner, objective)
    pick = config.export.pick
    ensemble = config.ensemble_size(getattr(source, "preset", None))
    job = SearchJob(name=study, source=source, setup=setup, n_trials=config.budget.trial_cap,
                    constraints=resolve_constraints(config, dataset.task, trains_itself),
                    objectives=objectives, pick=PickRule(pick.rule, pick.tolerance, pick.trial),
                    checkpoint_dir=stores.checkpoint_dir(study),
                    # The ensemble's candidates; with several objectives, any model of the front may be picked.
                    keep_best=config.budget.trial_cap if objectives else max(config.export.keep_best, ensemble),
                    timeout=config.budget.timeout, trials_per_process=config.budget.trials_per_process)
    job.source.check()
    driver.check(job)
    if config.workers > 1 and (reason := not_portable(driver, job)):
        raise UserError(f"workers: the search cannot be sent to worker processes ({reason})")
    # Export, the MLflow model and serving run after the search; what could fail there fails here instead.
    check_export(config, dataset, splits, spec, job.source, stores)
    return PreparedRun(config, stores, dataset, splits, spec, training.schema, objective, direction, driver, job,
                       ensemble)


def run_pipeline(
    config: PipelineConfig | str | Path,
    *,
    workdir: Path | None = None,
    tracking_uri: str | None = None,
    source: Any = None,
    on_trial_end: Callable[[Any], None] | None = None,
    command: str | None = None,
    data: Any = None,
) -> RunReport:
    """Run one pipeline (a config file's path, or a ``PipelineConfig``). Every input is checked first.

    ``source`` replaces what the config names: a ``spaces.Preset``, a
    ``search.SpaceSource``, or a ``build_model(hp)`` function / HyperModel.
    ``data`` replaces the config's dataset: a pandas DataFrame (with
    ``dataset.target`` naming its target column) or ``(x, y)`` arrays.
    """
    from kerashpo.pipelines.runtime.quiet import import_tensorflow_quietly
    from kerashpo.search.tracking import MLflowTracker
    from kerashpo.search.training.memory import collecting_new_objects_only

    if not isinstance(config, PipelineConfig):
        config = load_config(config)
    select_backend(config.backend)
    # GPU memory growth and the precision policy are set before the checks build their first model.
    compute = Compute(config.workers, len(import_tensorflow_quietly()), config.mixed_precision)
    with tensorflow_settings(compute), collecting_new_objects_only():
        run = prepare_run(config, workdir=(workdir or Path.cwd()).resolve(), tracking_uri=tracking_uri,
                          source=source, data=data)
        prepare(run.stores)
        artifacts = f"{run.stores.artifact_location}/{config.name}" if run.stores.artifact_location else None
        tracker = MLflowTracker(run.stores.tracking_uri, artifact_location=artifacts)
        tracker.start_search(run.search_info())
        with tracker.ending_search():
            baseline = _baseline(run, tracker)
            run.job.started_at = time.time()  # budget.timeout counts the search, not the checks before it
            outcome = search_in_processes(run.driver, run.job, tracker, on_trial_end, compute)
            report = None
            # With workers on several hosts the champion's checkpoint may be on another host; a refit needs none.
            if outcome.best_model_path is not None or (config.export.refit and outcome.best_number is not None):
                report = _finish(run, outcome, tracker, command or f"kerashpo run {config.source or '<config>'}",
                                 baseline)
    review = _review(run, tracker.parent_run_id)
    return RunReport(run.study, config.name, run.objective, tracker.parent_run_id, outcome, report, run.stores,
                     baseline, run.direction, review)


def _review(run: PreparedRun, parent_run_id: str | None) -> Path | None:
    """The search's figures and report.html on its parent run, the report also in the export folder; a failure
    is reported and the run goes on."""
    if parent_run_id is None or not run.config.report:
        return None
    from kerashpo.pipelines.review.report import REPORT, review_search

    try:
        return review_search(run.stores.tracking_uri, parent_run_id, export_directory(run.config, run.stores) / REPORT)
    except Exception as exc:
        log.warning("report: could not draw the search's report (%s: %s)", type(exc).__name__, exc)
        return None


def _baseline(run: PreparedRun, tracker: MLflowTracker) -> Baseline | None:
    """The linear reference on the search's own splits (validation now; test with the champion's evaluation)."""
    if not run.config.baseline:
        return None
    try:
        baseline = fit_baseline(run.dataset, run.splits, run.config.seed)
    except Exception as exc:  # a reference that cannot be fitted is reported; the search goes on
        log.warning("baseline: could not fit the linear reference (%s: %s)", type(exc).__name__, exc)
        return None
    tracker.log_baseline(baseline.name, baseline.validation)
    return baseline


def _finish(run: PreparedRun, outcome: SearchOutcome, tracker: MLflowTracker, command: str,
            baseline: Baseline | None) -> ExportReport:
    """Evaluate the champion once on test, log and register it, write the export folder and its card."""
    from kerashpo.search.selection.ensemble import ENSEMBLE_TAG

    config = run.config
    model, spec, weights, ensemble = _champion(run, outcome)
    # The shipped ensemble's validation value, where it scored the run's own objective (not the task's default).
    ensemble_value = ensemble.value if ensemble is not None and ensemble.objective == run.objective else None
    test_metrics = evaluate_once(model, run.splits.x_test, run.splits.y_test, spec)
    log_test_predictions(tracker, model, run.splits.x_test, run.splits.y_test, spec, run.dataset.class_names)
    if baseline is not None:  # the same test rows, scored once, beside the champion
        tracker.log_baseline(baseline.name, {**baseline.validation,
                                             **baseline.evaluate_test(run.splits.x_test, run.splits.y_test)})
    best = {f"best_{run.objective}": outcome.best_value} if outcome.best_value is not None else {}
    tags = {"best_trial": str(outcome.best_number), "weights": weights}
    if ensemble is not None:
        best[f"ensemble_{ensemble.objective}"] = ensemble.value
        tags[ENSEMBLE_TAG] = ensemble.to_json()  # read back by the report
    # The sentence `kerashpo run` prints; the card and the report (from the tag) say the same.
    shipped = None if ensemble is None else ensemble.summary()
    tracker.log_search_results({**test_metrics, **best, WALL_TIME: outcome.seconds}, tags)
    tracker.describe_search(search_note(
        study=run.study, objective=run.objective, direction=run.direction, outcome=outcome, test_metrics=test_metrics,
        baseline=baseline, shipped=shipped or weights, experiment_id=tracker.experiment_id,
        run_id=tracker.parent_run_id, report=config.report))
    version, moved = None, False
    if tracker.parent_run_id is not None and config.export.logs_mlflow_model:
        shipped_value = outcome.best_value if ensemble_value is None else ensemble_value
        version_tags = {"objective": run.objective, "val_value": repr(shipped_value), "study": run.study,
                        "trial_number": str(outcome.best_number)}
        version, moved = log_and_register(
            tracking_uri=run.stores.tracking_uri, run_id=tracker.parent_run_id, model=model, schema=run.schema,
            example=raw_example(take(run.splits.x_test, slice(0, 5)), run.schema), name=config.name,
            register=config.export.registers, version_tags=version_tags, direction=run.direction,
        )
    search = ", ".join(f"{k} {v}" for k, v in {**run.driver.describe(), "backend": config.backend}.items())
    if run.job.objectives:
        search += (f"; objectives {', '.join(f'{o.metric} ({o.direction})' for o in run.job.objectives)}, the "
                   f"trial shipped picked from their Pareto front by {run.job.pick.describe()}")
    card = ModelCard(
        name=config.name, dataset=run.dataset.name, fingerprint=run.dataset.fingerprint(), task=run.dataset.task,
        split_sizes=run.splits.sizes(), seed=config.seed, study=run.study, trial=outcome.best_number,
        search=f"{search}, {outcome.n_complete} complete / {outcome.n_pruned} pruned / "
               f"{outcome.n_failed} failed trials",
        n_complete=outcome.n_complete, objective=run.objective, val_value=outcome.best_value,
        best_epoch=outcome.best_epoch, weights=weights, test_metrics=test_metrics, params=outcome.best_params,
        command=command, run_id=tracker.parent_run_id or "-", ensemble=shipped,
        baseline=_baseline_line(baseline, run.objective, test_metrics),
        registered=f"{config.name} version {version}" + (" (champion)" if moved else "") if version else "-",
    ).markdown()
    if run.job.objectives:
        card += _front_markdown(run, tracker.parent_run_id)
    tracker.log_text(card, CARD)
    directory = export_directory(config, run.stores)
    write_bundle(directory, model, run.schema, card, saved_model=config.export.writes_saved_model)
    return ExportReport(directory, test_metrics, version, moved, shipped, ensemble_value,
                        with_linear=ensemble is not None and bool(ensemble.linear))


def _front_markdown(run: PreparedRun, parent_run_id: str | None) -> str:
    """The Pareto front as a Markdown table for the model card (from the search's MLflow record)."""
    from kerashpo.search.leaderboard import format_leaderboard, leaderboard

    try:
        board = leaderboard(run.stores.tracking_uri, run_id=parent_run_id)
    except Exception as exc:  # the card is written either way
        log.warning("model card: could not read the Pareto front (%s: %s)", type(exc).__name__, exc)
        return ""
    columns = ["trial", "objective", *(o.metric for o in run.job.objectives[1:])]
    front = board.loc[board["pareto"], columns]
    front.attrs.update(board.attrs)
    return f"\n## Pareto front\n\n{format_leaderboard(front, 'markdown')}\n"


def _baseline_line(baseline: Baseline | None, objective: str, test_metrics: dict[str, float]) -> str:
    if baseline is None:
        return "-"
    scores = [f"validation {k} {v:.4f}" for k, v in baseline.validation.items() if k == objective]
    scores += [f"{k} {v:.4f}" for k, v in baseline.test.items() if k in test_metrics]
    return f"{baseline.name} on the same splits: " + ", ".join(scores)


def _champion(run: PreparedRun, outcome: SearchOutcome) -> tuple[Any, DataSpec, str, Ensemble | None]:
    """The model to ship, the data spec it was fitted with, how its weights came about, and the ensemble
    it is (``export.ensemble``)."""
    import keras

    config = run.config
    if run.ensemble > 1:  # never with refit (the config refuses both, and the default is 0 with refit)
        return _ensemble(run, outcome)
    if not config.export.refit:
        model = keras.saving.load_model(outcome.best_model_path)
        return model, run.spec, f"trial {outcome.best_number}'s best epoch ({outcome.best_epoch}), restored", None
    from kerashpo.pipelines.data.splits import train_and_validation
    from kerashpo.search.training.runner import refit
    from kerashpo.search.training.trial_data import TrialData

    epochs = outcome.best_epoch or config.budget.max_epochs
    merged = train_and_validation(run.splits)
    spec = data_spec(run.dataset, merged)  # preprocessing statistics of train + validation
    model = refit(run.job.source, outcome.best_params, TrialData(merged.x_train, merged.y_train, None, None, spec),
                  epochs=epochs, seed=config.seed, objective=run.objective, direction=run.direction)
    rows = (f"every non-test row ({len(merged.y_train)}) for {epochs} epochs, the median best epoch over "
            f"{len(run.splits.folds)} folds" if run.splits.folds else f"train + validation for {epochs} epochs")
    return model, spec, f"refit on {rows} (seed {config.seed})", None


def _ensemble(run: PreparedRun, outcome: SearchOutcome) -> tuple[Any, DataSpec, str, Ensemble | None]:
    """The average of those of the best kept trials and the exactly fitted linear model that are tied with the
    best on the validation split; no ensemble when the best trial is alone (it ships as the champion would)."""
    import keras

    from kerashpo.search.selection.checkpoints import CheckpointStore
    from kerashpo.search.selection.ensemble import select_ensemble

    store = CheckpointStore(run.job.checkpoint_dir, run.job.keep_best, run.direction)
    kept = [(number, keras.saving.load_model(store.path(number)))
            for number, _ in store.ranked(among=outcome.completed)[:run.ensemble]]
    linear = _linear_candidate(run, kept[0][1])
    ensemble, model = select_ensemble(kept, run.splits.x_val, run.splits.y_val, run.dataset.task, run.objective,
                                      linear=linear, searched=len(outcome.completed))
    if len(ensemble.weights) == 1 and not ensemble.linear:
        (member,) = ensemble.weights
        others = f"no other of the {len(kept)} best trials" + (" nor the linear model" if linear else "")
        return model, run.spec, f"{member}'s best checkpoint, restored ({others} is tied with it on validation)", None
    return model, run.spec, ensemble.describe(), ensemble


def _linear_candidate(run: PreparedRun, best: Any) -> tuple[str, Any] | None:
    """The linear model fitted exactly on the training split, where it takes the trials' inputs."""
    from kerashpo.search.selection.linear import fitted_linear_model

    try:
        return fitted_linear_model(run.spec, run.splits.x_train, run.splits.y_train, run.config.seed, like=best)
    except Exception as exc:  # the trials' average ships either way
        log.warning("ensemble: could not fit the linear model (%s: %s)", type(exc).__name__, exc)
        return None
