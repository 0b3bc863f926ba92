"""What a builder needs to know about the data, and nothing about where it came from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kerashpo.spaces.choices import Task
from kerashpo.spaces.errors import SpaceError

TASKS: tuple[str, ...] = Task.values()
# The training quantiles a numeric input carries: at 0, 1/32, ..., 1 of the values present.
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 33)


@dataclass(frozen=True)
class NumericInput:
    """One float input of ``width`` columns; NaN is filled with the training mean, then standardised.

    ``quantiles`` (``QUANTILE_LEVELS`` x ``width``) are what robust and quantile scaling and piecewise-linear
    embeddings read; without them (a spec made by hand) they follow from the mean and variance as if normal.
    """

    name: str
    mean: np.ndarray
    variance: np.ndarray
    quantiles: np.ndarray | None = None

    @property
    def width(self) -> int:
        return int(np.size(self.mean))

    def quantile_table(self) -> np.ndarray:
        """The training quantiles, ``QUANTILE_LEVELS`` rows by ``width`` columns, in float32."""
        if self.quantiles is not None:
            return np.asarray(self.quantiles, dtype="float32").reshape(len(QUANTILE_LEVELS), self.width)
        from statistics import NormalDist

        levels = np.clip(QUANTILE_LEVELS, 0.001, 0.999)
        scores = np.array([NormalDist().inv_cdf(float(level)) for level in levels])
        mean, std = np.ravel(self.mean), np.sqrt(np.ravel(self.variance))
        return (mean[None, :] + scores[:, None] * std[None, :]).astype("float32")


@dataclass(frozen=True)
class CategoricalInput:
    """One string column; values outside the training vocabulary share one out-of-vocabulary slot."""

    name: str
    vocabulary: tuple[str, ...]


@dataclass(frozen=True)
class ImageInput:
    """Raw images of ``shape`` (height, width, channels); ``scale`` is the value of full intensity."""

    name: str
    shape: tuple[int, int, int]
    scale: float = 255.0


Input = NumericInput | CategoricalInput | ImageInput


@dataclass(frozen=True)
class DataSpec:
    """The model's raw inputs, the task and the preprocessing statistics fitted on the training split.

    The statistics travel into the model as layers, so an exported model takes
    raw inputs: a single input takes an array, several (or a table's columns)
    take a dict keyed by input name.
    """

    inputs: tuple[Input, ...]
    task: Task
    n_classes: int | None = None
    target_mean: float = 0.0
    target_std: float = 1.0
    # Tables: the model takes a dict by input name even for one column, as the data is fed (no Keras warning
    # about a structure mismatch, and one serving shape for every table).
    named_inputs: bool = False

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise SpaceError(f"task {self.task!r} is not one of {', '.join(TASKS)}")
        object.__setattr__(self, "task", Task(self.task))  # a caller's word, carried as the enum
        if self.task is Task.MULTICLASS and (self.n_classes or 0) < 2:
            raise SpaceError("a multiclass task needs n_classes >= 2")
        if not self.inputs:
            raise SpaceError("a data spec needs at least one input")
        if self.image is not None and len(self.inputs) > 1:
            raise SpaceError("an image input cannot be combined with other inputs")

    @property
    def output_units(self) -> int:
        return int(self.n_classes or 1) if self.task is Task.MULTICLASS else 1

    @property
    def image(self) -> ImageInput | None:
        return next((i for i in self.inputs if isinstance(i, ImageInput)), None)

    @property
    def kind(self) -> str:
        """``image`` or ``tabular``: which presets can build for this data."""
        return "image" if self.image is not None else "tabular"
