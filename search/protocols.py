"""The seams between layers, as small protocols: what a model source, a tracker and a driver must offer.

``pipelines`` hands ``search`` objects of these shapes; anything with the same
methods can be swapped in from Python (your own tracker, a driver for another
engine). Concrete classes need not inherit from them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kerashpo.spaces import DataSpec, FitOptions, Preset, Space
from kerashpo.spaces.choices import Direction

if TYPE_CHECKING:
    import keras
    from keras_tuner import HyperParameters

    from kerashpo.search.executor import FinishedTrial, SearchJob, SearchOutcome, TrialEvent
    from kerashpo.search.results import TrialResult
    from kerashpo.search.training.hyperparameters import RecordingHyperParameters
    from kerashpo.search.training.trial_data import TrialData


class Sampling(Protocol):
    """One trial as an engine sees it: it samples a declared space and offers a Keras Tuner style ``hp``."""

    def sample_space(self, space: Space) -> dict[str, Any]: ...

    @property
    def hp(self) -> HyperParameters | RecordingHyperParameters: ...


@runtime_checkable
class ModelSource(Protocol):
    """What a trial trains: builds a compiled model from one sampling, and fits it.

    Runtime-checkable, so ``as_source`` passes any object with these members on as it is.
    """

    name: str

    @property
    def space(self) -> Space | None: ...  # a declared space, or None for a user's build_model(hp)

    @property
    def preset(self) -> Preset | None: ...  # the preset behind a declared space, or None

    @property
    def trains_itself(self) -> bool: ...  # its own fit decides how the model trains and which metrics it reports

    @property
    def first_trials(self) -> list[dict[str, Any]]: ...  # configurations to try before sampling

    def check(self) -> None: ...

    def build(self, sampling: Sampling, spec: DataSpec) -> tuple[dict[str, Any], keras.Model]: ...

    def fit_options(self, params: dict[str, Any], max_epochs: int, monitor: str,
                    direction: Direction) -> FitOptions: ...

    # ``kwargs`` go on to ``keras.Model.fit``; a user's own fit may return a History, a number or a dict.
    def fit(self, sampling: Sampling, model: keras.Model, data: TrialData, *, batch_size: int, seed: int,
            validate: bool = True, augmentation: keras.Layer | None = None, **kwargs: Any) -> object: ...


class Tracker(Protocol):
    """Where a search and its trials are recorded; a failure here never stops a trial."""

    parent_run_id: str | None

    def start_trial(self, number: int, params: dict[str, Any], tags: dict[str, str] | None = None) -> None: ...

    def end_trial(self, number: int, result: TrialResult) -> None: ...

    def fail_trials(self, numbers: list[int], reason: str) -> None: ...

    def close_finished(self, trials: list[FinishedTrial]) -> None: ...


class SearchDriver(Protocol):
    """A search engine: one uniform interface, so switching engines is one word in the config."""

    name: str

    def describe(self) -> dict[str, str]: ...

    def study_name(self, pipeline: str) -> str: ...

    def check(self, job: SearchJob) -> None: ...

    def optimize(self, job: SearchJob, tracker: Tracker,
                 on_trial_end: Callable[[TrialEvent], None] | None = None) -> SearchOutcome: ...
