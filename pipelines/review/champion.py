"""The champion of a finished search, read back from MLflow with its values typed as the space declares them."""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any

from kerashpo.search.leaderboard import find_search_run, search_run
from kerashpo.search.tracking import ROLE_TAG, SPLIT_TAG, STATE_TAG, STUDY_TAG, TRIAL_TAG, child_runs
from kerashpo.spaces import Bool, Categorical, Fixed, Float, Int, Param, Space, UserError
from kerashpo.spaces.choices import Direction, TrialState


@dataclass(frozen=True)
class SearchChampion:
    """The best complete trial of one search: its configuration and where it came from."""

    run_id: str  # the search's parent run
    study: str
    trial: int
    params: dict[str, Any]
    objective: str
    value: float | None
    split_fingerprint: str | None


def find_champion(tracking_uri: str, experiment: str, space: Space | None, run_id: str | None = None
                  ) -> SearchChampion:
    """The champion of search ``run_id`` (a parent run id), or of the latest search of ``experiment``."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    parent = _search_run(client, run_id) if run_id else find_search_run(client, experiment)
    tags = parent.data.tags
    objective = tags.get("objective", "")
    children = child_runs(client, parent, f"tags.`{ROLE_TAG}` = 'trial'")
    direction = Direction(tags.get("direction", Direction.MINIMIZE))
    best = _best_trial(children, tags.get("best_trial"), objective, direction)
    if best is None:
        raise UserError(f"search {parent.info.run_id} has no complete trial to ablate; let it finish a trial first")
    params = {name: typed_value(space[name] if space is not None and name in space else None, text)
              for name, text in best.data.params.items()}
    value = best.data.metrics.get(f"best_{objective}")
    return SearchChampion(parent.info.run_id, tags.get(STUDY_TAG, "-"), int(best.data.tags[TRIAL_TAG]), params,
                          objective, value, tags.get(SPLIT_TAG))


def _search_run(client: Any, run_id: str) -> Any:
    try:
        return search_run(client, run_id)
    except UserError as exc:
        raise UserError(f"--from: {exc}") from None


def _best_trial(children: list[Any], tagged: str | None, objective: str, direction: Direction) -> Any:
    """The trial the search named its champion (``best_trial``), else its best complete trial."""
    complete = [run for run in children if run.data.tags.get(STATE_TAG) == TrialState.COMPLETE
                and TRIAL_TAG in run.data.tags]
    for run in complete:
        if tagged is not None and run.data.tags[TRIAL_TAG] == tagged:
            return run
    best = None
    for run in sorted(complete, key=lambda r: int(r.data.tags[TRIAL_TAG])):
        value = run.data.metrics.get(f"best_{objective}")
        if value is not None and math.isfinite(value) and (
                best is None or direction.better(value, best.data.metrics[f"best_{objective}"])):
            best = run
    return best


def typed_value(param: Param | None, text: str) -> Any:
    """A parameter's value from MLflow's text, typed as its declaration says (a literal when undeclared)."""
    if isinstance(param, Bool):
        return text == "True"
    if isinstance(param, Int):
        return int(float(text))
    if isinstance(param, Float):
        return float(text)
    if isinstance(param, (Categorical, Fixed)):
        options = param.choices if isinstance(param, Categorical) else (param.value,)
        for option in options:  # the tracker writes floats with repr, the rest with str
            if text in (str(option), repr(option)):
                return option
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def fixed_values(space: Space | None) -> dict[str, Any] | None:
    """The configuration a space of fixed values alone describes, or None when it samples anything."""
    if space is None:
        return None
    values: dict[str, Any] = {}
    for param in space:
        if not param.is_active(values):
            continue
        if not isinstance(param, Fixed):
            return None
        values[param.name] = param.value
    return values
