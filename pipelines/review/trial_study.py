"""A search's trials as an in-memory Optuna study, whichever driver ran them.

MLflow keeps params as text and knows nothing of the space they were drawn from, so each parameter's
distribution is inferred from the values the trials logged: numbers give an int or float range (log scale when
they span two decades or more), anything else is categorical. Optuna's importance and plots then work the same
for an Optuna search and a Keras Tuner one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kerashpo.pipelines.review.record import SearchRecord, TrialRecord
from kerashpo.spaces.choices import TrialState

if TYPE_CHECKING:
    from optuna import Study

_LOG_SPAN = 100.0  # a positive range this wide (high / low) is read as log-scaled, like a learning rate
NUMBER_ATTR = "kerashpo_trial"  # the search's own trial number (an added trial is renumbered by the study)


def as_study(record: SearchRecord) -> Study:
    import optuna
    from optuna.study import StudyDirection
    from optuna.trial import create_trial

    states = {TrialState.COMPLETE: optuna.trial.TrialState.COMPLETE, TrialState.PRUNED: optuna.trial.TrialState.PRUNED,
              TrialState.FAILED: optuna.trial.TrialState.FAIL}
    kept = [t for t in record.trials if t.state in states]
    distributions = infer_distributions(kept)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # "a new study created in memory" is no news here
    try:
        study = optuna.create_study(direction=StudyDirection[record.direction.name],
                                    study_name=record.tags.get("kerashpo.study"))
    finally:
        optuna.logging.set_verbosity(verbosity)
    study.add_trials([
        create_trial(state=states[t.state], value=t.value if t.state is not TrialState.FAILED else None,
                     params={k: _value(v, distributions[k]) for k, v in t.params.items()},
                     distributions={k: distributions[k] for k in t.params},
                     intermediate_values=t.curve, user_attrs={NUMBER_ATTR: t.number})
        for t in kept if t.state is not TrialState.COMPLETE or t.value is not None
    ])
    return study


def infer_distributions(trials: list[TrialRecord]) -> dict[str, Any]:
    """One distribution per parameter name, wide enough for every trial's value."""
    values: dict[str, list[str]] = {}
    for trial in trials:
        for name, text in trial.params.items():
            values.setdefault(name, []).append(text)
    return {name: _distribution(texts) for name, texts in values.items()}


def _distribution(texts: list[str]) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    numbers = [n for n in map(_number, texts) if n is not None]
    if len(numbers) < len(texts):
        return CategoricalDistribution(sorted(set(texts)))
    low, high = min(numbers), max(numbers)
    log = low > 0 and high / low >= _LOG_SPAN
    if all(isinstance(n, int) for n in numbers):
        return IntDistribution(int(low), int(high), log=log)
    return FloatDistribution(float(low), float(high), log=log)


def _number(text: str) -> int | float | None:
    """An int or a finite float written as text; None for anything else (booleans and names included)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _value(text: str, distribution: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return text
    return int(text) if isinstance(distribution, IntDistribution) else float(text)
