"""``kerashpo compare``: the chosen models of several searches side by side, only on the same splits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kerashpo.search.leaderboard import search_run
from kerashpo.search.tracking import SPLIT_TAG, STUDY_TAG
from kerashpo.spaces import UserError

# The runs whose chosen model can be compared: a search's parent run, and an ablation's (its champion variant's
# mean over seeds as best_<objective>, its test scores with --test).
COMPARABLE_ROLES = ("search", "ablation")


def compare_runs(tracking_uri: str, run_ids: Sequence[str], allow_different_splits: bool = False,
                 ) -> tuple[Any, list[str]]:
    """A DataFrame with one row per run (its chosen model's validation and test scores) and the warnings.

    Runs on different splits (other data, seed, fractions or folds) are refused, naming both fingerprints,
    unless ``allow_different_splits``: then the refusal is a warning.
    """
    import pandas as pd
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    runs = [search_run(client, run_id, COMPARABLE_ROLES) for run_id in run_ids]
    warnings = []
    first = runs[0]
    for other in runs[1:]:
        mismatch = _split_mismatch(first, other)
        if mismatch is None:
            continue
        if not allow_different_splits:
            raise UserError(f"{mismatch}: their scores are not comparable; pass --allow-different-splits to "
                            "show them anyway")
        warnings.append(f"warning: {mismatch}; the scores below are not comparable")
    rows = []
    for run in runs:
        tags, metrics = run.data.tags, run.data.metrics
        objective = tags.get("objective", "")
        rows.append({
            "run": run.info.run_id[:8],
            "experiment": client.get_experiment(run.info.experiment_id).name,
            "study": tags.get(STUDY_TAG, "-"),
            "driver": tags.get("driver", "-"),
            "objective": objective,
            "validation": metrics.get(f"best_{objective}"),
            "weights": tags.get("weights", "-"),
            **{name: value for name, value in sorted(metrics.items()) if name.startswith("test_")},
            "split": tags.get(SPLIT_TAG, "-"),
        })
    return pd.DataFrame(rows), warnings


def _split_mismatch(a: Any, b: Any) -> str | None:
    """Why two runs' splits differ, or None when they are the same."""
    fa, fb = a.data.tags.get(SPLIT_TAG), b.data.tags.get(SPLIT_TAG)
    names = f"runs {a.info.run_id[:8]} and {b.info.run_id[:8]}"
    if fa is None or fb is None:
        missing = a if fa is None else b
        return (f"{names} cannot be checked for equal splits: run {missing.info.run_id[:8]} records no split "
                "fingerprint (it was made before kerashpo recorded one)")
    if fa != fb:
        return f"{names} were made on different splits (split fingerprints {fa} and {fb})"
    return None
