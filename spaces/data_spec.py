"""What a builder needs to know about the data, and nothing about where it came from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from spaces.errors import SpaceError

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[str, ...] = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class DataSpec:
    """Input shape, task and the preprocessing statistics fitted on the training split.

    The statistics travel into the model as layers, so an exported model takes
    raw inputs.
    """

    input_shape: tuple[int, ...]
    task: Task
    n_classes: int | None = None
    feature_mean: np.ndarray | None = None
    feature_variance: np.ndarray | None = None
    target_mean: float = 0.0
    target_std: float = 1.0

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise SpaceError(f"task {self.task!r} is not one of {', '.join(TASKS)}")
        if self.task == "multiclass" and (self.n_classes or 0) < 2:
            raise SpaceError("a multiclass task needs n_classes >= 2")

    @property
    def output_units(self) -> int:
        return int(self.n_classes) if self.task == "multiclass" else 1
