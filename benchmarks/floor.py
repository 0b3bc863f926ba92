"""The floor: does a default `kerashpo run` end at or above the linear baseline's test score? And does
`export.ensemble` beat the champion alone on test?

For each built-in table, one default run (the `mlp` preset, TPE + Hyperband, defaults sized to the data) with a
time budget, in a fresh process and a fresh store, with `export.ensemble: K` (the search is the default one:
the option only keeps K checkpoints and changes what is shipped). Three models of that one search on the same
test rows: the champion alone (what the default ships; scored here from its checkpoint), the ensemble the run
shipped, and scikit-learn's linear model on the same splits (the run's own `baseline`). Writes
`benchmarks/results/floor/floor.json` and prints a Markdown table.

    python benchmarks/floor.py                      # iris, wine, breast_cancer, diabetes; 60 s each
    python benchmarks/floor.py --seconds 120 --datasets wine diabetes --seeds 1 2 3 --ensemble 5
    python benchmarks/floor.py --folds 5 --seeds 1 2 3      # cross-validated trials; writes floor_folds.json

With ``--folds K`` every trial is cross-validated over K folds of the non-test rows (``split: {folds: K}``) and
the champion is refit on all of them before its one test evaluation; there is no ensemble to compare then.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "floor"
# Classification: accuracy (higher is better); regression: RMSE (lower is better).
SCORE = {"regression": ("test_rmse", "min")}


def default_run(work: Path, dataset: str, seconds: float, seed: int, extra: str) -> float:
    """A default `kerashpo run` of a built-in table in ``work`` (experiment ``floor-<dataset>``), with ``extra``
    config lines; its wall time. Shared with ``ensemble_rules.py``."""
    (work / "floor.yaml").write_text(textwrap.dedent(f"""\
        name: floor-{dataset}
        dataset: {{name: {dataset}}}
        budget: {{trials: 1000, timeout: {seconds}}}
        seed: {seed}
    """) + extra)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "kerashpo.pipelines.cli", "run", "floor.yaml"], cwd=work,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{dataset}: kerashpo run failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def run_splits(work: Path) -> tuple[Any, Any]:
    """The dataset and splits of the run in ``work``, as the run made them."""
    from kerashpo.pipelines.config import load_config
    from kerashpo.pipelines.data.splits import load_dataset, split_dataset

    config = load_config(work / "floor.yaml")
    data = load_dataset(config)
    return data, split_dataset(data, config.split.validation, config.split.test, config.seed)


def run(dataset: str, seconds: float, seed: int, ensemble: int, folds: int = 0) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        # Cross-validated trials ship a refit champion; an ensemble of fold-trained checkpoints is refused.
        split = f"split: {{folds: {folds}, test: 0.2}}\n" if folds else ""
        export = "export: {formats: [keras]}" if folds else f"export: {{ensemble: {ensemble}, formats: [keras]}}"
        wall = default_run(work, dataset, seconds, seed, f"{export}\n{split}")
        from mlflow import MlflowClient

        client = MlflowClient(f"sqlite:///{work / 'mlruns' / 'mlflow.db'}")
        experiment = client.get_experiment_by_name(f"floor-{dataset}").experiment_id
        [parent] = client.search_runs([experiment], "tags.`kerashpo.role` = 'search'")
        [baseline] = client.search_runs([experiment], "tags.`kerashpo.role` = 'baseline' and tags.reference = 'linear'")
        trials = client.search_runs([experiment], "tags.`kerashpo.role` = 'trial'")
        task = parent.data.tags["task"]
        metric, _ = SCORE.get(task, ("test_accuracy", "max"))
        objective = parent.data.tags["objective"]
        return {"dataset": dataset, "seed": seed, "task": task, "metric": metric, "seconds": seconds,
                "wall": wall, "trials": len(trials),
                "pruned": sum(t.data.tags.get("state") == "PRUNED" for t in trials),
                "folds": folds,
                "champion": parent.data.metrics[metric] if folds else
                champion_test(work, dataset, int(parent.data.tags["best_trial"]))[metric],
                "ensemble": float("nan") if folds else parent.data.metrics[metric],
                "members": "-" if folds else parent.data.tags["weights"],
                "baseline": baseline.data.metrics[metric],
                "champion_val": parent.data.metrics.get(f"best_{objective}"),
                "ensemble_val": parent.data.metrics.get(f"ensemble_{objective}"),
                "baseline_val": baseline.data.metrics.get(objective)}


def champion_test(work: Path, dataset: str, trial: int) -> dict[str, float]:
    """The best trial's own checkpoint on the run's test rows (the same split, evaluated as the run does)."""
    import keras

    from kerashpo.pipelines.data.splits import data_spec
    from kerashpo.pipelines.ship.export import evaluate_once

    data, splits = run_splits(work)
    model = keras.saving.load_model(work / "mlruns" / "checkpoints" / f"floor-{dataset}" / f"trial-{trial:05d}.keras")
    return evaluate_once(model, splits.x_test, splits.y_test, data_spec(data, splits))


def table(rows: list[dict]) -> str:
    lines = ["| dataset | seed | metric | kerashpo champion (test) | shipped: ensemble (test) | "
             "linear baseline (test) | champion at or above? | shipped at or above? | ensemble members | "
             "trials (pruned) |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def at_or_above(score: float, r: dict) -> str:
        if score != score:  # NaN: cross-validated runs ship the refit champion, no ensemble
            return "-"
        # Keras reports accuracy in float32: equal scores differ in the 8th digit.
        ok = score <= r["baseline"] + 1e-6 if r["metric"] == "test_rmse" else score >= r["baseline"] - 1e-6
        return "yes" if ok else "no"

    for r in rows:
        members = r.get("members", "-")
        if members.startswith("ensemble of "):  # "ensemble of 3 (trial 4 x0.33, ..., linear x0.33), the ..."
            members = members.removeprefix("ensemble of ").split("), ")[0] + ")"
        elif "fitted on the training split" in members:
            members = "the linear model alone"
        lines.append(f"| {r['dataset']} | {r['seed']} | {r['metric']} | {r['champion']:.4f} | "
                     f"{r.get('ensemble', float('nan')):.4f} | {r['baseline']:.4f} | {at_or_above(r['champion'], r)} | "
                     f"{at_or_above(r.get('ensemble', float('nan')), r)} | {members} | {r['trials']} ({r['pruned']}) |")
    lines.append("")
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        medians = {k: statistics.median(r[k] for r in mine) for k in ("champion", "ensemble", "baseline")}
        lines.append(f"{dataset}: medians over {len(mine)} seeds, champion {medians['champion']:.4f}, shipped "
                     f"{medians['ensemble']:.4f}, linear baseline {medians['baseline']:.4f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["iris", "wine", "breast_cancer", "diabetes"])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42])
    parser.add_argument("--ensemble", type=int, default=5, help="export.ensemble of every run (at least 2)")
    parser.add_argument("--folds", type=int, default=0, help="cross-validate every trial over K folds (0: one split)")
    parser.add_argument("--table", action="store_true", help="print the table of the saved results, run nothing")
    args = parser.parse_args()
    results = RESULTS / ("floor_folds.json" if args.folds else "floor.json")
    if args.table:
        print(table(json.loads(results.read_text())))
        return
    rows = [run(d, args.seconds, s, args.ensemble, args.folds) for d in args.datasets for s in args.seeds]
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(rows, indent=2))
    print(table(rows))


if __name__ == "__main__":
    main()
