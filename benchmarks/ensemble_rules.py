"""Which of a search's kept models should ship? Rules scored side by side on the same test rows.

One default `kerashpo run` per table and seed (time budget, fresh process and store) that keeps every complete
trial's best checkpoint (`export.keep_best: 200`). Afterwards every kept model predicts the run's validation and
test rows, and each rule picks what to ship from the validation predictions alone:

- ``champion``: the best trial on validation;
- ``greedy``: greedy ensemble selection over the 5 best (Caruana et al. 2004; 20 rounds with replacement, the
  best round), kerashpo's default before 2026-11-29;
- ``tied``: the equal-weight average of those of the 5 best that the validation rows cannot tell from the best
  (``kerashpo.search.selection.ensemble.tied_with_best``), the default from 2026-11-29 to 2026-11-30;
- ``tied_linear``: the same with the linear model fitted exactly as a sixth candidate, held to the margin the best
  of the run's complete trials reaches by chance (``linear_margin``), the default since 2026-11-30 (runs saved
  before it stand in scikit-learn's predictions for the Keras model's, which agree within 0.002 in probability);
- ``top5``, ``top10``: the plain average of the 5 or 10 best;
- ``linear``: scikit-learn's logistic regression / ``RidgeCV`` the run fits on the same splits.

Each rule's model is scored once on the test rows: RMSE for regression, log-loss and accuracy for classification.
What ships (``tied_linear``) is also compared with the linear model row by row: the mean difference of the test
rows' losses over its standard error (a z; above 2, the linear model is better beyond the test rows' noise).
The kept models' predictions are saved as ``.npz`` under ``--predictions`` (a run whose file is there is not run
again); the scores go to ``benchmarks/results/ensemble_rules/ensemble_rules.json``.

    python benchmarks/ensemble_rules.py                       # iris, wine, breast_cancer, diabetes, digits; 3 seeds
    python benchmarks/ensemble_rules.py --datasets diabetes --seeds 1 2 3 4 5 6 7
    python benchmarks/ensemble_rules.py --table               # the tables again from the JSON
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from floor import default_run, run_splits  # this folder's floor.py: the same default run

HERE = Path(__file__).resolve().parent
RULES = ("champion", "greedy", "tied", "tied_linear", "top5", "top10", "linear")
CANDIDATES = 5  # export.ensemble's default: how many of the best trials the ensemble rules look at


def run(dataset: str, seconds: float, seed: int, predictions: Path) -> Path:
    """A default run keeping every complete trial's checkpoint; their validation and test predictions."""
    out = predictions / f"{dataset}_{seed}.npz"
    if out.exists():
        return out
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        default_run(work, dataset, seconds, seed, "export: {ensemble: 5, keep_best: 200, formats: [keras]}\n")
        import keras
        from mlflow import MlflowClient

        from kerashpo.pipelines.data.splits import data_spec
        from kerashpo.pipelines.run.baseline import _frame, fit_baseline
        from kerashpo.search.models import model_inputs
        from kerashpo.search.selection.linear import fitted_linear_model

        data, splits = run_splits(work)
        client = MlflowClient(f"sqlite:///{work / 'mlruns' / 'mlflow.db'}")
        experiment = client.get_experiment_by_name(f"floor-{dataset}").experiment_id  # type: ignore[union-attr]
        trials = client.search_runs([experiment], "tags.`kerashpo.role` = 'trial'")
        complete = {int(t.data.tags["trial_number"]) for t in trials if t.data.tags.get("state") == "COMPLETE"}
        numbers, val, test = [], [], []
        for path in sorted((work / "mlruns" / "checkpoints" / f"floor-{dataset}").glob("trial-*.keras")):
            number = int(path.stem.removeprefix("trial-"))
            if number not in complete:
                continue
            model = keras.saving.load_model(path)
            numbers.append(number)
            val.append(np.asarray(model.predict(model_inputs(splits.x_val), verbose=0), "float64"))
            test.append(np.asarray(model.predict(model_inputs(splits.x_test), verbose=0), "float64"))
        linear = fit_baseline(data, splits, seed).model
        if data.task == "regression":
            linear_val = linear.predict(_frame(splits.x_val)).reshape(-1, 1)
            linear_test = linear.predict(_frame(splits.x_test)).reshape(-1, 1)
        else:
            linear_val, linear_test = linear.predict_proba(_frame(splits.x_val)), linear.predict_proba(
                _frame(splits.x_test))
            if data.task == "binary":  # the networks' one sigmoid column
                linear_val, linear_test = linear_val[:, 1:], linear_test[:, 1:]
        _, exact = fitted_linear_model(data_spec(data, splits), splits.x_train, splits.y_train, seed)
        exact_val = np.asarray(exact.predict(model_inputs(splits.x_val), verbose=0), "float64")
        exact_test = np.asarray(exact.predict(model_inputs(splits.x_test), verbose=0), "float64")
        predictions.mkdir(parents=True, exist_ok=True)
        np.savez(out, numbers=np.array(numbers), val=np.array(val), test=np.array(test), y_val=splits.y_val,
                 y_test=splits.y_test, linear_val=linear_val, linear_test=linear_test, exact_val=exact_val,
                 exact_test=exact_test, task=data.task, trials=len(trials))
    return out


def greedy(val: list[np.ndarray], y: np.ndarray, score: Callable[[np.ndarray, np.ndarray], float],
           rounds: int = 20) -> np.ndarray:
    """Caruana et al.'s selection with replacement: each model's weight (how often it was added, best round)."""
    counts, total = np.zeros(len(val)), np.zeros_like(val[0])
    best_counts, best_value = counts.copy(), np.inf
    for step in range(1, rounds + 1):
        values = [score(y, (total + p) / step) for p in val]
        chosen = int(np.argmin(values))
        counts[chosen] += 1
        total = total + val[chosen]
        if values[chosen] < best_value:
            best_counts, best_value = counts.copy(), values[chosen]
    return best_counts / best_counts.sum()


def score_rules(path: Path) -> dict:
    from kerashpo.search.selection.ensemble import (
        TIE_STANDARD_ERRORS,
        linear_margin,
        prediction_score,
        row_loss,
        tied_with_best,
    )
    from kerashpo.spaces.choices import Task

    z = np.load(path, allow_pickle=True)
    task = Task(str(z["task"]))
    objective, score, _ = prediction_score(task, "val_rmse" if task is Task.REGRESSION else "val_log_loss")
    accuracy = prediction_score(task, "val_accuracy")[1]
    y_val, y_test = z["y_val"], z["y_test"]
    loss = row_loss(task, objective)
    val, test = list(z["val"]), list(z["test"])
    order = sorted(range(len(val)), key=lambda i: score(y_val, val[i]))  # both objectives are minimised
    best = order[:CANDIDATES]
    tied = [best[i] for i in tied_with_best([val[i] for i in best], y_val, loss)]
    weights = greedy([val[i] for i in best], y_val, score)
    exact_val, exact_test = (z["exact_val"], z["exact_test"]) if "exact_val" in z else (z["linear_val"],
                                                                                        z["linear_test"])
    margins = [TIE_STANDARD_ERRORS] * len(best) + [linear_margin(len(val))]
    with_linear = tied_with_best([val[i] for i in best] + [exact_val], y_val, loss, margins)
    candidates_test = [test[i] for i in best] + [exact_test]
    shipped = {
        "champion": test[order[0]],
        "greedy": sum(w * test[i] for w, i in zip(weights, best)),
        "tied": np.mean([test[i] for i in tied], axis=0),
        "tied_linear": np.mean([candidates_test[i] for i in with_linear], axis=0),
        "top5": np.mean([test[i] for i in order[:5]], axis=0),
        "top10": np.mean([test[i] for i in order[:10]], axis=0),
        "linear": z["linear_test"],
    }
    dataset, seed = path.stem.rsplit("_", 1)
    row: dict[str, Any] = {"dataset": dataset, "seed": int(seed), "task": task, "trials": int(z["trials"]),
                           "complete": len(val), "tied_members": len(tied),
                           "linear_joined": len(best) in with_linear,
                           "greedy_members": int(np.count_nonzero(weights))}
    # Is what ships worse than the linear model beyond the test rows' noise? Paired per row: the mean difference
    # of the row losses (log-loss, or squared error) over its standard error, above 0 where the linear is better.
    difference = loss(y_test, shipped["tied_linear"]) - loss(y_test, z["linear_test"])
    standard_error = difference.std(ddof=1) / np.sqrt(len(difference))
    row["tied_linear_vs_linear_z"] = float(difference.mean() / max(standard_error, 1e-12))
    for rule, p in shipped.items():
        row[rule] = {objective.removeprefix("val_"): score(y_test, p)}
        if task != "regression":
            row[rule]["accuracy"] = accuracy(y_test, p)
    return row


def tables(rows: list[dict]) -> str:
    lines = []
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        metrics = list(mine[0]["linear"])
        seeds = ", ".join(str(r["seed"]) for r in mine)
        lines += [f"\n#### {dataset}: seeds {seeds}; test {' and '.join(metrics)}, median [range]; 'vs linear': "
                  "seeds at or better than the linear model", "",
                  "| rule | " + " | ".join(f"{m} | vs linear" for m in metrics) + " |",
                  "|---|" + "---|---|" * len(metrics)]
        for rule in RULES:
            cells = []
            for m in metrics:
                values = np.array([r[rule][m] for r in mine])
                linear = np.array([r["linear"][m] for r in mine])
                higher = m == "accuracy"
                ok = np.sum(values >= linear - 1e-9) if higher else np.sum(values <= linear + 1e-9)
                cells.append(f"{np.median(values):.4f} [{values.min():.4f}-{values.max():.4f}] | {ok}/{len(mine)}")
            lines.append(f"| {rule} | " + " | ".join(cells) + " |")
        lines.append(f"\ncomplete trials {[r['complete'] for r in mine]}, tied members "
                     f"{[r['tied_members'] for r in mine]}, greedy members {[r['greedy_members'] for r in mine]}")
    for new, old in (("tied", "greedy"), ("tied_linear", "tied")):
        paired = [(r[new], r[old]) for r in rows]
        key = [("rmse" if "rmse" in t else "log_loss") for t, _ in paired]
        wins = sum(t[k] < g[k] - 1e-12 for (t, g), k in zip(paired, key))
        ties = sum(abs(t[k] - g[k]) <= 1e-12 for (t, g), k in zip(paired, key))
        lines.append(f"\n`{new}` against `{old}` on the test RMSE / log-loss: better in {wins} of {len(rows)} runs, "
                     f"equal in {ties}.")
    paired = {r["dataset"]: [f"{q['tied_linear_vs_linear_z']:+.1f}" for q in rows if q["dataset"] == r["dataset"]]
              for r in rows if "tied_linear_vs_linear_z" in r}
    lines.append("\n`tied_linear` against `linear`, paired per test row (mean difference of the row losses over its "
                 "standard error; above 0: the linear model is better): "
                 + "; ".join(f"{dataset} {' '.join(z)}" for dataset, z in paired.items()) + ".")
    joined = [f"{r['dataset']} {r['seed']}" for r in rows if r.get("linear_joined")]
    lines.append(f"\nThe linear model joined in {len(joined)} of {len(rows)} runs: {', '.join(joined)}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["iris", "wine", "breast_cancer", "diabetes", "digits"])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--predictions", type=Path, default=Path(tempfile.gettempdir()) / "kerashpo_ensemble_rules",
                        help="where the kept models' predictions are saved (and reused)")
    parser.add_argument("--table", action="store_true", help="print the tables of the saved results, run nothing")
    args = parser.parse_args()
    results = HERE / "results" / "ensemble_rules" / "ensemble_rules.json"
    if args.table:
        print(tables(json.loads(results.read_text())))
        return
    saved = {(r["dataset"], r["seed"]): r for r in json.loads(results.read_text())} if results.exists() else {}
    results.parent.mkdir(parents=True, exist_ok=True)
    for dataset in args.datasets:
        for seed in args.seeds:
            saved[dataset, seed] = score_rules(run(dataset, args.seconds, seed, args.predictions))
            results.write_text(json.dumps(list(saved.values()), indent=2))
    print(tables(list(saved.values())))


if __name__ == "__main__":
    main()
