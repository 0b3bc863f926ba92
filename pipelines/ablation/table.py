"""The ablation table: each variant's validation objective and train-validation gap over seeds, and its
difference to the champion with a paired t-test across seeds (same seed, same data order)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kerashpo.pipelines.ablation.variants import Variant
from kerashpo.search.leaderboard import format_leaderboard
from kerashpo.spaces.choices import TableFormat, TrialState


@dataclass
class SeedRun:
    """One variant trained with one seed."""

    variant: str
    seed: int
    state: TrialState
    value: float | None  # the validation objective at the reported epoch
    gap: float | None  # validation minus train at that epoch, signed so that positive means overfitting
    epoch: int | None  # the reported epoch: the best one, or the last with early stopping off
    epochs_run: int
    n_params: int
    seconds: float
    history: dict[str, list[float]] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.state is TrialState.COMPLETE and self.value is not None


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    mean = sum(finite) / len(finite)
    if len(finite) < 2:
        return mean, math.nan
    return mean, math.sqrt(sum((v - mean) ** 2 for v in finite) / (len(finite) - 1))


def paired_difference(variant: Sequence[SeedRun], champion: Sequence[SeedRun]) -> tuple[float, float]:
    """Mean of the per-seed differences (variant minus champion) and the paired t-test's p-value.

    Only seeds both completed count; fewer than two pairs, or differences without spread, give no p-value.
    """
    from scipy.stats import ttest_rel

    by_seed = {run.seed: run.value for run in champion if run.complete}
    pairs = [(run.value, by_seed[run.seed]) for run in variant if run.complete and run.seed in by_seed]
    if not pairs:
        return math.nan, math.nan
    differences = [a - b for a, b in pairs if a is not None and b is not None]
    mean = sum(differences) / len(differences)
    if len(pairs) < 2 or max(differences) == min(differences):
        return mean, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = ttest_rel([a for a, _ in pairs], [b for _, b in pairs])
    return mean, float(result.pvalue)


def summarise(variants: Sequence[Variant], runs: Sequence[SeedRun], objective: str) -> Any:
    """One numeric row per variant, in the order given (champion first)."""
    import pandas as pd

    champion = [run for run in runs if run.variant == "champion"]
    test_names = sorted({name for run in runs for name in run.test})
    rows = []
    for variant in variants:
        own = [run for run in runs if run.variant == variant.name]
        done = [run for run in own if run.complete]
        value_mean, value_std = _mean_std([run.value for run in done if run.value is not None])
        gap_mean, gap_std = _mean_std([run.gap for run in done if run.gap is not None])
        diff, p_value = (0.0, math.nan) if variant.name == "champion" else paired_difference(own, champion)
        row: dict[str, Any] = {
            "variant": variant.name, "sets": variant.sets, "runs": f"{len(done)}/{len(own)}",
            f"{objective}_mean": value_mean, f"{objective}_std": value_std, "gap_mean": gap_mean, "gap_std": gap_std,
            "epochs": _mean_std([run.epochs_run for run in own])[0],
            "params": max((run.n_params for run in own), default=0),
            "seconds": _mean_std([run.seconds for run in own])[0],
            "diff_vs_champion": diff, "p_value": p_value,
        }
        for name in test_names:
            row[f"{name}_mean"], row[f"{name}_std"] = _mean_std([run.test[name] for run in own if name in run.test])
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.attrs.update(objective=objective, tests=test_names)
    return frame


def _pm(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "-"
    return f"{mean:.4f}" if math.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def readable(frame: Any) -> Any:
    """The table as people read it: mean ± std in one cell, the difference signed, the p-value short."""
    import pandas as pd

    objective = frame.attrs["objective"]
    shown = pd.DataFrame({
        "variant": frame["variant"], "sets": frame["sets"], "runs": frame["runs"],
        objective: [_pm(m, s) for m, s in zip(frame[f"{objective}_mean"], frame[f"{objective}_std"])],
        "train-val gap": [_pm(m, s) for m, s in zip(frame["gap_mean"], frame["gap_std"])],
        "epochs": [f"{e:.1f}" for e in frame["epochs"]], "params": frame["params"],
        "seconds": [f"{s:.1f}" for s in frame["seconds"]],
        "vs champion": ["-" if v == "champion" else ("-" if math.isnan(d) else f"{d:+.4f}")
                        for v, d in zip(frame["variant"], frame["diff_vs_champion"])],
        "p (paired t)": ["-" if math.isnan(p) else f"{p:.3f}" for p in frame["p_value"]],
    })
    for name in frame.attrs.get("tests", []):
        shown[name] = [_pm(m, s) for m, s in zip(frame[f"{name}_mean"], frame[f"{name}_std"])]
    return shown


def render(frame: Any, fmt: TableFormat, title: str) -> str:
    """``table`` (printed), ``markdown`` (with the title as a heading) or ``csv`` (numeric columns)."""
    if fmt is TableFormat.CSV:
        return str(frame.to_csv(index=False, float_format="%.6g"))
    text = format_leaderboard(readable(frame), fmt)
    return f"**{title}**\n\n{text}\n" if fmt is TableFormat.MARKDOWN else f"{title}\n{text}"
