"""The floor: does a default `kerashpo run` end at or above the linear baseline's test score?

For each built-in table, one default run (the `mlp` preset, TPE + Hyperband, defaults sized to the data) with a
time budget, in a fresh process and a fresh store; the champion's test score beside scikit-learn's linear model
on the same splits (the run's own `baseline`), both evaluated once. Writes `floor.json` beside this script and
prints a Markdown table.

    python benchmarks/floor.py                      # iris, wine, breast_cancer, diabetes; 60 s each
    python benchmarks/floor.py --seconds 120 --datasets wine diabetes --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Classification: accuracy (higher is better); regression: RMSE (lower is better).
SCORE = {"regression": ("test_rmse", "min")}


def run(dataset: str, seconds: float, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "floor.yaml").write_text(textwrap.dedent(f"""\
            name: floor-{dataset}
            dataset: {{name: {dataset}}}
            budget: {{trials: 1000, timeout: {seconds}}}
            export: {{register_model: false}}
            seed: {seed}
        """))
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "kerashpo.pipelines.cli", "run", "floor.yaml"], cwd=work,
                              capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{dataset}: kerashpo run failed:\n{done.stderr[-2000:]}")
        from mlflow import MlflowClient

        client = MlflowClient(f"sqlite:///{work / 'mlruns' / 'mlflow.db'}")
        experiment = client.get_experiment_by_name(f"floor-{dataset}").experiment_id
        [parent] = client.search_runs([experiment], "tags.`kerashpo.role` = 'search'")
        [baseline] = client.search_runs([experiment], "tags.`kerashpo.role` = 'baseline'")
        trials = client.search_runs([experiment], "tags.`kerashpo.role` = 'trial'")
        task = parent.data.tags["task"]
        metric, _ = SCORE.get(task, ("test_accuracy", "max"))
        return {"dataset": dataset, "seed": seed, "task": task, "metric": metric, "seconds": seconds,
                "wall": wall, "trials": len(trials),
                "pruned": sum(t.data.tags.get("state") == "PRUNED" for t in trials),
                "champion": parent.data.metrics[metric], "baseline": baseline.data.metrics[metric],
                "champion_val": parent.data.metrics.get(f"best_{parent.data.tags['objective']}"),
                "baseline_val": baseline.data.metrics.get(parent.data.tags["objective"])}


def table(rows: list[dict]) -> str:
    lines = ["| dataset | seed | metric | kerashpo (test) | linear baseline (test) | at or above? | trials (pruned) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        # Keras reports accuracy in float32: equal scores differ in the 8th digit.
        better = (r["champion"] <= r["baseline"] + 1e-6 if r["metric"] == "test_rmse"
                  else r["champion"] >= r["baseline"] - 1e-6)
        lines.append(f"| {r['dataset']} | {r['seed']} | {r['metric']} | {r['champion']:.4f} | {r['baseline']:.4f} | "
                     f"{'yes' if better else 'no'} | {r['trials']} ({r['pruned']}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["iris", "wine", "breast_cancer", "diabetes"])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seeds", nargs="+", type=int, default=[42])
    parser.add_argument("--table", action="store_true", help="print the table of the saved floor.json, run nothing")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads((HERE / "floor.json").read_text())))
        return
    rows = [run(d, args.seconds, s) for d in args.datasets for s in args.seeds]
    (HERE / "floor.json").write_text(json.dumps(rows, indent=2))
    print(table(rows))


if __name__ == "__main__":
    main()
