"""Search efficiency: kerashpo against plain Keras Tuner and plain Optuna, same space, splits and wall-clock budget.

    python benchmarks/efficiency.py                                    # digits and breast_cancer, seeds 1 2 3
    python benchmarks/efficiency.py --datasets digits --seeds 1 --seconds digits=30   # a quick look

Four arms search the ``mlp`` preset's full space on the same seeded split, with the same objective
(validation log-loss, the best epoch of a trial), the same epoch cap and the same wall-clock budget:

- ``kerashpo`` : the default pipeline, Optuna TPE + Hyperband pruner + early stopping, MLflow tracking,
  checkpoints; the budget is ``budget.timeout``;
- ``kerashpo-kt-hyperband`` : the same pipeline with ``driver: keras_tuner``, ``tuner: hyperband``;
- ``keras-tuner-random`` : plain ``keras_tuner.RandomSearch`` as its documentation shows it, a ``HyperModel``
  whose ``fit`` applies the sampled batch size, every trial trained for the full epochs, no early stopping;
- ``optuna-tpe`` : a plain Optuna objective (TPE, no pruner) that trains the full epochs and returns the best
  epoch's validation loss (``EarlyStopping(patience=epochs, restore_best_weights=True)`` keeps its weights).

Every arm runs in its own fresh process; no arm starts a trial after its budget, the trial under way finishes.
Each arm's best model is evaluated once on the test split. The clock starts just before the search call
(for kerashpo, before ``run_pipeline``: it includes creating the MLflow store; the final export is after the
last trial and outside the "to reach" figures). "To reach" is the epochs trained and seconds spent until
the arm first finished a trial at least as good as the plain RandomSearch arm's final best, same seed.
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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ARMS = ("kerashpo", "kerashpo-kt-hyperband", "keras-tuner-random", "optuna-tpe")
BASELINE = "keras-tuner-random"
DEFAULT_SECONDS = {"digits": 60.0, "breast_cancer": 30.0}
MAX_EPOCHS, PATIENCE, OBJECTIVE = 40, 8, "val_loss"


# -- one arm, in its own process ---------------------------------------------------------------------------

def pipeline_config(arm: str, dataset: str, seed: int, seconds: float) -> Any:
    from kerashpo.pipelines.config import parse_config

    document: dict[str, Any] = {
        "name": f"efficiency-{dataset}", "dataset": {"name": dataset}, "space": "mlp", "seed": seed,
        "objective": {"metric": OBJECTIVE},
        "budget": {"trials": 100_000, "max_epochs": MAX_EPOCHS, "patience": PATIENCE, "timeout": seconds},
    }
    if arm == "kerashpo":
        document.update(driver="optuna", optuna={"sampler": "tpe", "pruner": "hyperband"})
    else:  # Hyperband brackets repeat until the time is up
        document.update(driver="keras_tuner", keras_tuner={"tuner": "hyperband", "hyperband_iterations": 100})
    return parse_config(document)


def run_kerashpo(arm: str, dataset: str, seed: int, seconds: float, workdir: Path) -> dict[str, Any]:
    # TensorFlow, Optuna, Keras Tuner and MLflow load before the clock starts, as for the plain arms.
    import keras_tuner  # noqa: F401
    import optuna  # noqa: F401
    from mlflow import MlflowClient

    import kerashpo.search.trials  # noqa: F401
    from kerashpo.pipelines.run import run_pipeline

    config = pipeline_config(arm, dataset, seed, seconds)
    started = time.time()
    report = run_pipeline(config, workdir=workdir)
    wall = time.time() - started
    client = MlflowClient(report.stores.tracking_uri)
    experiment = client.get_experiment_by_name(report.experiment).experiment_id
    runs = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{report.parent_run_id}'",
                              max_results=50_000)
    trials = []
    for run in sorted(runs, key=lambda r: r.info.end_time or 0):
        metrics = run.data.metrics
        complete = run.data.tags.get("state") == "COMPLETE"
        trials.append({"end": (run.info.end_time or 0) / 1000 - started,
                       "epochs": int(metrics.get("epochs_run", 0)),
                       "value": metrics.get(f"best_{OBJECTIVE}") if complete else None})
    test = report.export.test_metrics if report.export else {}
    return {"trials": trials, "best": report.outcome.best_value, "test_accuracy": test.get("test_accuracy"),
            "wall": wall}


def splits_and_spec(dataset: str, seed: int) -> tuple[Any, Any]:
    from kerashpo.pipelines.data import data_spec, load_dataset, split_dataset

    config = pipeline_config("kerashpo", dataset, seed, 1.0)
    data = load_dataset(config)
    splits = split_dataset(data, config.split.validation, config.split.test, seed)
    return splits, data_spec(data, splits)


class Timeline:
    """Trials as they finish: (seconds since the clock started, epochs trained, best val_loss)."""

    def __init__(self) -> None:
        self.started = time.time()
        self.trials: list[dict[str, Any]] = []

    def add(self, history: dict[str, list[float]]) -> float | None:
        values = [v for v in history.get(OBJECTIVE, []) if math.isfinite(v)]
        value = min(values) if values else None
        self.trials.append({"end": time.time() - self.started, "epochs": len(history.get("loss", [])),
                            "value": value})
        return value


def run_keras_tuner_random(dataset: str, seed: int, seconds: float, workdir: Path) -> dict[str, Any]:
    import keras
    import keras_tuner as kt

    from kerashpo.search.sources import KerasTunerSampling
    from kerashpo.spaces import MLP

    splits, spec = splits_and_spec(dataset, seed)
    timeline_holder: list[Timeline] = []

    class MLPHyperModel(kt.HyperModel):
        def build(self, hp: Any) -> Any:
            return MLP.build(KerasTunerSampling(hp).sample_space(MLP.space), spec)

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            params = KerasTunerSampling(hp).sample_space(MLP.space)
            options = MLP.fit_options(params, MAX_EPOCHS, OBJECTIVE, "minimize")
            kwargs["callbacks"] = [*kwargs.get("callbacks", []), *options.callbacks]
            history = model.fit(*args, batch_size=options.batch_size, **kwargs)
            timeline_holder[0].add(history.history)
            return history

    class TimedRandomSearch(kt.RandomSearch):
        # RandomSearch stops at max_trials; the wall-clock budget ends it instead.
        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            if time.time() - timeline_holder[0].started >= seconds:
                self.oracle.max_trials = len(self.oracle.trials)

    tuner = TimedRandomSearch(MLPHyperModel(), objective=kt.Objective(OBJECTIVE, "min"), max_trials=100_000,
                              seed=seed, directory=str(workdir), project_name="random", overwrite=True)
    timeline_holder.append(Timeline())
    tuner.search(splits.x_train, splits.y_train, epochs=MAX_EPOCHS, validation_data=(splits.x_val, splits.y_val),
                 verbose=0)
    wall = time.time() - timeline_holder[0].started
    best_model = tuner.get_best_models(1)[0]
    test = best_model.evaluate(splits.x_test, splits.y_test, verbose=0, return_dict=True)
    best = tuner.oracle.get_best_trials(1)[0].score
    keras.backend.clear_session()
    return {"trials": timeline_holder[0].trials, "best": best, "test_accuracy": test["accuracy"], "wall": wall}


def run_optuna_tpe(dataset: str, seed: int, seconds: float, workdir: Path) -> dict[str, Any]:
    import keras
    import optuna

    from kerashpo.search.sources import OptunaSampling
    from kerashpo.spaces import MLP

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    splits, spec = splits_and_spec(dataset, seed)
    best_path = workdir / "best.keras"

    def objective(trial: Any) -> float:
        keras.backend.clear_session()
        params = OptunaSampling(trial).sample_space(MLP.space)
        model = MLP.build(params, spec)
        options = MLP.fit_options(params, MAX_EPOCHS, OBJECTIVE, "minimize")
        keep_best = keras.callbacks.EarlyStopping(OBJECTIVE, patience=MAX_EPOCHS, restore_best_weights=True)
        history = model.fit(splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val),
                            epochs=MAX_EPOCHS, batch_size=options.batch_size,
                            callbacks=[*options.callbacks, keep_best], verbose=0)
        value = timeline.add(history.history)
        if value is None:
            return float("nan")  # Optuna records the trial as failed
        if not study.best_trials or value < study.best_value:
            model.save(best_path)
        return value

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    timeline = Timeline()
    study.optimize(objective, timeout=seconds)
    wall = time.time() - timeline.started
    test = keras.saving.load_model(best_path).evaluate(splits.x_test, splits.y_test, verbose=0, return_dict=True)
    return {"trials": timeline.trials, "best": study.best_value, "test_accuracy": test["accuracy"], "wall": wall}


def run_arm(arm: str, dataset: str, seed: int, seconds: float) -> dict[str, Any]:
    from kerashpo.pipelines.quiet import quiet_libraries

    quiet_libraries()
    with tempfile.TemporaryDirectory() as workdir:
        if arm == "keras-tuner-random":
            return run_keras_tuner_random(dataset, seed, seconds, Path(workdir))
        if arm == "optuna-tpe":
            return run_optuna_tpe(dataset, seed, seconds, Path(workdir))
        return run_kerashpo(arm, dataset, seed, seconds, Path(workdir))


# -- the comparison ----------------------------------------------------------------------------------------

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
    """Median of per-seed ratios; a seed where the arm never reached the target counts as 0."""
    middle = statistics.median(values)
    return "not reached" if middle == 0 else f"{middle:.2f}x"


def table(dataset: str, results: dict[tuple[int, str], dict[str, Any]], seeds: list[int], seconds: float) -> str:
    lines = [f"### {dataset}: {seconds:.0f} s per arm, seeds {', '.join(map(str, seeds))} "
             f"(median, range in brackets)", "",
             "| arm | best val_loss | test accuracy | trials finished | epochs trained | epochs to reach RS best "
             "| seconds to reach RS best | fewer epochs than RS | less time than RS |",
             "|---|---|---|---:|---:|---|---|---:|---:|"]
    for arm in ARMS:
        rows = [results[(seed, arm)] for seed in seeds]
        targets = [results[(seed, BASELINE)]["best"] for seed in seeds]
        reached = [reach(r["trials"], t) for r, t in zip(rows, targets)]
        baseline = [reach(results[(seed, BASELINE)]["trials"], t) for seed, t in zip(seeds, targets)]
        epoch_ratio = [b[0] / a[0] for a, b in zip(reached, baseline)]
        time_ratio = [b[1] / a[1] for a, b in zip(reached, baseline)]
        lines.append(
            f"| {arm} | {summary([r['best'] for r in rows], 4)} | {summary([r['test_accuracy'] for r in rows], 4)} "
            f"| {statistics.median(len(r['trials']) for r in rows):.0f} "
            f"| {statistics.median(sum(t['epochs'] for t in r['trials']) for r in rows):.0f} "
            f"| {summary([e for e, _ in reached], 0)} | {summary([s for _, s in reached], 1)} "
            f"| {ratio(epoch_ratio)} | {ratio(time_ratio)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DEFAULT_SECONDS), choices=list(DEFAULT_SECONDS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--seconds", nargs="*", default=[], metavar="DATASET=SECONDS",
                        help="wall-clock budget per arm (default: digits=60 breast_cancer=30)")
    parser.add_argument("--save", type=Path, help="also write every arm's trials as JSON here")
    parser.add_argument("--arm", choices=ARMS, help=argparse.SUPPRESS)  # one arm, in this process
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.arm:
        print(json.dumps(run_arm(args.arm, args.dataset, args.seed, args.budget)))
        return

    budgets = {**DEFAULT_SECONDS, **{k: float(v) for k, v in (item.split("=") for item in args.seconds)}}
    results: dict[str, dict[tuple[int, str], dict[str, Any]]] = {}
    started = time.time()
    for dataset in args.datasets:
        results[dataset] = {}
        for index, seed in enumerate(args.seeds):
            # Arms take turns going first, so none always runs on a cooler or warmer machine.
            order = ARMS[index % len(ARMS):] + ARMS[:index % len(ARMS)]
            for arm in order:
                done = subprocess.run(
                    [sys.executable, __file__, "--arm", arm, "--dataset", dataset, "--seed", str(seed),
                     "--budget", str(budgets[dataset])],
                    cwd=REPO, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    sys.exit(f"{arm} on {dataset} (seed {seed}) failed:\n{done.stderr[-3000:]}")
                result = results[dataset][(seed, arm)] = json.loads(done.stdout.strip().splitlines()[-1])
                print(f"{dataset} seed {seed} {arm}: {len(result['trials'])} trials, best {result['best']:.4f}, "
                      f"test accuracy {result['test_accuracy']:.4f}, {result['wall']:.0f} s "
                      f"[{time.time() - started:.0f} s so far]", file=sys.stderr, flush=True)
    if args.save:
        args.save.write_text(json.dumps({d: {f"{s}/{a}": r for (s, a), r in rs.items()}
                                         for d, rs in results.items()}, indent=1))
    print(f"max {MAX_EPOCHS} epochs per trial, objective {OBJECTIVE}; RS = {BASELINE}\n")
    for dataset in args.datasets:
        print(table(dataset, results[dataset], args.seeds, budgets[dataset]) + "\n")


if __name__ == "__main__":
    main()
