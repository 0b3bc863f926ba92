"""A run prepared before anything is written: its objectives and constraints from the config, its driver, its
model source and data, each checked.

``prepare_training`` is what a search and an ablation of its champion share; ``prepare_run`` adds the search job.
"""

from __future__ import annotations

import json
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerashpo.pipelines.config import ConfigError, PipelineConfig
from kerashpo.pipelines.data.dataset import Dataset
from kerashpo.pipelines.data.splits import Splits, data_spec, load_dataset, model_schema, split_for
from kerashpo.pipelines.review.record import BUDGET_TAG
from kerashpo.pipelines.run.describe import dataset_record
from kerashpo.pipelines.runtime.backend import check_inputs
from kerashpo.pipelines.runtime.stores import Stores, resolve_stores, resolve_tracking_uri
from kerashpo.pipelines.runtime.workers import not_portable
from kerashpo.pipelines.ship.preflight import check_export
from kerashpo.search.protocols import ModelSource, SearchDriver
from kerashpo.spaces import (
    DEFAULT_OBJECTIVE,
    METRIC_NAMES,
    PRESETS,
    DataSpec,
    Float,
    Int,
    Space,
    UserError,
    objective_direction,
    resolve_space,
)
from kerashpo.spaces.choices import Direction, Driver, ObjectivesPruning, Pruner, Task
from kerashpo.spaces.presets.tabular.preset import published_preset

__all__ = [
    "PreparedRun",
    "PreparedTraining",
    "code_version",
    "describe_ranges",
    "make_driver",
    "prepare_run",
    "prepare_training",
    "recorded_metrics",
    "reported_metrics",
    "resolve_constraints",
    "resolve_objective",
    "resolve_objectives",
    "resolve_source",
]

log = logging.getLogger("kerashpo.run")

if TYPE_CHECKING:  # importing these at run time would load TensorFlow for `kerashpo --help`
    from kerashpo.search.executor import SearchJob
    from kerashpo.search.selection.constraints import Constraint
    from kerashpo.search.selection.pareto import Objective
    from kerashpo.search.tracking import SearchInfo
    from kerashpo.search.training.runner import TrainingSetup
    from kerashpo.search.training.sources import UserModel
    from kerashpo.spaces import Preset


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
    driver: SearchDriver
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
        budget = {"trials": "until timeout" if config.budget.time_decides else config.budget.trial_cap,
                  "timeout": config.budget.timeout, "max_epochs": config.budget.max_epochs,
                  "patience": config.budget.patience}
        # The budget is a tag too: a resumed search's tags are set again, its params never (the report reads the tag).
        tags = {**self.driver.describe(), **several, "model": self.job.source.name, "dataset": self.dataset.name,
                "task": str(self.dataset.task), "config_hash": config.fingerprint(), "code_version": code_version(),
                SPLIT_TAG: self.splits.fingerprint, BUDGET_TAG: json.dumps(budget)}
        params = {**budget, "seed": config.seed, "space": config.space,
                  "workers": config.workers, "mixed_precision": config.mixed_precision, "backend": config.backend,
                  **{f"split_{k}": v for k, v in self.splits.sizes().items()}}
        base_dir = config.source.parent if config.source else self.stores.root.parent
        return SearchInfo(study=self.study, experiment=config.name, objective=self.objective,
                          direction=self.direction, tags=tags, params=params, config_text=config.to_yaml(),
                          dataset=dataset_record(config.dataset, self.dataset, self.splits, base_dir))


def resolve_objective(config: PipelineConfig, task: Task, trains_itself: bool = False,
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


def reported_metrics(task: Task) -> list[str]:
    """What a trained model reports each epoch, validation metrics first."""
    return [f"val_{m}" for m in METRIC_NAMES[task]] + list(METRIC_NAMES[task])


def recorded_metrics(task: Task) -> list[str]:
    """What every completed trial records: its model's size and latency, and what the model reports."""
    from kerashpo.search.selection.constraints import SIZE_METRICS

    return [*SIZE_METRICS, *reported_metrics(task)]


def resolve_objectives(config: PipelineConfig, task: Task, trains_itself: bool = False) -> tuple[Objective, ...]:
    """Every objective of a search with several (the first is ``resolve_objective``'s); empty with one."""
    from kerashpo.search.selection.pareto import Objective

    known = recorded_metrics(task)
    for index, item in enumerate(config.objectives[1:], start=1):
        if item.metric not in known and not trains_itself:
            raise ConfigError(f"objectives.{index}.metric: {item.metric!r} is not a metric the trials record; "
                              f"choose from {', '.join(known)}")
    return tuple(Objective(item.metric, Direction(item.direction or objective_direction(item.metric)))
                 for item in config.objectives)


def resolve_constraints(config: PipelineConfig, task: Task, trains_itself: bool = False) -> tuple[Constraint, ...]:
    """The config's constraints, each on a metric the trials record (checked now unless the source's own fit
    reports its metrics)."""
    from kerashpo.search.selection.constraints import Constraint

    known = recorded_metrics(task)
    for metric in config.constraints:
        if metric not in known and not trains_itself:
            raise ConfigError(f"constraints.{metric}: not a metric the trials record; choose from "
                              f"{', '.join(known)}")
    return tuple(Constraint(metric, bound.min, bound.max) for metric, bound in config.constraints.items())


def make_driver(config: PipelineConfig, stores: Stores) -> SearchDriver:
    """The driver the config names: switching is one word (``driver: keras_tuner``)."""
    if config.driver is Driver.KERAS_TUNER:
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
    if config.defaults is not None:
        return SpaceSource(published_preset(config.defaults))
    return SpaceSource(resolve_space(config.space, base_dir))


def describe_ranges(space: Space, names: tuple[str, ...] = ("n_layers", "units_1", "learning_rate")) -> str:
    """The ranges of the parameters that size a network, for the run's summary."""
    shown = []
    for name in names:
        param = space[name] if name in space else None
        if isinstance(param, (Int, Float)):
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


def prepare_training(config: PipelineConfig, *, workdir: Path, tracking_uri: str | None = None,
                     source: ModelSource | Preset | UserModel | None = None, data: Any = None) -> PreparedTraining:
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
    objective, direction = resolve_objective(config, dataset.task, source.trains_itself, byo=source.space is None)
    splits = split_for(dataset, config.split, config.seed)
    spec = data_spec(dataset, splits)
    schema = {**model_schema(dataset, spec, config.dataset), "backend": str(config.backend)}
    # Here, not in the run alone: `kerashpo ablate` trains on the config's backend too.
    check_inputs(config.backend, schema)
    if sized and source.preset is not None:  # a built-in preset: its default ranges follow the training rows
        source = SpaceSource(source.preset.sized_for(len(splits.y_train), dataset.task))
        if config.defaults is None:
            log.warning("space %s for %d training rows: %s", config.space, len(splits.y_train),
                        describe_ranges(source.space))
    if source.preset is not None:
        source.preset.check_data(spec)
    first = TrialData(splits.x_train, splits.y_train, splits.x_val, splits.y_val, spec)
    # Each fold's preprocessing (scaling, vocabularies) is fitted on that fold's training part alone.
    folds = tuple(TrialData(fold.x_train, fold.y_train, fold.x_val, fold.y_val, data_spec(dataset, fold))
                  for fold in splits.folds[1:])
    setup = TrainingSetup(
        data=first, objective=objective, direction=direction, max_epochs=config.budget.max_epochs,
        patience=config.budget.patience, seed=config.seed, folds=(first, *folds) if splits.folds else (),
    )
    return PreparedTraining(source, stores, dataset, splits, spec, schema, objective, direction, setup)


def prepare_run(config: PipelineConfig, *, workdir: Path, tracking_uri: str | None = None,
                source: ModelSource | Preset | UserModel | None = None, data: Any = None) -> PreparedRun:
    """Check every input and load and split the data once; nothing is written."""
    from kerashpo.search.executor import SearchJob
    from kerashpo.search.selection.pareto import PickRule

    training = prepare_training(config, workdir=workdir, tracking_uri=tracking_uri, source=source, data=data)
    source, stores, dataset, splits, spec = (training.source, training.stores, training.dataset, training.splits,
                                             training.spec)
    objective, direction, setup = training.objective, training.direction, training.setup
    if config.driver is Driver.OPTUNA and config.optuna.pruner is not Pruner.NONE and not config.objectives:
        for note in setup.budget.notes():
            log.warning(note)
    driver = make_driver(config, stores)
    study = driver.study_name(config.name)
    trains_itself = source.trains_itself
    objectives = resolve_objectives(config, dataset.task, trains_itself)
    if objectives and config.optuna.pruning is ObjectivesPruning.OFF:
        log.warning("%d objectives: Optuna cannot prune trials of several objectives, so pruning is off (early "
                    "stopping on %s stays; optuna.pruning: primary prunes on it alone)", len(objectives), objective)
    elif objectives:
        log.warning("%d objectives: the %s pruner judges %s alone (optuna.pruning: primary)", len(objectives),
                    config.optuna.pruner, objective)
    pick = config.export.pick
    ensemble = config.ensemble_size(source.preset)
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
