"""The leaderboard: a search's trials from MLflow, best first."""

from __future__ import annotations

import json
from typing import Any

from kerashpo.search.selection.constraints import SIZE_METRICS
from kerashpo.search.selection.pareto import pareto_front
from kerashpo.search.tracking import (
    INFEASIBLE_TAG,
    OBJECTIVES_TAG,
    ROLE_TAG,
    STARTED_TAG,
    STATE_TAG,
    TRIAL_TAG,
    child_runs,
)
from kerashpo.spaces import UserError
from kerashpo.spaces.choices import Direction, TableFormat, TrialState, chosen

_FIXED_COLUMNS = ("trial", "state", "objective", "best_epoch", "epochs_run", "seconds")


def find_search_run(client: Any, experiment: str | None = None) -> Any:
    """The search (parent) run that ran last in ``experiment``, or in the most recent experiment."""
    if experiment is not None:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            names = [e.name for e in client.search_experiments() if e.name != "Default"]
            raise UserError(f"no experiment named {experiment!r}; known: {', '.join(names) or 'none'}")
        experiments = [found]
    else:
        experiments = sorted(
            (e for e in client.search_experiments() if e.name != "Default"),
            key=lambda e: e.last_update_time or e.creation_time or 0, reverse=True,
        )
    for exp in experiments:
        runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`{ROLE_TAG}` = 'search'",
                                  order_by=[f"tags.`{STARTED_TAG}` DESC"], max_results=1)
        if runs:
            return runs[0]
    where = f"experiment {experiment!r}" if experiment else "this tracking store"
    raise UserError(f"no search has been run in {where}; start one with `kerashpo run CONFIG`")


def search_run(client: Any, run_id: str, roles: tuple[str, ...] = ("search",)) -> Any:
    """The parent run ``run_id`` of a search (or of another of ``roles``); a user error if there is none."""
    try:
        run = client.get_run(run_id)
    except Exception:
        raise UserError(f"no run {run_id!r} in this tracking store") from None
    if run.data.tags.get(ROLE_TAG) not in roles:
        raise UserError(f"run {run_id!r} is a {run.data.tags.get(ROLE_TAG, 'plain')} run; pass the parent run of a "
                        f"{' or '.join(roles)} (the run named after its study)")
    return run


def leaderboard(tracking_uri: str, experiment: str | None = None, top: int | None = None,
                run_id: str | None = None) -> Any:
    """A DataFrame of the trials of the latest search (or of the search run ``run_id``): trial, state, objective,
    epochs, seconds, the model's size and batch-1 latency, params.

    Complete trials first, then pruned, then failed; each group best objective first. The search's
    scikit-learn reference models, scored on the same validation split, are the last rows (state BASELINE,
    ``reference`` their estimator).
    """
    import pandas as pd
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    parent = search_run(client, run_id) if run_id else find_search_run(client, experiment)
    objective = parent.data.tags.get("objective", "objective")
    direction = Direction(parent.data.tags.get("direction", Direction.MAXIMIZE))
    runs = _runs_frame(child_runs(client, parent))
    board = pd.DataFrame({
        "trial": pd.to_numeric(runs.get(f"tags.{TRIAL_TAG}", pd.Series(dtype=str)), errors="coerce"),
        "state": runs.get(f"tags.{STATE_TAG}", pd.Series(dtype=str)),
        "objective": runs.get(f"metrics.best_{objective}", pd.Series(dtype=float)),
        "best_epoch": runs.get("metrics.best_epoch", pd.Series(dtype=float)),
        "epochs_run": runs.get("metrics.epochs_run", pd.Series(dtype=float)),
        "seconds": runs.get("metrics.train_seconds", pd.Series(dtype=float)),
        **{name: runs.get(f"metrics.{name}", pd.Series(dtype=float)) for name in SIZE_METRICS},
    })
    params = sorted(c for c in runs.columns if c.startswith("params."))
    for column in params:
        board[column.removeprefix("params.")] = _numeric_if_possible(runs[column])
    if (board["state"] == TrialState.BASELINE).any():  # which reference each baseline row is, last
        models = runs.get("tags.model", pd.Series([None] * len(runs), dtype=object))
        board["reference"] = models.where(board["state"] == TrialState.BASELINE, None)
    # Finished trials rank first: a pruned trial's value comes from fewer epochs, and the champion
    # (rank 1) must be the study's best complete trial.
    # The reference model comes last, marked BASELINE: rank 1 stays the champion.
    ranks = {TrialState.COMPLETE: 0, TrialState.PRUNED: 1, TrialState.BASELINE: 3}
    board["_rank"] = board["state"].map(ranks).fillna(2)
    infeasible = runs.get(f"tags.{INFEASIBLE_TAG}")
    if infeasible is not None and infeasible.notna().any():  # never above a trial that meets the constraints
        board.insert(2, "infeasible", infeasible.fillna(""))
        board.loc[board["infeasible"] != "", "_rank"] = 2
    if OBJECTIVES_TAG in parent.data.tags:
        _add_front(board, runs, json.loads(parent.data.tags[OBJECTIVES_TAG]))
    board = board.sort_values(["_rank", "objective", "trial"], ascending=[True, direction is Direction.MINIMIZE, True],
                              na_position="last")
    board = board.drop(columns="_rank").reset_index(drop=True)
    for column in ("trial", "best_epoch", "epochs_run", "n_params", "model_bytes"):
        board[column] = board[column].astype("Int64")
    board.attrs.update(objective=objective, direction=str(direction),
                       parent_run_id=parent.info.run_id, experiment_id=parent.info.experiment_id)
    return board.head(top) if top else board


def _runs_frame(runs: list[Any]) -> Any:
    """The runs as ``mlflow.search_runs`` frames them: a row per run, a column per metric, param and tag
    (``metrics.<name>``...), a missing metric NaN and a missing param or tag None."""
    import pandas as pd

    columns: dict[str, list[Any]] = {}
    for kind, missing in (("metrics", float("nan")), ("params", None), ("tags", None)):
        for name in sorted({name for run in runs for name in getattr(run.data, kind)}):
            columns[f"{kind}.{name}"] = [getattr(run.data, kind).get(name, missing) for run in runs]
    return pd.DataFrame(columns, index=pd.RangeIndex(len(runs)))


def _add_front(board: Any, runs: Any, objectives: list[dict[str, str]]) -> None:
    """With several objectives: each one's column after the first's, and ``pareto``, whether the trial is on the
    front of the complete trials that meet the constraints."""
    import pandas as pd

    after = board.columns.get_loc("objective") + 1
    for position, item in enumerate(objectives[1:], start=after):
        name = item["metric"]
        values = runs.get(f"metrics.best_{name}", pd.Series(dtype=float))
        if name in board.columns:  # a size metric: moved beside the first objective
            board.pop(name)
        board.insert(position, name, values)
    names = ["objective", *(item["metric"] for item in objectives[1:])]
    eligible = board[board["_rank"] == 0].dropna(subset=names)
    points = {index: tuple(float(v) for v in row) for index, row in zip(eligible.index, eligible[names].values)}
    front = pareto_front(points, [Direction(item["direction"]) for item in objectives])
    board.insert(2, "pareto", [index in front for index in board.index])


def _numeric_if_possible(values: Any) -> Any:
    """MLflow keeps params as text; numbers sort and print as numbers."""
    import pandas as pd

    try:
        return pd.to_numeric(values)
    except (ValueError, TypeError):
        return values


def format_leaderboard(board: Any, fmt: TableFormat | str = TableFormat.TABLE) -> str:
    fmt = chosen(TableFormat, fmt, "format")
    shown = board.rename(columns={"objective": board.attrs.get("objective", "objective")})
    if fmt is TableFormat.CSV:
        return shown.to_csv(index=False)
    if fmt is TableFormat.MARKDOWN:
        return _markdown(shown)
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="-")


def _markdown(frame: Any) -> str:
    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and value != value) or str(value) in ("<NA>", "nan", "None"):
            return "-"
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])
