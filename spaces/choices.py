"""The choices users name, defined once: config validation, both drivers, the leaderboard and export read them here.

Each is a ``str`` enum, so a member compares equal to the word a user writes
(``Sampler.TPE == "tpe"``) and prints as that word. They live in ``spaces`` (the
bottom layer) so every layer can use them; naming an Optuna sampler here imports
nothing from Optuna.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from kerashpo.spaces.errors import UserError


class Choice(str, Enum):
    """A word from a fixed list; ``str()`` and f-strings give the word itself."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        return tuple(str(member.value) for member in cls)


class Direction(Choice):
    """Which way an objective improves."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is strictly better than ``b``."""
        return a > b if self is Direction.MAXIMIZE else a < b

    def best_first(self, value: float) -> float:
        """A sort key that puts the best value first."""
        return -value if self is Direction.MAXIMIZE else value

    @property
    def keras_mode(self) -> str:
        """The ``mode`` Keras callbacks and Keras Tuner's ``Objective`` take."""
        return "max" if self is Direction.MAXIMIZE else "min"


class TrialState(Choice):
    """Where a trial stands: its MLflow run's ``state`` tag, the leaderboard's ``state`` column, the progress line.

    The stored word is the member's value; read back from a tag, ``TrialState(tag)`` gives the member.
    """

    RUNNING = "RUNNING"  # training; a run that a crash left open keeps it
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"  # stopped by the pruner, or refused before training by a constraint
    FAILED = "FAILED"
    BASELINE = "BASELINE"  # the reference model's run beside the trials, not a trial

    @classmethod
    def finished(cls) -> tuple[TrialState, ...]:
        """The states a trial that counts against the budget ends in."""
        return cls.COMPLETE, cls.PRUNED, cls.FAILED


class Task(Choice):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"


class Reference(Choice):
    """A scikit-learn model fitted beside every search on the same splits, the answer the search must beat."""

    LINEAR = "linear"  # every run
    GRADIENT_BOOSTING = "gradient_boosting"  # runs on tables


class Driver(Choice):
    OPTUNA = "optuna"
    KERAS_TUNER = "keras_tuner"


class Backend(Choice):
    """The Keras backend the trials train on (``backend``). The exported ``.keras`` file loads on each."""

    TENSORFLOW = "tensorflow"
    JAX = "jax"
    TORCH = "torch"


class Sampler(Choice):
    """Optuna samplers (``optuna.sampler``)."""

    TPE = "tpe"
    RANDOM = "random"
    CMAES = "cmaes"
    GP = "gp"
    GRID = "grid"
    NSGA2 = "nsga2"  # several objectives (objectives:)


class Pruner(Choice):
    """Optuna pruners (``optuna.pruner``)."""

    HYPERBAND = "hyperband"
    SUCCESSIVE_HALVING = "successive_halving"
    MEDIAN = "median"
    NONE = "none"


class ObjectivesPruning(Choice):
    """``optuna.pruning``: what the pruner does in a search with several objectives (Optuna prunes only one)."""

    OFF = "off"  # every trial trains to its early stop
    PRIMARY = "primary"  # the pruner judges the first objective alone


class Tuner(Choice):
    """Keras Tuner tuners (``keras_tuner.tuner``)."""

    RANDOM = "random"
    BAYESIAN = "bayesian"
    HYPERBAND = "hyperband"
    GRID = "grid"


class Pick(Choice):
    """How ``export.pick`` chooses one model from the Pareto front of a search with several objectives."""

    SMALLEST_WITHIN = "smallest_within"  # within a tolerance of the best first objective, best on the others
    BEST_FIRST = "best_first"  # the best first objective
    TRIAL = "trial"  # a trial named by number


class ExportFormat(Choice):
    """What a run ships (``export.formats``). The ``.keras`` file is always written: ``kerashpo predict``
    reads it and the MLflow model carries it."""

    KERAS = "keras"
    SAVED_MODEL = "saved_model"  # TensorFlow SavedModel with a `serve` signature, for TF Serving
    MLFLOW = "mlflow"  # the MLflow model logged on the search run (and registered, with export.register_model)


class TableFormat(Choice):
    """How ``kerashpo leaderboard``, ``compare`` and ``ablate`` print a table (``--format``)."""

    TABLE = "table"
    CSV = "csv"
    MARKDOWN = "markdown"


class AblationVariant(Choice):
    """The built-in variants of ``kerashpo ablate`` (``--variants``); a config's ``ablation.variants`` adds more."""

    CHAMPION = "champion"  # the champion as found: the row every other is compared with
    NONE = "none"  # every regularizer off
    L1 = "l1"
    L2 = "l2"
    ELASTIC_NET = "elastic_net"
    DROPOUT = "dropout"
    BATCH_NORM = "batch_norm"
    EARLY_STOPPING = "early_stopping"  # switched off: the whole epoch budget, the last epoch's weights
    AUGMENTATION = "augmentation"  # switched off (image data trained with augmentation)


class InputScaling(Choice):
    """How the ``tabular`` preset scales numeric columns before the network (``scaling``)."""

    STANDARD = "standard"  # mean 0, variance 1
    ROBUST = "robust"  # median 0, interquartile range 1, then smoothly clipped to about +-3 (RealMLP)
    QUANTILE = "quantile"  # mapped through the training quantiles to normal scores (TabM, MLP-PLR)


class NumericEmbedding(Choice):
    """What the ``tabular`` preset turns each numeric column into (``numeric_embedding``)."""

    NONE = "none"  # the scaled value itself
    PERIODIC = "periodic"  # PLR: sines and cosines of learned frequencies, a linear map, ReLU
    PERIODIC_BIAS = "periodic_bias"  # PBLD (RealMLP): cosines with learned phases, a linear map, the value beside
    PIECEWISE_LINEAR = "piecewise_linear"  # PLE: the value's position in each training-quantile bin, a linear map


class TabularSchedule(Choice):
    """The ``tabular`` preset's learning-rate schedules (``lr_schedule``), over the epoch budget."""

    CONSTANT = "constant"
    COSINE = "cosine"
    WARMUP_COSINE = "warmup_cosine"  # a linear warm-up over the first tenth, then cosine decay
    FLAT_COSINE = "flat_cosine"  # flat for the first half, then cosine decay
    COSLOG4 = "coslog4"  # RealMLP's four cosine cycles on a log time scale, from and back to zero


class DropoutSchedule(Choice):
    """How the ``tabular`` preset's dropout rate moves over the epoch budget (``dropout_schedule``)."""

    CONSTANT = "constant"
    FLAT_COSINE = "flat_cosine"  # flat for the first half, then down to zero (RealMLP)


class PublishedDefaults(Choice):
    """Published tabular networks written as points of the ``tabular`` space (``defaults``), cheapest first."""

    REALMLP = "realmlp"  # RealMLP-TD, Holzmueller et al., NeurIPS 2024
    MLP_PLR = "mlp_plr"  # MLP with periodic embeddings, Gorishniy et al., NeurIPS 2022
    TABM = "tabm"  # TabM, Gorishniy et al., ICLR 2025


ChoiceT = TypeVar("ChoiceT", bound=Choice)


def chosen(kind: type[ChoiceT], word: str, field: str) -> ChoiceT:
    """``word`` as a member of ``kind``, or one line naming the field and the words it takes."""
    try:
        return kind(word)
    except ValueError:
        raise UserError(f"unknown {field} {word!r}; choose from {', '.join(kind.values())}") from None
