"""Search efficiency: the kerashpo default against plain Keras Tuner, plain Optuna and the linear model, same
splits, same space, same objective, same wall-clock budget.

    python benchmarks/efficiency.py                                   # digits, breast_cancer; 60 s; seeds 1 2 3
    python benchmarks/efficiency.py --seconds digits=300 breast_cancer=300 --out efficiency_300.json
    python benchmarks/efficiency.py --datasets digits --seconds digits=300 --arms kerashpo optuna-tpe linear
    python benchmarks/efficiency.py --datasets iris wine --out efficiency_small.json   # 120 s each
    python benchmarks/efficiency.py --datasets diabetes --out efficiency_diabetes.json  # regression, 120 s
    python benchmarks/efficiency.py --table                           # tables and the plot from efficiency.json
    python benchmarks/efficiency.py --datasets digits --seconds digits=300 --seeds 4 5 \\
        --out efficiency_300_digits.json --add                        # two more seeds into that file

Every arm runs in its own fresh process on the same seeded split and is scored by validation log-loss (the
penalty-free ``val_log_loss`` every arm's models compile; the best epoch of a trial), or on a regression table
(diabetes) by validation RMSE (``val_rmse``), with test RMSE and MAE for its test scores; the space is the one a
default kerashpo run searches on that data (``mlp`` sized to the training rows), so what differs between arms is
how they search:

- ``kerashpo``: the default pipeline (Optuna TPE with the Hyperband pruner counted in examples seen, early
  stopping, the linear model and a small network as first trials, defaults sized to the budget, MLflow tracking,
  checkpoints), ``budget.timeout`` only, and ``export.ensemble: 5`` (the default since 2026-11-28), which
  changes nothing in the search (five checkpoints kept instead of three): its champion alone is the ``kerashpo``
  row, the ensemble it ships the ``kerashpo + ensemble`` row;
- ``kerashpo-jax``, ``kerashpo-torch``: the same pipeline with ``backend: jax`` or ``torch`` (batches from the
  arrays in memory, nothing of TensorFlow), its champion alone (``export.ensemble: 0``);
- ``kerashpo-kt-hyperband``: the same pipeline with ``driver: keras_tuner``, ``tuner: hyperband``, its champion
  alone (``export.ensemble: 0``);
- ``keras-tuner-random``, ``keras-tuner-hyperband``, ``keras-tuner-bayesian``: plain Keras Tuner as its
  documentation shows it, a ``HyperModel`` whose ``fit`` applies the sampled batch size, 40 epochs a trial
  (Hyperband: ``max_epochs=40, factor=3``), no early stopping;
- ``optuna-tpe``: a plain Optuna objective (TPE, no pruner) training 40 epochs and returning the best epoch's
  validation log-loss;
- ``linear``: scikit-learn's logistic regression (``RidgeCV`` on regression) on the same splits (the run's own
  baseline).

No arm starts a trial after its budget. The plain arms let the one under way finish; kerashpo stops it at the
deadline (``budget.timeout`` is kept since 2026-11-28, commit 63d687e), keeping its best epoch. Each arm's chosen
model is evaluated once on the test split. The clock starts just before the search call (for kerashpo, before
``run_pipeline``: it includes creating the MLflow store). "To reach" is the epochs and seconds until the arm
first finished a trial at least as good as plain RandomSearch's final best on the same seed. Raw results go to
``benchmarks/results/efficiency/efficiency.json`` (``--out``: a bare file name lands in that folder, a path is
taken as given); the tables and ``efficiency_anytime.png`` beside it (best-so-far validation log-loss, or RMSE,
against seconds, median over seeds) are made from that file, again with ``--table --out NAME.json``.
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
import time
from pathlib import Path
from typing import Any

from kerashpo.spaces.choices import Direction
from kerashpo.spaces.tasks import DEFAULT_OBJECTIVE

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "efficiency"

ARMS = ("kerashpo", "kerashpo-jax", "kerashpo-torch", "kerashpo-kt-hyperband", "keras-tuner-random",
        "keras-tuner-hyperband", "keras-tuner-bayesian", "optuna-tpe", "linear")
TUNERS = {"keras-tuner-random": "RandomSearch", "keras-tuner-hyperband": "Hyperband",
          "keras-tuner-bayesian": "BayesianOptimization"}
BASELINE = "keras-tuner-random"
# Each dataset's default budget per arm; the small tables get the 120 s. Run by default: digits and
# breast_cancer.
DEFAULT_SECONDS = {"digits": 60.0, "breast_cancer": 60.0, "iris": 120.0, "wine": 120.0, "diabetes": 120.0}
DEFAULT_DATASETS = ["digits", "breast_cancer"]
MAX_EPOCHS, ENSEMBLE = 40, 5
# The selection objective (minimized by every arm) and the two test scores each table reports, by task.
REGRESSION = {"diabetes"}
SCORES = {"classification": (DEFAULT_OBJECTIVE["multiclass"], "test_accuracy", "test_log_loss"),
          "regression": (DEFAULT_OBJECTIVE["regression"], "test_rmse", "test_mae")}
LABELS = {"test_accuracy": "test accuracy", "test_log_loss": "test log-loss", "test_rmse": "test RMSE",
          "test_mae": "test MAE"}


def scores_of(dataset: str) -> tuple[str, str, str]:
    """(objective, first test score, second test score) for ``dataset``."""
    return SCORES["regression" if dataset in REGRESSION else "classification"]


# -- one arm, in its own process ---------------------------------------------------------------------------

def pipeline_config(arm: str, dataset: str, seed: int, seconds: float) -> Any:
    from kerashpo.pipelines.config import parse_config

    document: dict[str, Any] = {
        "name": f"efficiency-{dataset}", "dataset": {"name": dataset}, "seed": seed, "report": False,
        "budget": {"trials": 100_000, "timeout": seconds}, "export": {"formats": ["keras"]},
    }
    if arm == "kerashpo":
        document["export"]["ensemble"] = ENSEMBLE  # the default, named: the table reports it beside the champion
    elif arm in ("kerashpo-jax", "kerashpo-torch"):
        document["export"]["ensemble"] = 0  # this arm's row is its champion alone
        document["backend"] = arm.removeprefix("kerashpo-")
    else:
        document["export"]["ensemble"] = 0  # this arm's row is its champion alone
        # Hyperband brackets repeat until the time is up; its largest rung is the plain arms' epochs.
        document.update(driver="keras_tuner", keras_tuner={"tuner": "hyperband", "hyperband_iterations": 100,
                                                           "max_epochs": MAX_EPOCHS})
    return parse_config(document)


def split_of(dataset: str, seed: int) -> tuple[Any, Any, Any]:
    """The dataset, its split and its data spec, exactly as a kerashpo run with this seed makes them."""
    from kerashpo.pipelines.data.splits import data_spec, load_dataset, split_dataset

    config = pipeline_config("kerashpo", dataset, seed, 1.0)
    data = load_dataset(config)
    splits = split_dataset(data, config.split.validation, config.split.test, seed)
    return data, splits, data_spec(data, splits)


def targets(y: Any, spec: Any) -> Any:
    """Targets as the preset's head takes them: binary and regression heads output one column, and their metrics
    need the same."""
    return y.reshape(-1, 1) if spec.task in ("binary", "regression") else y


def tested(model: Any, splits: Any, spec: Any, dataset: str) -> dict[str, float]:
    from kerashpo.pipelines.ship.export import evaluate_once

    scores = evaluate_once(model, splits.x_test, splits.y_test, spec)
    return {name: scores[name] for name in scores_of(dataset)[1:]}


def run_kerashpo(arm: str, dataset: str, seed: int, seconds: float, workdir: Path) -> dict[str, Any]:
    from kerashpo.pipelines.runtime.backend import select_backend

    config = pipeline_config(arm, dataset, seed, seconds)
    select_backend(config.backend)
    # Keras (on the arm's backend), Optuna, Keras Tuner and MLflow load before the clock starts, as for the
    # plain arms.
    import keras
    import keras_tuner  # noqa: F401
    import optuna  # noqa: F401
    from mlflow import MlflowClient

    import kerashpo.search.executor  # noqa: F401
    from kerashpo.pipelines.run.pipeline import run_pipeline

    objective = scores_of(dataset)[0]
    started = time.time()
    report = run_pipeline(config, workdir=workdir)
    wall = time.time() - started
    client = MlflowClient(report.stores.tracking_uri)
    experiment = client.get_experiment_by_name(report.experiment).experiment_id
    runs = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{report.parent_run_id}' and "
                              "tags.`kerashpo.role` = 'trial'", max_results=50_000)
    trials = []
    for run in sorted(runs, key=lambda r: r.info.end_time or 0):
        complete = run.data.tags.get("state") == "COMPLETE"
        trials.append({"end": (run.info.end_time or 0) / 1000 - started,
                       "epochs": int(run.data.metrics.get("epochs_run", 0)),
                       "value": run.data.metrics.get(f"best_{objective}") if complete else None})
    assert report.export is not None and report.outcome.best_number is not None
    result = {"trials": trials, "best": report.outcome.best_value, "wall": wall}
    _, splits, spec = split_of(dataset, seed)
    if arm == "kerashpo":
        # The champion alone, from its checkpoint; the ensemble is what the run shipped and tested.
        checkpoint = report.stores.checkpoint_dir(report.study) / f"trial-{report.outcome.best_number:05d}.keras"
        result.update(tested(keras.saving.load_model(checkpoint), splits, spec, dataset))
        shipped = report.export.test_metrics
        result["ensemble"] = {**{name: shipped[name] for name in scores_of(dataset)[1:]},
                              "members": report.export.ensemble or "the champion alone"}
    else:
        result.update({name: report.export.test_metrics[name] for name in scores_of(dataset)[1:]})
    return result


class Timeline:
    """Trials as they finish: (seconds since the clock started, epochs trained, best validation objective)."""

    def __init__(self, objective: str) -> None:
        self.started = time.time()
        self.objective = objective
        self.trials: list[dict[str, Any]] = []

    def add(self, history: dict[str, list[float]]) -> float | None:
        values = [v for v in history.get(self.objective, []) if math.isfinite(v)]
        value = min(values) if values else None
        self.trials.append({"end": time.time() - self.started, "epochs": len(history.get("loss", [])),
                            "value": value})
        return value

    @property
    def elapsed(self) -> float:
        return time.time() - self.started


def run_keras_tuner(arm: str, dataset: str, seed: int, seconds: float, workdir: Path) -> dict[str, Any]:
    import keras_tuner as kt

    from kerashpo.search.training.sampling import KerasTunerSampling
    from kerashpo.spaces import MLP
    from kerashpo.spaces.presets.mlp import mlp_space_for_rows

    _, splits, spec = split_of(dataset, seed)
    space = mlp_space_for_rows(len(splits.y_train))
    objective = scores_of(dataset)[0]
    timeline = Timeline(objective)

    class MLPHyperModel(kt.HyperModel):
        def build(self, hp: Any) -> Any:
            return MLP.build(KerasTunerSampling(hp).sample_space(space), spec)

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            params = KerasTunerSampling(hp).sample_space(space)
            options = MLP.fit_options(params, MAX_EPOCHS, objective, Direction.MINIMIZE)
            kwargs["callbacks"] = [*kwargs.get("callbacks", []), *options.callbacks]
            history = model.fit(*args, batch_size=options.batch_size, **kwargs)
            timeline.add(history.history)
            return history

    class Timed(getattr(kt, TUNERS[arm])):  # type: ignore[misc]
        # Every oracle stops creating trials at max_trials: the wall-clock budget sets it when time is up.
        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            if timeline.elapsed >= seconds:
                self.oracle.max_trials = len(self.oracle.trials)

    budget = {"max_epochs": MAX_EPOCHS, "factor": 3, "hyperband_iterations": 100} if arm.endswith("hyperband") \
        else {"max_trials": 100_000}
    tuner = Timed(MLPHyperModel(), objective=kt.Objective(objective, "min"), seed=seed, directory=str(workdir),
                  project_name=arm, overwrite=True, **budget)
    timeline.started = time.time()
    tuner.search(splits.x_train, targets(splits.y_train, spec), epochs=MAX_EPOCHS,
                 validation_data=(splits.x_val, targets(splits.y_val, spec)), verbose=0)
    wall = timeline.elapsed
    best = tuner.oracle.get_best_trials(1)[0].score
    return {"trials": timeline.trials, "best": best, "wall": wall,
            **tested(tuner.get_best_models(1)[0], splits, spec, dataset)}


def run_optuna_tpe(dataset: str, seed: int, seconds: float, workdir: Path) -> dict[str, Any]:
    import keras
    import optuna

    from kerashpo.search.training.sampling import OptunaSampling
    from kerashpo.spaces import MLP
    from kerashpo.spaces.presets.mlp import mlp_space_for_rows

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _, splits, spec = split_of(dataset, seed)
    space = mlp_space_for_rows(len(splits.y_train))
    best_path = workdir / "best.keras"
    objective_name = scores_of(dataset)[0]

    def objective(trial: Any) -> float:
        keras.backend.clear_session()
        params = OptunaSampling(trial).sample_space(space)
        model = MLP.build(params, spec)
        options = MLP.fit_options(params, MAX_EPOCHS, objective_name, Direction.MINIMIZE)
        keep_best = keras.callbacks.EarlyStopping(objective_name, patience=MAX_EPOCHS, restore_best_weights=True)
        history = model.fit(splits.x_train, targets(splits.y_train, spec),
                            validation_data=(splits.x_val, targets(splits.y_val, spec)),
                            epochs=MAX_EPOCHS, batch_size=options.batch_size,
                            callbacks=[*options.callbacks, keep_best], verbose=0)
        value = timeline.add(history.history)
        if value is None:
            return float("nan")  # Optuna records the trial as failed
        if not study.best_trials or value < study.best_value:
            model.save(best_path)
        return value

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    timeline = Timeline(objective_name)
    study.optimize(objective, timeout=seconds)
    wall = timeline.elapsed
    return {"trials": timeline.trials, "best": study.best_value, "wall": wall,
            **tested(keras.saving.load_model(best_path), splits, spec, dataset)}


def run_linear(dataset: str, seed: int) -> dict[str, Any]:
    from kerashpo.pipelines.run.baseline import fit_baseline

    data, splits, _ = split_of(dataset, seed)
    baseline = fit_baseline(data, splits, seed)
    test = baseline.evaluate_test(splits.x_test, splits.y_test)
    objective, *test_scores = scores_of(dataset)
    value = baseline.validation[objective]
    return {"trials": [{"end": baseline.seconds, "epochs": 0, "value": value}], "best": value,
            "wall": baseline.seconds, **{name: test[name] for name in test_scores}}


def run_arm(arm: str, dataset: str, seed: int, seconds: float) -> dict[str, Any]:
    from kerashpo.pipelines.runtime.quiet import quiet_libraries

    quiet_libraries()
    if arm == "linear":
        return run_linear(dataset, seed)
    with tempfile.TemporaryDirectory() as workdir:
        if arm in TUNERS:
            return run_keras_tuner(arm, dataset, seed, seconds, Path(workdir))
        if arm == "optuna-tpe":
            return run_optuna_tpe(dataset, seed, seconds, Path(workdir))
        return run_kerashpo(arm, dataset, seed, seconds, Path(workdir))


# -- the comparison, from the saved results ----------------------------------------------------------------

def reach(trials: list[dict[str, Any]], target: float) -> tuple[float, float]:
    """Epochs and seconds until a finished trial was at least as good as ``target`` (inf if never)."""
    epochs = 0
    for trial in trials:  # in the order they finished
        epochs += trial["epochs"]
        if trial["value"] is not None and trial["value"] <= target:
            return float(epochs), trial["end"]
    return math.inf, math.inf


def summary(values: list[float], digits: int = 3) -> str:
    """Median, and the range over seeds in brackets; inf (never reached) reads "never"."""
    def text(value: float) -> str:
        return "never" if math.isinf(value) else f"{value:.{digits}f}"

    middle = text(statistics.median(values))
    return middle if len(values) == 1 else f"{middle} ({text(min(values))}–{text(max(values))})"


def ratio(values: list[float]) -> str:
    """Median of per-seed ratios of the arm's time to RandomSearch's (below 1: sooner); never reached is inf."""
    middle = statistics.median(values)
    return "not reached" if math.isinf(middle) else f"{middle:.2f}x"


def arms_of(saved: dict[str, Any]) -> list[str]:
    """The arms a results file holds, in ARMS's order (files from before ``--arms`` name none: the arms of their
    runs, every arm of that day)."""
    held = {key.split("/", 1)[1] for results in saved["results"].values() for key in results}
    return [arm for arm in ARMS if arm in saved.get("arms", held)]


def table(dataset: str, results: dict[str, dict[str, Any]], seeds: list[int], seconds: float,
          arms: list[str]) -> str:
    objective, first, second = scores_of(dataset)
    lines = [f"#### {dataset}: {seconds:.0f} s per arm, seeds {', '.join(map(str, seeds))} "
             f"(median, range in brackets)", "",
             f"| arm | best {objective} | {LABELS[first]} | {LABELS[second]} | trials | epochs | "
             "seconds to reach RS's best | time to RS's best vs RS |",
             "|---|---|---|---|---:|---:|---|---:|"]
    targets = {seed: results[f"{seed}/{BASELINE}"]["best"] for seed in seeds}
    for arm in arms:
        rows = {seed: results[f"{seed}/{arm}"] for seed in seeds}
        reached = {seed: reach(r["trials"], targets[seed]) for seed, r in rows.items()}
        own = {seed: reach(results[f"{seed}/{BASELINE}"]["trials"], targets[seed]) for seed in seeds}
        times = [reached[s][1] / own[s][1] for s in seeds]
        lines.append(
            f"| {arm} | {summary([r['best'] for r in rows.values()], 4)} "
            f"| {summary([r[first] for r in rows.values()], 4)} "
            f"| {summary([r[second] for r in rows.values()], 4)} "
            f"| {statistics.median(len(r['trials']) for r in rows.values()):.0f} "
            f"| {statistics.median(sum(t['epochs'] for t in r['trials']) for r in rows.values()):.0f} "
            f"| {summary([reached[s][1] for s in seeds], 1)} | {ratio(times)} |")
        if arm == "kerashpo":
            ensembles = [rows[s]["ensemble"] for s in seeds]
            lines.append(f"| kerashpo + ensemble of up to {ENSEMBLE} | – "
                         f"| {summary([e[first] for e in ensembles], 4)} "
                         f"| {summary([e[second] for e in ensembles], 4)} | – | – | – | – |")
    return "\n".join(lines)


def best_so_far(trials: list[dict[str, Any]], grid: list[float]) -> list[float]:
    """The best validation objective among the trials finished by each time of ``grid`` (nan before the first)."""
    out, best, finished = [], math.nan, sorted((t for t in trials if t["value"] is not None), key=lambda t: t["end"])
    index = 0
    for moment in grid:
        while index < len(finished) and finished[index]["end"] <= moment:
            value = finished[index]["value"]
            best = value if math.isnan(best) else min(best, value)
            index += 1
        out.append(best)
    return out


def plot(saved: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    datasets = list(saved["results"])
    figure, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 4.6), squeeze=False)
    for axis, dataset in zip(axes[0], datasets):
        results, seeds, seconds = saved["results"][dataset], saved["seeds"], saved["budgets"][dataset]
        # To the last trial's end: no arm starts a trial after its budget, the one under way finishes.
        last = max(t["end"] for r in results.values() for t in r["trials"])
        grid = list(np.linspace(0, max(seconds, last), 300))
        for arm in arms_of(saved):
            curves = np.array([best_so_far(results[f"{seed}/{arm}"]["trials"], grid) for seed in seeds])
            if arm == "linear":
                axis.axhline(float(np.median(curves[:, -1])), color="black", linestyle=":", label="linear (sklearn)")
                continue
            with np.errstate(all="ignore"):
                # The median over seeds once every seed has finished a trial.
                median = np.where(np.isnan(curves).any(axis=0), np.nan, np.median(curves, axis=0))
            axis.plot(grid, median, label=arm, linewidth=2.2 if arm == "kerashpo" else 1.3)
        axis.set(title=f"{dataset}: {seconds:.0f} s per arm, median of {len(seeds)} seeds",
                 xlabel="seconds since the search started", ylabel=f"best {scores_of(dataset)[0]} so far", yscale="log")
        axis.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=DEFAULT_DATASETS, choices=list(DEFAULT_SECONDS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--seconds", nargs="*", default=[], metavar="DATASET=SECONDS",
                        help="wall-clock budget per arm (default: 60 s each)")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS,
                        help=f"the arms to run (default: all; {BASELINE} is always run, the others are timed "
                             "against it)")
    parser.add_argument("--out", default="efficiency.json",
                        help="the results file: a bare name is under benchmarks/results/efficiency/, a path as given")
    parser.add_argument("--table", action="store_true", help="print the tables and redraw the plot, run nothing")
    parser.add_argument("--add", action="store_true",
                        help="add these seeds' runs to the results file (same datasets, budgets and arms)")
    parser.add_argument("--arm", choices=ARMS, help=argparse.SUPPRESS)  # one arm, in this process
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.arm:
        print(json.dumps(run_arm(args.arm, args.dataset, args.seed, args.budget)))
        return
    path = Path(args.out) if Path(args.out).parent != Path() else RESULTS / args.out
    if not args.table:
        budgets = {d: float(dict(item.split("=") for item in args.seconds).get(d, DEFAULT_SECONDS[d]))
                   for d in args.datasets}
        arms = [arm for arm in ARMS if arm in args.arms or arm == BASELINE]
        saved: dict[str, Any] = {"seeds": args.seeds, "budgets": budgets, "arms": arms, "results": {}}
        if args.add:
            saved = json.loads(path.read_text())
            if saved["budgets"] != budgets or saved["arms"] != arms:
                sys.exit(f"--add: {path.name} holds {saved['budgets']} and arms {saved['arms']}; run the same")
            saved["seeds"] = sorted(set(saved["seeds"]) | set(args.seeds))
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.time()
        for dataset in args.datasets:
            results = saved["results"].setdefault(dataset, {})
            for index, seed in enumerate(args.seeds):
                # Arms take turns going first, so none always runs on a cooler or warmer machine.
                order = arms[index % len(arms):] + arms[:index % len(arms)]
                for arm in order:
                    done = subprocess.run(
                        [sys.executable, __file__, "--arm", arm, "--dataset", dataset, "--seed", str(seed),
                         "--budget", str(budgets[dataset])], capture_output=True, text=True, check=False)
                    if done.returncode != 0:
                        sys.exit(f"{arm} on {dataset} (seed {seed}) failed:\n{done.stderr[-3000:]}")
                    result = results[f"{seed}/{arm}"] = json.loads(done.stdout.strip().splitlines()[-1])
                    first = scores_of(dataset)[1]
                    print(f"{dataset} seed {seed} {arm}: {len(result['trials'])} trials, best {result['best']:.4f}, "
                          f"{LABELS[first]} {result[first]:.4f}, {result['wall']:.0f} s "
                          f"[{time.time() - started:.0f} s so far]", file=sys.stderr, flush=True)
                    path.write_text(json.dumps(saved, indent=1))  # a long run keeps what it has
    saved = json.loads(path.read_text())
    print(f"objective {SCORES['classification'][0]} ({SCORES['regression'][0]} on regression tables); plain arms "
          f"{MAX_EPOCHS} epochs a trial; RS = {BASELINE}\n")
    for dataset, results in saved["results"].items():
        print(table(dataset, results, saved["seeds"], saved["budgets"][dataset], arms_of(saved)) + "\n")
    image = path.with_name(path.stem + "_anytime.png")
    plot(saved, image)
    print(f"plot: {image}")


if __name__ == "__main__":
    main()
