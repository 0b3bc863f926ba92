"""A large table: what a default `kerashpo run` does with a time budget on 50,000 generated rows, against
scikit-learn's `HistGradientBoostingClassifier` and the run's own logistic regression on the same splits.

The table is `make_classification` with informative, redundant and noise features and label noise (seeded).
Each seed: one default run (``budget.timeout`` only) in a fresh process and a fresh store; then gradient
boosting fitted on the run's own training rows (its default early stopping holds out part of them) and scored
once on the run's test rows. Reports trials, how many were pruned and how long a pruned trial took, and the test
scores of the three models. Raw rows go to ``benchmarks/results/large_table/large_table.json`` (``--out``: a
bare file name lands in that folder, a path is taken as given).

    python benchmarks/large_table.py                          # 50,000 rows, 300 s, seed 1
    python benchmarks/large_table.py --seconds 150 --seeds 1 2 3 --out large_table_150.json

``--label`` names the code measured (the rows of several labels sit side by side in one file): run it once per
version, for example with ``PYTHONPATH`` pointing at another checkout's package.
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
RESULTS = HERE / "results" / "large_table"
FEATURES, INFORMATIVE, REDUNDANT, LABEL_NOISE = 30, 10, 6, 0.08


def write_table(path: Path, rows: int, seed: int) -> None:
    import pandas as pd
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=rows, n_features=FEATURES, n_informative=INFORMATIVE,
                               n_redundant=REDUNDANT, flip_y=LABEL_NOISE, class_sep=0.8, random_state=seed)
    pd.DataFrame(x, columns=[f"x{i}" for i in range(FEATURES)]).assign(label=y).to_csv(path, index=False)


def run(rows: int, seconds: float, seed: int) -> dict[str, Any]:
    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        write_table(work / "large.csv", rows, seed)
        config = work / "large.yaml"
        config.write_text(textwrap.dedent(f"""\
            name: large
            dataset: {{path: large.csv, target: label}}
            budget: {{timeout: {seconds}}}
            export: {{formats: [keras]}}
            report: false
            seed: {seed}
        """))
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "kerashpo.pipelines.cli", "run", str(config)], cwd=work,
                              capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"kerashpo run failed:\n{done.stderr[-2000:]}")
        client = MlflowClient(f"sqlite:///{work / 'mlruns' / 'mlflow.db'}")
        experiment = client.get_experiment_by_name("large").experiment_id
        [parent] = client.search_runs([experiment], "tags.`kerashpo.role` = 'search'")
        [baseline] = client.search_runs([experiment], "tags.`kerashpo.role` = 'baseline' and tags.reference = 'linear'")
        trials = client.search_runs([experiment], "tags.`kerashpo.role` = 'trial'", max_results=10_000)
        states = [t.data.tags.get("state") for t in trials]
        pruned_seconds = [t.data.metrics["train_seconds"] for t in trials if t.data.tags.get("state") == "PRUNED"]
        scores = ("test_accuracy", "test_auc", "test_log_loss")
        return {
            "seed": seed, "rows": rows, "budget": seconds, "wall": wall,
            "trials": len(trials), "pruned": states.count("PRUNED"), "complete": states.count("COMPLETE"),
            "pruned_trial_seconds": statistics.median(pruned_seconds) if pruned_seconds else None,
            "epochs": sum(int(t.data.metrics.get("epochs_run", 0)) for t in trials),
            "best_val_log_loss": parent.data.metrics.get("best_val_log_loss"),
            "kerashpo": {k: parent.data.metrics[k] for k in scores},
            "logistic": {k: baseline.data.metrics[k] for k in scores},
            "gradient_boosting": gradient_boosting(config, work),
            "shipped": parent.data.tags.get("weights", ""),
        }


def gradient_boosting(config: Path, work: Path) -> dict[str, float]:
    """`HistGradientBoostingClassifier` (defaults) on the run's training rows, scored once on its test rows."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    from kerashpo.pipelines.config import load_config
    from kerashpo.pipelines.data.splits import load_dataset, split_dataset

    settings = load_config(config)
    dataset = load_dataset(settings, work)
    splits = split_dataset(dataset, settings.split.validation, settings.split.test, settings.seed)

    def matrix(x: Any) -> Any:
        return np.column_stack([np.asarray(x[f"x{i}"], dtype="float64") for i in range(FEATURES)])

    model = HistGradientBoostingClassifier(random_state=settings.seed).fit(matrix(splits.x_train), splits.y_train)
    p = model.predict_proba(matrix(splits.x_test))
    return {"test_accuracy": float(accuracy_score(splits.y_test, p.argmax(axis=1))),
            "test_auc": float(roc_auc_score(splits.y_test, p[:, 1])),
            "test_log_loss": float(log_loss(splits.y_test, p))}


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| code | seed | budget (s) | trials (pruned) | median pruned trial (s) | epochs | best val log-loss "
             "| test accuracy: kerashpo / gradient boosting / logistic | test log-loss: kerashpo / GB / logistic |",
             "|---|---:|---:|---|---:|---:|---:|---|---|"]
    for r in rows:
        pruned = "-" if r["pruned_trial_seconds"] is None else f"{r['pruned_trial_seconds']:.1f}"
        lines.append(
            f"| {r['label']} | {r['seed']} | {r['budget']:.0f} | {r['trials']} ({r['pruned']}) | {pruned} "
            f"| {r['epochs']} | {r['best_val_log_loss']:.4f} "
            f"| {r['kerashpo']['test_accuracy']:.4f} / {r['gradient_boosting']['test_accuracy']:.4f} / "
            f"{r['logistic']['test_accuracy']:.4f} "
            f"| {r['kerashpo']['test_log_loss']:.4f} / {r['gradient_boosting']['test_log_loss']:.4f} / "
            f"{r['logistic']['test_log_loss']:.4f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=300.0, help="budget.timeout of each run")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1])
    parser.add_argument("--label", default="now", help="what code ran (rows of several labels share a file)")
    parser.add_argument("--out", default="large_table.json",
                        help="the results file: a bare name is under benchmarks/results/large_table/, a path as given")
    parser.add_argument("--table", action="store_true", help="print the table from the file, run nothing")
    args = parser.parse_args()
    path = Path(args.out) if Path(args.out).parent != Path() else RESULTS / args.out
    saved: list[dict[str, Any]] = json.loads(path.read_text()) if path.exists() else []
    if not args.table:
        path.parent.mkdir(parents=True, exist_ok=True)
        for seed in args.seeds:
            row = {"label": args.label, **run(args.rows, args.seconds, seed)}
            saved = [r for r in saved if (r["label"], r["seed"], r["budget"]) != (args.label, seed, args.seconds)]
            saved.append(row)
            path.write_text(json.dumps(saved, indent=1))
            print(f"{args.label} seed {seed}: {row['trials']} trials ({row['pruned']} pruned), test accuracy "
                  f"{row['kerashpo']['test_accuracy']:.4f} vs gradient boosting "
                  f"{row['gradient_boosting']['test_accuracy']:.4f}", file=sys.stderr, flush=True)
    print(table(saved))


if __name__ == "__main__":
    main()
