"""A preset pairs a space with the builder that reads its values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from kerashpo.spaces.choices import Direction, Task
from kerashpo.spaces.data_spec import DataSpec
from kerashpo.spaces.errors import SpaceError
from kerashpo.spaces.space import Space


@dataclass
class FitOptions:
    """What ``fit`` needs from the sampled values beyond the model itself."""

    batch_size: int = 32
    callbacks: list[Any] = field(default_factory=list)
    # A layer applied (training=True) to training batches only, e.g. random image augmentation.
    augmentation: Any = None
    # A second phase of training (transfer learning's fine-tuning), if any.
    fine_tune: FineTune | None = None


@dataclass
class FineTune:
    """After ``start_epoch`` epochs, ``prepare(model)`` (unfreeze, recompile) and train on to the epoch budget.

    The epochs count on across both phases, for early stopping and pruning alike; a first phase that was
    stopped (pruned, early-stopped, interrupted) has no second."""

    start_epoch: int
    prepare: Callable[[Any], None]


BuildFn = Callable[[dict[str, Any], DataSpec], Any]
FitOptionsFn = Callable[[dict[str, Any], int, str, Direction], FitOptions]


def default_fit_options(params: dict[str, Any], max_epochs: int, monitor: str, direction: Direction) -> FitOptions:
    return FitOptions(batch_size=int(params.get("batch_size", 32)))


@dataclass
class Preset:
    """``build(params, data_spec) -> compiled keras.Model`` over ``space``.

    ``fit_options(params, max_epochs, monitor, direction)`` turns the training
    parameters (batch size, learning-rate schedule) into ``fit`` arguments.
    ``data_kinds`` says which data the builder takes (``DataSpec.kind``).
    """

    name: str
    space: Space
    build: BuildFn
    fit_options: FitOptionsFn = default_fit_options
    data_kinds: tuple[str, ...] = ("tabular",)
    # The built-in presets' default ranges for a training set of so many rows and its task.
    space_for_rows: Callable[[int, Task | None], Space] | None = None
    # Configurations a search tries first (the simple models); each is cut to what the space admits.
    starting_points: tuple[dict[str, Any], ...] = ()
    # The built-in presets' starting points for a task, where they differ by task.
    starting_points_for: Callable[[Task | None], tuple[dict[str, Any], ...]] | None = None
    # What the space needs that only this machine can tell (files it names), checked before the first trial.
    check_space: Callable[[Space], None] | None = None
    # Whether a run ships an ensemble of its best trials unless the config says otherwise (export.ensemble).
    ensembles_by_default: bool = True

    def first_trials(self) -> list[dict[str, Any]]:
        """The starting points this preset's space admits, without duplicates."""
        points: list[dict[str, Any]] = []
        for values in self.starting_points:
            point = self.space.starting_point(values)
            if point and point not in points:
                points.append(point)
        return points

    def sized_for(self, rows: int, task: Task | None = None) -> Preset:
        """This preset with its default ranges sized for ``rows`` training rows of ``task``, and its starting
        points for ``task`` (itself where it has no such rules)."""
        sized = self if self.space_for_rows is None else replace(self, space=self.space_for_rows(rows, task))
        if self.starting_points_for is None:
            return sized
        return replace(sized, starting_points=self.starting_points_for(task))

    def check_data(self, spec: DataSpec) -> None:
        if spec.kind not in self.data_kinds:
            raise SpaceError(f"space {self.name!r} builds for {' or '.join(self.data_kinds)} data, and this "
                             f"dataset is {spec.kind}; choose a space for {spec.kind} data")
        if self.check_space is not None:
            self.check_space(self.space)
