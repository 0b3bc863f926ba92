"""The pipeline config: YAML validated into typed settings with one-line errors."""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from kerashpo.spaces import UserError
from kerashpo.spaces.choices import (
    AblationVariant,
    Backend,
    Direction,
    Driver,
    ExportFormat,
    ObjectivesPruning,
    Pick,
    Pruner,
    PublishedDefaults,
    Reference,
    Sampler,
    Task,
    Tuner,
)

if TYPE_CHECKING:
    from kerashpo.spaces.preset import Preset

# Up to this many of the best trials averaged in the shipped model when export.ensemble is unset (those tied
# with the best on validation): averaging them does better on test than the champion alone, and averaging more
# does not (benchmarks/ensemble_rules.py).
DEFAULT_ENSEMBLE = 5
# digits_images: the digits set as 8x8 grayscale images (for the cnn space).
BUILTIN_DATASETS = ("digits", "digits_images", "breast_cancer", "wine", "iris", "diabetes")
TASK_SETTINGS = ("auto", *Task.values())
FILE_FORMATS = ("csv", "parquet", "npz", "images")
FILE_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz"}


class ConfigError(UserError):
    """A pipeline config that cannot be run."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DatasetConfig(_Section):
    """A built-in set (``name``) or a file or folder (``path``, relative to the config)."""

    name: str | None = Field(None, description=(
        "A built-in dataset (scikit-learn's bundled sets, no download): " + ", ".join(BUILTIN_DATASETS)
        + " (digits_images: the digits as 8x8 images). Give name or path, not both."))
    path: str | None = Field(None, description=(
        "A .csv, .parquet or .npz file, or a folder of images with one sub-folder per class; relative to the "
        "config file."))
    # csv, parquet, npz or images (a folder with one sub-folder per class); default: from the path.
    format: Literal["csv", "parquet", "npz", "images"] | None = Field(None, description=(
        "The format of path. Default: from its suffix (.csv, .parquet or .pq, .npz; no suffix: images)."))
    # CSV / Parquet
    target: str | None = Field(None, description="CSV and Parquet: the column to predict (required).")
    drop: list[str] = Field([], description="CSV and Parquet: columns that are not features (identifiers).")
    categorical: list[str] = Field([], description=(  # columns to encode as categories even though they hold numbers
        "CSV and Parquet: numeric columns to encode as categories (codes, zip codes); text and boolean columns "
        "are categories anyway."))
    # NPZ
    x_key: str = Field("x", description=(
        "NPZ: the array of inputs (2-D: a table of numbers; 3-D or 4-D: images)."))
    y_key: str = Field("y", description="NPZ: the array of targets.")
    # image folders
    image_size: tuple[int, int] | None = Field(None, description=(  # (height, width) every image is resized to
        "Image folders: [height, width] every image is resized to; needed when the images' sizes differ."))
    color_mode: Literal["grayscale", "rgb", "rgba"] = Field(
        "rgb", description="Image folders: the channels each image is read with.")

    @field_validator("name")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        if value is not None and value not in BUILTIN_DATASETS:
            raise ValueError(f"unknown dataset {value!r}; choose from {', '.join(BUILTIN_DATASETS)}, "
                             "or give a file with dataset.path")
        return value

    @field_validator("image_size")
    @classmethod
    def _positive(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and min(value) < 1:
            raise ValueError(f"image_size {list(value)} needs two positive numbers: [height, width]")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> DatasetConfig:
        if self.name and self.path:
            raise ValueError("give either name (a built-in dataset) or path (a file or folder), not both")
        if self.path and self.format is None:
            suffix = Path(self.path).suffix.lower()
            if suffix in FILE_SUFFIXES:
                self.format = FILE_SUFFIXES[suffix]  # type: ignore[assignment]
            elif suffix == "":
                self.format = "images"
            else:
                raise ValueError(f"cannot tell the format of {self.path!r}; set dataset.format to one of "
                                 f"{', '.join(FILE_FORMATS)}")
        if self.format in ("csv", "parquet") and not self.target:
            raise ValueError(f"a {self.format} dataset needs target: the name of the column to predict")
        return self

    @property
    def label(self) -> str:
        """The dataset's name in tags and the model card."""
        return self.name or (Path(self.path).name if self.path else "in-memory")


class SplitConfig(_Section):
    """One validation split, or ``folds``: every trial trains on K folds of the non-test rows (``repeats``
    times, reshuffled) and its objective is the mean over them."""

    validation: float = Field(0.2, gt=0, lt=1, description=(
        "Share of the rows the trials are scored and selected on (seeded; stratified for classes)."))
    test: float = Field(0.2, gt=0, lt=1, description=(
        "Share of the rows held out for the one evaluation of what ships, after the search."))
    folds: int | None = Field(None, ge=2, le=20, description=(
        "Cross-validate: every trial trains on these K folds of the non-test rows and its objective is the mean "
        "over them; leave out validation. The champion is refit on every non-test row."))
    repeats: int = Field(1, ge=1, le=10, description=(
        "With folds: run the K folds this many times, reshuffled (K x repeats models a trial)."))

    @model_validator(mode="after")
    def _room_to_train(self) -> SplitConfig:
        if self.validation + self.test >= 0.9:
            raise ValueError("validation + test must leave at least 10% for training")
        if self.folds is not None and "validation" in self.model_fields_set:
            raise ValueError("with folds each fold is the validation part in turn; remove validation")
        if self.folds is None and "repeats" in self.model_fields_set:
            raise ValueError("repeats repeats the folds of cross-validation; set folds too, or remove repeats")
        return self

    @property
    def cross_validates(self) -> bool:
        return self.folds is not None


class OptunaConfig(_Section):
    sampler: Sampler = Field(Sampler.TPE, description=(
        "How Optuna chooses each trial's values: tpe (multivariate), random, cmaes, gp (needs the gp extra), "
        "grid (every parameter a finite list), nsga2 (several objectives)."))
    pruner: Pruner = Field(Pruner.HYPERBAND, description=(
        "What stops unpromising trials early; it counts training examples seen, not epochs."))
    # With several objectives: off, or primary (the pruner judges the first objective alone).
    pruning: ObjectivesPruning = Field(ObjectivesPruning.OFF, description=(
        "With several objectives: off (every trial trains to its early stop) or primary (the pruner judges the "
        "first objective alone)."))


class KerasTunerConfig(_Section):
    tuner: Tuner = Field(Tuner.RANDOM, description="The Keras Tuner oracle that chooses each trial's values.")
    executions_per_trial: int = Field(1, ge=1, description="Models trained per trial (Keras Tuner's own setting).")
    # hyperband: the most epochs a configuration trains (default: budget.max_epochs when the file sets it)
    max_epochs: int | None = Field(None, ge=1, description=(
        "hyperband: the most epochs a configuration trains. Default: budget.max_epochs when the file sets it."))
    factor: int = Field(3, ge=2, description="hyperband: the reduction factor from one round to the next.")
    hyperband_iterations: int = Field(1, ge=1, description="hyperband: how many times Hyperband runs whole.")
    # bayesian: random trials before the Gaussian process takes over
    num_initial_points: int | None = Field(None, ge=1, description=(
        "bayesian: random trials before the Gaussian process takes over."))


# Trials of a search given no trial count and no time budget.
DEFAULT_TRIALS = 30
# Given a time budget and no trial count, the time decides: the drivers still count against a cap (Keras Tuner's
# max_trials, the study-wide cap workers share), one the time reaches first.
TIME_BOUND_TRIALS = 100_000


class BudgetConfig(_Section):
    trials: int | None = Field(None, ge=1, description=(  # default: 30, or as many as budget.timeout allows
        f"Trials in the study, all workers and runs together: running the same command again adds trials up "
        f"to it. Default: {DEFAULT_TRIALS}, or with budget.timeout alone as many as the time allows."))
    max_epochs: int = Field(40, ge=1, description="The most epochs a trial trains.")
    patience: int = Field(8, ge=1, description=(
        "Early stopping: epochs without a better objective before a trial stops; the best epoch's weights are "
        "kept."))
    timeout: float | None = Field(None, gt=0, description=(
        "Seconds of search: no trial starts after it, and the trial in flight stops at its next batch, keeping "
        "the best epoch it reached."))
    # A fresh process takes over after this many trials (null: one process). Memory stays flat without it
    # (benchmarks/memory.py); it is there for builders that leak what kerashpo cannot give back.
    trials_per_process: int | None = Field(None, ge=1, description=(
        "A fresh process takes over the search after this many trials (default: one process); for model "
        "builders that leak memory."))

    @property
    def time_decides(self) -> bool:
        """A time budget without a trial count: trials start until the time is up."""
        return self.trials is None and self.timeout is not None

    @property
    def trial_cap(self) -> int:
        """The total for the study that the drivers count against."""
        if self.trials is not None:
            return self.trials
        return TIME_BOUND_TRIALS if self.time_decides else DEFAULT_TRIALS


class ObjectiveConfig(_Section):
    metric: str | None = Field(None, description=(
        "The metric the trials are selected on, as the model reports it on validation. Default: val_log_loss "
        "for classes, val_rmse for regression."))
    direction: Direction | None = Field(None, description=(
        "Default: the metric's own (accuracy and AUC are maximized, the rest minimized)."))


class ObjectivesItem(_Section):
    """One of ``objectives``: any metric the trials record (n_params, latency_ms, val_accuracy, ...)."""

    metric: str = Field(description=(
        "The first: a metric the model reports (trained and stopped early on); the others: any metric the "
        "trials record (n_params, model_bytes, latency_ms, val_accuracy, ...)."))
    direction: Direction | None = Field(None, description=(
        "Default: the metric's own (accuracy and AUC are maximized, the rest minimized)."))


class PickConfig(_Section):
    """``export.pick``: which model of a Pareto front ships (several objectives only)."""

    rule: Pick = Field(Pick.SMALLEST_WITHIN, description=(
        "smallest_within: of the front's trials within tolerance of the best first objective, the best on the "
        "second (then the third); best_first: the best first objective; trial: the trial numbered trial."))
    tolerance: float = Field(0.01, ge=0, description=(  # of the best first objective, relative
        "smallest_within: how far from the best first objective, relative to it."))
    trial: int | None = Field(None, ge=0, description="rule trial: the number of the trial that ships.")

    @model_validator(mode="after")
    def _trial_named(self) -> PickConfig:
        if (self.rule is Pick.TRIAL) != (self.trial is not None):
            raise ValueError("rule: trial takes the trial's number (trial: N), and only it does")
        return self


class BoundConfig(_Section):
    """``constraints.<metric>``: the model must keep the metric at most ``max`` and/or at least ``min``."""

    min: float | None = Field(None, description="The least value the metric may take.")
    max: float | None = Field(None, description="The largest value the metric may take.")

    @model_validator(mode="after")
    def _a_bound(self) -> BoundConfig:
        if self.min is None and self.max is None:
            raise ValueError("give max, min or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self


class TrackingConfig(_Section):
    uri: str | None = Field(None, description=(
        "MLflow tracking URI (http://host:5000, sqlite:///path). Order: --tracking-uri, then "
        "MLFLOW_TRACKING_URI, then this, then SQLite under ./mlruns."))


def tensorflow_installed() -> bool:
    """Whether TensorFlow can be imported here (it is not imported)."""
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except ImportError:  # an import hook refuses it
        return False
    except ValueError:  # in sys.modules without a spec
        return sys.modules.get("tensorflow") is not None


class ExportConfig(_Section):
    keep_best: int = Field(3, ge=1, description=(
        "How many of the best trials' models stay on disk (at least the ensemble's size)."))
    formats: list[ExportFormat] = Field(list(ExportFormat), description=(
        "What is written: keras (always: kerashpo predict and the MLflow model read it), saved_model (a "
        "TensorFlow SavedModel with a serve signature), mlflow (an MLflow model on the search run)."))
    register_model: bool = Field(True, description=(  # with the mlflow format only
        "Register the MLflow model under the pipeline's name; the alias champion moves to it unless the "
        "current champion is better on validation. Needs mlflow in formats."))
    dir: str | None = Field(None, description="The export folder. Default: mlruns/exports/<name>.")
    # Retrain the best configuration on train + validation for its best epoch count before the test.
    refit: bool = Field(False, description=(
        "Retrain the best configuration on train + validation for its best epoch count before the test "
        "(implied by split.folds)."))
    # Ship a weighted average of up to this many of the best trials, chosen on validation (0: the champion alone;
    # unset: DEFAULT_ENSEMBLE where the run keeps its trials' models, see PipelineConfig.ensemble_size).
    ensemble: int | None = Field(None, ge=0, description=(
        f"Ship the equal-weight average of up to this many of the best trials, those the validation rows "
        f"cannot tell from the best (0: the best alone). Default: {DEFAULT_ENSEMBLE} where the trials' own "
        f"models ship (mlp and cnn spaces), 0 otherwise."))
    pick: PickConfig = Field(PickConfig(), description=(
        "Which model of the Pareto front ships (several objectives only)."))

    @field_validator("formats")
    @classmethod
    def _keras_always(cls, value: list[ExportFormat]) -> list[ExportFormat]:
        if ExportFormat.KERAS not in value:
            raise ValueError("'keras' is always written (kerashpo predict and the MLflow model read it): "
                             "list it too")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _registry_needs_mlflow(self) -> ExportConfig:
        if self.register_model and "register_model" in self.model_fields_set and not self.logs_mlflow_model:
            raise ValueError("register_model: true needs 'mlflow' in export.formats; add it or set "
                             "register_model: false")
        return self

    @model_validator(mode="after")
    def _ensemble_of_trials(self) -> ExportConfig:
        if self.ensemble == 1:
            raise ValueError("ensemble: 1 model is the champion alone; give 0 (off) or at least 2")
        if self.ensemble and self.refit:
            raise ValueError("ensemble averages the trials' own models; it cannot be combined with refit: true")
        return self

    @property
    def logs_mlflow_model(self) -> bool:
        return ExportFormat.MLFLOW in self.formats

    @property
    def writes_saved_model(self) -> bool:
        # Unlisted, the SavedModel is written where TensorFlow is installed; listed, it needs it (preflight).
        return ExportFormat.SAVED_MODEL in self.formats and ("formats" in self.model_fields_set
                                                             or tensorflow_installed())

    @property
    def registers(self) -> bool:
        return self.register_model and self.logs_mlflow_model


class AblationConfig(_Section):
    """``kerashpo ablate``: variants of one's own beside the built-in ones, and how many seeds each trains."""

    # name -> the parameters it sets on the champion, e.g. {strong_l2: {l2_enabled: true, l2: 0.01}}; checked
    # against the space before anything trains.
    variants: dict[str, dict[str, Any]] = Field({}, description=(
        "Variants of your own beside the built-in ones: a name and the parameters it sets on the champion, "
        "e.g. {strong_l2: {l2_enabled: true, l2: 0.01}}."))
    seeds: int = Field(3, ge=1, description=(
        "Seeds each variant trains with (initialisation and data order change, the splits do not)."))

    @field_validator("variants")
    @classmethod
    def _named_and_setting_something(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, params in value.items():
            if name in AblationVariant.values():
                raise ValueError(f"{name!r} is a built-in variant; give yours another name")
            if not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"{name!r}: a variant's name takes letters, digits, '_' and '-'")
            if not params:
                raise ValueError(f"{name!r} sets no parameter; give it at least one (param: value)")
        return value


class PipelineConfig(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description=(
        "The name of the MLflow experiment, the study and the registered model."))
    dataset: DatasetConfig = Field(description="The data: a built-in set (name) or a file or folder (path).")
    task: str = Field("auto", description=(  # auto, or a Task word
        "One of " + ", ".join(TASK_SETTINGS) + ". auto infers it from the target (text, or few integer "
        "values, are classes); the loss, metrics and default objective follow it."))
    split: SplitConfig = Field(SplitConfig(), description="How the rows are split (seeded).")
    space: str = Field("mlp", description=(
        "A preset (mlp, tabular, cnn, transfer) or a space file, looked up beside the config."))
    defaults: PublishedDefaults | None = Field(None, description=(
        "A published tabular network trained as it is, with no search (space tabular): realmlp (RealMLP-TD), "
        "mlp_plr (MLP-PLR) or tabm (TabM). One trial, evaluated, shipped and reported as a search's champion."))
    # A Keras Tuner style build function ("module:function"), instead of a declared space.
    build_model: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description=(
        "module:function, a Keras Tuner style build_model(hp) or HyperModel to search instead of space (the "
        "module beside the config or on PYTHONPATH)."))
    driver: Driver = Field(Driver.OPTUNA, description="What chooses the trials' values: Optuna or Keras Tuner.")
    optuna: OptunaConfig = Field(OptunaConfig(), description="Sampler and pruner (driver optuna).")
    keras_tuner: KerasTunerConfig = Field(KerasTunerConfig(), description="The tuner (driver keras_tuner).")
    budget: BudgetConfig = Field(BudgetConfig(), description="How many trials, how long each trains.")
    objective: ObjectiveConfig = Field(ObjectiveConfig(), description="The metric the trials are selected on.")
    # Two or three objectives, the first one trained on (early stopping) and refit for; a Pareto front results.
    objectives: list[ObjectivesItem] = Field([], description=(
        "Two or three objectives instead of one: the first is trained on (early stopping) and refit for; the "
        "search finds a Pareto front."))
    # Bounds every chosen model must meet: n_params, model_bytes, latency_ms, or a metric the trials report.
    constraints: dict[str, BoundConfig] = Field({}, description=(
        "Bounds every chosen model must meet, by metric: n_params, model_bytes, latency_ms, or a metric the "
        "trials report."))
    seed: int = Field(42, description=(
        "Seeds the split, the baseline and the trials (each trial's initialisation and data order)."))
    tracking: TrackingConfig = Field(TrackingConfig(), description="Where MLflow records the runs.")
    storage: str | None = Field(None, description=(
        "The Optuna storage: a database URL (postgresql://..., sqlite:///...) or a journal file. Default: "
        "./mlruns/optuna.journal."))
    export: ExportConfig = Field(ExportConfig(), description="What ships, in which formats, and where.")
    # Worker processes on one study (Optuna); with GPUs, one GPU each.
    workers: int = Field(1, ge=1, description=(
        "Worker processes on one study (driver optuna); with GPUs, one GPU each."))
    mixed_precision: bool = Field(False, description=(
        "Train in mixed_float16 (for GPUs); the output layer stays float32."))
    # The Keras backend the trials train on (pipelines/runtime/backend.py); the exported files load on either.
    backend: Backend = Field(Backend.TENSORFLOW, description=(
        "The Keras backend the trials train on; the exported files load on either."))
    # Also fit scikit-learn's linear model on the same splits, as the reference the search must beat.
    baseline: bool | list[Reference] = Field(True, description=(
        "Also fit scikit-learn's reference models on the same splits, the answers the search must beat: true for "
        "the linear model (LogisticRegression or RidgeCV) and, on tables, gradient boosting "
        "(HistGradientBoosting); false for none; or a list of linear, gradient_boosting."))

    @field_validator("baseline", mode="before")
    @classmethod
    def _baseline_words(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if not isinstance(value, list):
            raise ValueError(f"give true, false or a list of {', '.join(Reference.values())} (got {value!r})")
        unknown = [item for item in value if item not in Reference.values()]
        if unknown:
            raise ValueError(f"unknown reference {unknown[0]!r}; expected {' or '.join(Reference.values())}")
        return value
    # Draw the search's figures and report.html at the end; tests that never read them turn it off for the time.
    report: bool = Field(True, description="Draw the search's figures and report.html at the end.")
    ablation: AblationConfig = Field(AblationConfig(), description="kerashpo ablate: your variants, seeds.")

    # Where the config came from (space files are looked up beside it): set by the loader, never a key.
    _source: Path | None = PrivateAttr(None)

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def named_task(self) -> Task | None:
        """The task the config names; None for auto (the target decides)."""
        return None if self.task == "auto" else Task(self.task)

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str) -> str:
        if value not in TASK_SETTINGS:
            raise ValueError(f"unknown task {value!r}; choose from {', '.join(TASK_SETTINGS)}")
        return value

    @model_validator(mode="after")
    def _published_defaults(self) -> PipelineConfig:
        if self.defaults is None:
            return self
        if self.space != "tabular" or self.build_model:
            raise ValueError(f"defaults: {self.defaults} is a configuration of space tabular; set space: tabular "
                             "(or remove defaults)")
        if (self.budget.trials or 1) > 1:
            raise ValueError(f"defaults: {self.defaults} trains one fixed configuration; set budget.trials to 1 "
                             "or remove it (or remove defaults to search)")
        self.budget.trials = 1
        return self

    @model_validator(mode="after")
    def _workers_need_optuna(self) -> PipelineConfig:
        if self.workers > 1 and self.driver is Driver.KERAS_TUNER:
            raise ValueError("workers > 1 needs driver optuna: Keras Tuner's oracle keeps its state in one "
                             "process (see the README on Keras Tuner's own distributed mode)")
        return self

    @model_validator(mode="after")
    def _several_objectives(self) -> PipelineConfig:
        if not self.objectives:
            if "pruning" in self.optuna.model_fields_set:
                raise ValueError("optuna.pruning says how a search with several objectives prunes; with one, "
                                 "optuna.pruner decides: remove optuna.pruning")
            if "pick" in self.export.model_fields_set:
                raise ValueError("export.pick chooses from the Pareto front of several objectives; set objectives "
                                 "or remove export.pick")
            return self
        if not 2 <= len(self.objectives) <= 3:
            raise ValueError(f"objectives: give two or three (got {len(self.objectives)}); one goes in objective")
        if self.objective.metric or self.objective.direction:
            raise ValueError("give objective (one) or objectives (several), not both")
        if self.driver is Driver.KERAS_TUNER:
            raise ValueError("objectives: Keras Tuner combines several objectives into one number; use driver "
                             "optuna for a Pareto front, or keep one objective and bound the others with "
                             "constraints")
        if self.export.ensemble:
            raise ValueError("export.ensemble averages the best trials by one objective; with objectives the "
                             "model shipped is picked from the front (export.pick)")
        metrics = [item.metric for item in self.objectives]
        if len(set(metrics)) < len(metrics):
            raise ValueError(f"objectives: {', '.join(metrics)} names a metric twice")
        return self

    def ensemble_size(self, preset: Preset | None) -> int:
        """How many of the best trials the shipped model may average (0 or 1: the champion alone).

        Unset, it is DEFAULT_ENSEMBLE where the trials' own models are what ships and their outputs are known
        to be probabilities or values (a declared space whose preset ensembles by default); 0 with refit, folds,
        several objectives, constraints, a user's ``build_model`` or the transfer preset.
        """
        if self.export.ensemble is not None:
            return self.export.ensemble
        keeps_trial_models = not (self.export.refit or self.split.cross_validates or self.objectives
                                  or self.constraints)
        return DEFAULT_ENSEMBLE if keeps_trial_models and preset is not None and preset.ensembles_by_default else 0

    @model_validator(mode="after")
    def _ensemble_within_constraints(self) -> PipelineConfig:
        if self.export.ensemble and self.export.ensemble > 1 and self.constraints:
            raise ValueError("export.ensemble: constraints bound each trial's model, and an average of several "
                             "is larger and slower than each; remove one of them")
        return self

    @model_validator(mode="after")
    def _folds_refit(self) -> PipelineConfig:
        # Each trial trains one model per fold: the champion shipped is the one refit on every non-test row.
        if not self.split.cross_validates:
            return self
        if self.export.ensemble:
            raise ValueError("export.ensemble averages the trials' own models, and with split.folds a trial "
                             "keeps none (the champion is refit on every non-test row); remove one of them")
        if "refit" in self.export.model_fields_set and not self.export.refit:
            raise ValueError("with split.folds the champion is always refit on every non-test row; remove "
                             "export.refit: false")
        self.export.refit = True
        return self

    @model_validator(mode="after")
    def _hyperband_epochs(self) -> PipelineConfig:
        tuner = self.keras_tuner
        if self.driver is Driver.KERAS_TUNER and tuner.tuner is Tuner.HYPERBAND and tuner.max_epochs is None:
            if "max_epochs" not in self.budget.model_fields_set:
                raise ValueError("keras_tuner.tuner hyperband needs max_epochs: set keras_tuner.max_epochs "
                                 "or budget.max_epochs")
            self.keras_tuner.max_epochs = self.budget.max_epochs
        return self

    def fingerprint(self) -> str:
        text = yaml.safe_dump(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_yaml(self) -> str:
        """The config as logged with the search, runnable as it is: every value that differs from its default
        (a default spelled out can be refused where it means nothing, as ``split.repeats`` without folds), with
        passwords in URLs redacted."""
        from kerashpo.search.redaction import redact_url

        document = self.model_dump(mode="json", exclude_defaults=True)
        if document.get("storage"):
            document["storage"] = redact_url(document["storage"])
        if document.get("tracking", {}).get("uri"):
            document["tracking"]["uri"] = redact_url(document["tracking"]["uri"])
        return yaml.safe_dump(document, sort_keys=False)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """Read and validate a pipeline YAML file.

    ``overrides`` maps dotted keys (``budget.trials``) to values from the
    command line; they are validated like the file's own values.
    """
    path = bundled_config(Path(path))
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory; give a .yaml config file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where} ({getattr(exc, 'problem', None) or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file; give a .yaml config file") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: a pipeline config is a YAML mapping (name, dataset, ...), got "
                          f"{type(document).__name__}")
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = document
        *parents, leaf = dotted.split(".")
        for key in parents:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[leaf] = value
    return parse_config(document, source=path)


def bundled_config(path: Path) -> Path:
    """``path``, or the example config installed with kerashpo when ``path`` (``pipelines/digits.yaml``,
    ``digits.yaml``) does not exist here: the README's commands then work from any directory."""
    if path.exists() or path.is_absolute() or len(path.parts) > 2 or path.parts[:-1] not in ((), ("pipelines",)):
        return path
    installed = Path(__file__).parent / "examples" / path.name
    return installed if installed.suffix in (".yaml", ".yml") and installed.is_file() else path


def parse_config(document: dict[str, Any], source: Path | None = None) -> PipelineConfig:
    where = f"{source}: " if source else ""
    try:
        config = PipelineConfig.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(where + _first_problem(exc)) from None
    config._source = source
    return config


def _first_problem(exc: ValidationError) -> str:
    errors = exc.errors()
    # A misspelled key is why a required one is missing: name the cause, and the key it likely meant.
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        # A required key the document lacks is the likeliest meaning, then any key the section takes.
        missing = [str(e["loc"][-1]) for e in errors if e["type"] == "missing" and e["loc"][:-1] == error["loc"][:-1]]
        written = str(error["loc"][-1])
        meant = (difflib.get_close_matches(written, missing, n=1, cutoff=0.5)
                 or difflib.get_close_matches(written, _keys_at(error["loc"][:-1]), n=1, cutoff=0.6))
        hint = f"did you mean '{meant[0]}'?" if meant else "remove it or check its spelling"
        return f"unknown key '{loc}'; {hint}"
    if kind == "missing":
        return f"missing required field '{loc}'"
    message = error["msg"].removeprefix("Value error, ")
    if kind in ("literal_error", "enum"):
        message = f"unknown value {error['input']!r}; expected {message.removeprefix('Input should be ')}"
    elif "input" in error and kind not in ("value_error",):
        message = f"{message} (got {error['input']!r})"
    return f"{loc}: {message}" if loc else message


def _keys_at(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the config section at ``loc`` takes (``("budget",)`` -> ``trials``, ``max_epochs``, ...)."""
    section: type[BaseModel] | None = PipelineConfig
    for part in loc:
        if section is None:
            return []
        if isinstance(part, int) or part not in section.model_fields:
            continue  # a list index or a dict key: the section is the one the field's items hold
        section = _section_in(section.model_fields[part].annotation)
    return list(section.model_fields) if section is not None else []


def _section_in(annotation: Any) -> type[BaseModel] | None:
    """The config section a field holds, also inside ``X | None``, ``list[X]`` or ``dict[str, X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((found for arg in get_args(annotation) if (found := _section_in(arg)) is not None), None)
