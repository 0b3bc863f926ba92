"""Overhead per trial: the same model, data and epochs by a bare ``model.fit``, and as a kerashpo trial.

    python benchmarks/overhead.py                      # digits MLP, 20 epochs, 7 interleaved repeats
    python benchmarks/overhead.py --dataset breast_cancer --epochs 40 --repeats 9

Four ways to train one fixed configuration (two hidden layers of 128 and 64, Adam, batch 32) on the same split:

- ``bare``: what a hand-written script does, ``build`` then ``model.fit(x, y, validation_data=...)`` on arrays;
- ``bare, cached tf.data``: the same, fed from the input pipeline kerashpo trains from, built once;
- ``kerashpo, tracking off``: one trial through the shared executor (the trial runner with early stopping
  that never triggers, the NaN guard and pruning hook, the checkpoint of a top-3 model, ``clear_session``);
- ``kerashpo, MLflow on``: the same with a real MLflow tracker on a SQLite store (a child run per trial,
  its parameters, every epoch's metrics, its final figures).

The ways take turns, once each per repeat, in one process after one warm-up round; the table shows the
median seconds per trial and the ratios to ``bare``, then where a tracked trial's time goes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PARAMS = {"n_layers": 2, "units_1": 128, "units_2": 64, "activation": "relu", "initializer": "glorot_uniform",
          "dropout": 0.1, "batch_norm": False, "l1_enabled": False, "l2_enabled": False, "optimizer": "adam",
          "learning_rate": 1e-3, "lr_schedule": "constant", "clipnorm": 0.0, "batch_size": 32}


def timed(owner: Any, name: str, spent: dict[str, float], label: str) -> None:
    """Wrap ``owner.name`` so the seconds it takes add up under ``label``."""
    inner = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - started

    setattr(owner, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=("digits", "breast_cancer", "wine", "iris"))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps-per-execution", type=int, help="instead of the presets' value, for every way")
    args = parser.parse_args()

    from kerashpo.pipelines.quiet import quiet_libraries

    quiet_libraries()
    import keras
    import tensorflow as tf

    from kerashpo.pipelines.config import parse_config
    from kerashpo.pipelines.data import data_spec, load_dataset, split_dataset
    from kerashpo.search import (
        MLflowTracker,
        NullTracker,
        SearchInfo,
        SearchJob,
        TrainingSetup,
        TrialData,
    )
    from kerashpo.search.sources import FixedSampling
    from kerashpo.search.trials import TrialExecutor
    from kerashpo.spaces import MLP, mlp

    if args.steps_per_execution:
        mlp.STEPS_PER_EXECUTION = args.steps_per_execution
    config = parse_config({"name": "overhead", "dataset": {"name": args.dataset}})
    dataset = load_dataset(config)
    splits = split_dataset(dataset, 0.2, 0.2, seed=0)
    spec = data_spec(dataset, splits)

    def bare(seed: int) -> None:
        keras.utils.set_random_seed(seed)
        model = MLP.build(PARAMS, spec)
        model.fit(splits.x_train, splits.y_train, validation_data=(splits.x_val, splits.y_val), epochs=args.epochs,
                  batch_size=PARAMS["batch_size"], verbose=0)

    # The stricter baseline: the input pipeline kerashpo trains from (cached tensors, shuffled, prefetched),
    # made once, so what remains between it and a kerashpo trial is the trial machinery alone.
    train = tf.data.Dataset.from_tensor_slices((splits.x_train, splits.y_train)).cache()
    val = tf.data.Dataset.from_tensor_slices((splits.x_val, splits.y_val)).cache()

    def bare_tf_data(seed: int) -> None:
        keras.utils.set_random_seed(seed)
        model = MLP.build(PARAMS, spec)
        batch = PARAMS["batch_size"]
        model.fit(train.shuffle(len(splits.y_train), seed=seed).batch(batch).prefetch(tf.data.AUTOTUNE),
                  validation_data=val.batch(batch).prefetch(tf.data.AUTOTUNE), epochs=args.epochs, verbose=0)

    workdir = Path(tempfile.mkdtemp(prefix="kerashpo-overhead-"))
    spent: dict[str, float] = defaultdict(float)

    def executor(tracker: Any, name: str) -> Callable[[int], None]:
        # Patience as long as the training: early stopping watches but never stops, so every way trains
        # the same epochs.
        setup = TrainingSetup(data=TrialData(splits.x_train, splits.y_train, splits.x_val, splits.y_val, spec),
                              objective="val_loss", direction="minimize", max_epochs=args.epochs,
                              patience=args.epochs)
        job = SearchJob(name=name, source=MLP, setup=setup, n_trials=10_000, checkpoint_dir=workdir / name)
        tracker.start_search(SearchInfo(study=name, experiment="overhead", objective="val_loss",
                                        direction="minimize", params={"epochs": args.epochs}))
        run = TrialExecutor(job, tracker)
        if isinstance(tracker, MLflowTracker):
            timed(run.checkpoints, "offer", spent, "checkpoint (save if top 3)")
            timed(tracker, "start_trial", spent, "MLflow: open the trial's run, log params")
            timed(tracker, "end_trial", spent, "MLflow: log epochs' metrics and results, close")
        return lambda seed: run.execute(seed, FixedSampling(PARAMS))

    tracked = MLflowTracker(f"sqlite:///{workdir}/mlflow.db", artifact_location=str(workdir / "artifacts"))
    ways: dict[str, Callable[[int], None]] = {
        "bare `model.fit`": bare,
        "bare `model.fit`, cached tf.data": bare_tf_data,
        "kerashpo trial, tracking off": executor(NullTracker(), "untracked"),
        "kerashpo trial, MLflow on": executor(tracked, "tracked"),
    }
    timed(keras.backend, "clear_session", spent, "clear_session")
    seconds: dict[str, list[float]] = defaultdict(list)
    for repeat in range(args.repeats + 1):  # round 0 warms up (first tracing, first store writes)
        for name, way in ways.items():
            if repeat == 1:
                spent.clear()
            started = time.perf_counter()
            way(repeat)
            elapsed = time.perf_counter() - started
            if name.startswith("bare"):
                keras.backend.clear_session()  # as every trial of the other ways does, outside the timing
            if repeat:
                seconds[name].append(elapsed)

    base = statistics.median(seconds["bare `model.fit`"])
    base_tf_data = statistics.median(seconds["bare `model.fit`, cached tf.data"])
    print(f"{args.dataset}: {len(splits.y_train)} training rows, {args.epochs} epochs, batch "
          f"{PARAMS['batch_size']}, steps_per_execution {mlp.STEPS_PER_EXECUTION}; median of {args.repeats} "
          f"interleaved repeats\n")
    print("| way | seconds per trial (median) | range | vs bare | vs bare on tf.data |")
    print("|---|---:|---:|---:|---:|")
    for name, values in seconds.items():
        middle = statistics.median(values)
        print(f"| {name} | {middle:.3f} | {min(values):.3f}–{max(values):.3f} | {middle / base:.3f} "
              f"| {middle / base_tf_data:.3f} |")
    tracked_total = sum(seconds["kerashpo trial, MLflow on"])
    print("\nWhere a tracked trial's time goes beyond build and fit (mean per trial; clear_session is "
          "counted over every way):\n")
    print("| part | ms per trial | share of a tracked trial |")
    print("|---|---:|---:|")
    for label, total in spent.items():
        calls = args.repeats * (len(ways) if label == "clear_session" else 1)
        print(f"| {label} | {1000 * total / calls:.0f} | {100 * total / calls / (tracked_total / args.repeats):.1f}% |")


if __name__ == "__main__":
    main()
