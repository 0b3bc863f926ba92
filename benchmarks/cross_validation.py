"""Cross-validated trials against one validation split, on small tables.

For each built-in table and seed, two default `kerashpo run`s (the `mlp` preset, TPE + Hyperband, 30 trials),
each in a fresh process and store: the default single split (validation 0.2, test 0.2) and `split: {folds: K}`
(test 0.2, the rest in K stratified folds; the champion refit on every non-test row). Both hold out the same
test rows (the same seeded, stratified split), so their test scores compare directly, with scikit-learn's
logistic regression (ridge for diabetes) fitted by each run on its own splits (the cross-validated run scores
it over the same folds, and fits the one it tests on every non-test row, as the champion is refit). Writes
`benchmarks/results/cross_validation/cross_validation.json` and prints a Markdown table (medians and ranges over seeds).

    python benchmarks/cross_validation.py                       # breast_cancer and wine, 5 folds, seeds 1 2 3
    python benchmarks/cross_validation.py --datasets diabetes --seeds 1 2 3
    python benchmarks/cross_validation.py --datasets wine --seeds 1 --folds 3
    python benchmarks/cross_validation.py --table               # the table from the saved JSON
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

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "cross_validation" / "cross_validation.json"
# The test scores compared (those the task has): classification, then regression.
TESTED = ("test_accuracy", "test_log_loss", "test_rmse")


def run(dataset: str, seed: int, folds: int | None) -> dict:
    split = f"{{folds: {folds}, test: 0.2}}" if folds else "{validation: 0.2, test: 0.2}"
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        (work / "cv.yaml").write_text(textwrap.dedent(f"""\
            name: cv-{dataset}
            dataset: {{name: {dataset}}}
            split: {split}
            export: {{formats: [keras]}}
            report: false
            seed: {seed}
        """))
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "kerashpo.pipelines.cli", "run", "cv.yaml"], cwd=work,
                              capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{dataset}: kerashpo run failed:\n{done.stderr[-2000:]}")
        from mlflow import MlflowClient

        client = MlflowClient(f"sqlite:///{work / 'mlruns' / 'mlflow.db'}")
        experiment = client.get_experiment_by_name(f"cv-{dataset}").experiment_id
        [parent] = client.search_runs([experiment], "tags.`kerashpo.role` = 'search'")
        [baseline] = client.search_runs([experiment], "tags.`kerashpo.role` = 'baseline' and tags.reference = 'linear'")
        trials = client.search_runs([experiment], "tags.`kerashpo.role` = 'trial'")
        objective = parent.data.tags["objective"]
        metrics, reference = parent.data.metrics, baseline.data.metrics
        tested = [name for name in TESTED if name in metrics and name in reference]
        return {"dataset": dataset, "seed": seed, "folds": folds or 0, "objective": objective, "wall": wall,
                "trials": len(trials), "pruned": sum(t.data.tags.get("state") == "PRUNED" for t in trials),
                "validation": metrics[f"best_{objective}"], "baseline_validation": reference[objective],
                **{name: metrics[name] for name in tested}, **{f"baseline_{name}": reference[name] for name in tested},
                "weights": parent.data.tags.get("weights", "")}


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.4f} ({min(values):.4f}-{max(values):.4f})"


def table(results: list[dict]) -> str:
    lines = ["| dataset | split | validation objective (search / linear) | test scores (search / linear) | "
             "pruned | wall s |", "|---|---|---|---|---|---|"]
    for dataset in dict.fromkeys(r["dataset"] for r in results):
        for folds in sorted({r["folds"] for r in results if r["dataset"] == dataset}):
            rows = [r for r in results if r["dataset"] == dataset and r["folds"] == folds]
            tested = [name for name in TESTED if name in rows[0]]
            validation = (f"{rows[0]['objective']} {_spread([r['validation'] for r in rows])} / "
                          f"{_spread([r['baseline_validation'] for r in rows])}")
            tests = "; ".join(f"{name.removeprefix('test_')} {_spread([r[name] for r in rows])} / "
                              f"{_spread([r['baseline_' + name] for r in rows])}" for name in tested)
            split = f"{folds} folds" if folds else "one split"
            lines.append(f"| {dataset} | {split} | {validation} | {tests} | "
                         f"{statistics.median(r['pruned'] for r in rows):g} / {rows[0]['trials']} | "
                         f"{statistics.median(r['wall'] for r in rows):.0f} |")
    seeds = sorted({r["seed"] for r in results})
    return "\n".join(lines) + f"\n\nMedians (ranges) over seeds {', '.join(map(str, seeds))}.\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["breast_cancer", "wine"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--table", action="store_true", help="print the table of the saved results only")
    args = parser.parse_args()
    if not args.table:
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        for seed in args.seeds:
            for dataset in args.datasets:
                for folds in (None, args.folds):
                    result = run(dataset, seed, folds)
                    results = [r for r in results if (r["dataset"], r["seed"], r["folds"]) !=
                               (dataset, seed, result["folds"])] + [result]
                    RESULTS.write_text(json.dumps(results, indent=1))
                    print(json.dumps(result), flush=True)
    print(table(json.loads(RESULTS.read_text())))


if __name__ == "__main__":
    main()
