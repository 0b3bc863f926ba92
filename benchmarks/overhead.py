"""Overhead per trial: the same model, data and epochs by a bare ``model.fit``, and as a kerashpo trial.

    python benchmarks/overhead.py                      # digits MLP, 20 epochs, 7 interleaved repeats
    python benchmarks/overhead.py --epochs 2 --repeats 9   # a trial the pruner stops early
    python benchmarks/overhead.py --dataset breast_cancer --epochs 40 --repeats 9

Five ways to train one fixed configuration (two hidden layers of 128 and 64, Adam, batch 32) on the same split:

- ``bare``: what a hand-written script does, ``build`` then ``model.fit(x, y, validation_data=...)`` on arrays;
- ``bare, cached tf.data``: the same, fed from the input pipeline kerashpo trains from, built once;
- ``kerashpo, tracking off``: one trial through the shared executor (the trial runner with early stopping
  that never triggers, the NaN guard and pruning hook, the checkpoint of a top-3 model, ``clear_session``);
- ``kerashpo, MLflow on``: the same with a real MLflow tracker on a SQLite store (a child run per trial,
  its parameters, every epoch's metrics, its final figures);
- ``kerashpo, MLflow on, validation as before``: the same, validating as the code did before
  ``search/training/validation.py`` (as ``fit(validation_data=...)`` does: training-size batches, through the model's
  own evaluation step, traced in the first epoch);
- ``kerashpo, MLflow on, graph rewrites on``: the same with Grappler's rewrites, which a search on CPU switches
  off (``pipelines/runtime/compute.py``) and the bare ways keep, as Keras does;
- ``kerashpo, MLflow on, before all three``: also with Keras's own validation, graph rewrites on, and the loss,
  metric and optimizer variables created inside the first trace as before ``build_training_state`` (so the
  training step is traced twice): the trial as it was when issue 15 was filed. Each change is measured against
  its own before in the same run.

The ways take turns, once each per repeat, in one process after one warm-up round; the tables show the
median seconds per trial and the ratios to ``bare``, then where each kerashpo trial's time goes: build and
compile, the training state, the first epoch (tracing the training step; before, the evaluation step too), the
later epochs, MLflow, the checkpoint and ``clear_session``. A trial's fixed cost is all of it but the later epochs
(where the traced evaluation step of a long trial now falls: see the whole trial's time too).
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


# The way being timed (None: the warm-up round); each kerashpo way's parts add up under its own name.
NOW: dict[str, str | None] = {"way": None}
PARTS = ("build and compile", "training state (eager)", "first epoch", "later epochs",
         "MLflow: open the trial's run, log params", "MLflow: log epochs' metrics and results, close",
         "checkpoint (save if top 3)", "clear_session")


def timed(owner: Any, name: str, spent: dict[str, dict[str, float]], label: str) -> None:
    """Wrap ``owner.name`` so the seconds it takes add up under ``label`` for the way being timed."""
    inner = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            if NOW["way"] is not None:
                spent[NOW["way"]][label] += time.perf_counter() - started

    setattr(owner, name, wrapper)


def clock_epochs(spent: dict[str, dict[str, float]]) -> None:
    """Every ``Model.fit`` of a timed way splits its time into the first epoch and the later ones."""
    import keras

    class EpochClock(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            self.last = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            now = time.perf_counter()
            if NOW["way"] is not None:
                spent[NOW["way"]]["first epoch" if epoch == 0 else "later epochs"] += now - self.last
            self.last = now

    fit = keras.Model.fit

    def fit_with_clock(model: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), EpochClock()]
        return fit(model, *args, **kwargs)

    keras.Model.fit = fit_with_clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", choices=("digits", "breast_cancer", "wine", "iris"))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps-per-execution", type=int, help="instead of the presets' value, for every way")
    args = parser.parse_args()

    from kerashpo.pipelines.runtime.quiet import quiet_libraries

    quiet_libraries()
    import keras
    import tensorflow as tf

    from kerashpo.pipelines.config import parse_config
    from kerashpo.pipelines.data.splits import data_spec, load_dataset, split_dataset
    from kerashpo.pipelines.runtime.compute import set_graph_rewrites
    from kerashpo.search import (
        MLflowTracker,
        NullTracker,
        SearchInfo,
        SearchJob,
        TrainingSetup,
        TrialData,
    )
    from kerashpo.search.executor import TrialExecutor
    from kerashpo.search.training import sources
    from kerashpo.search.training.sampling import FixedSampling
    from kerashpo.spaces import MLP
    from kerashpo.spaces.choices import Direction
    from kerashpo.spaces.presets import mlp

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
    spent: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    old_way = "kerashpo trial, MLflow on, validation as before"
    rewrites_on = "kerashpo trial, MLflow on, graph rewrites on"
    lazy = "kerashpo trial, MLflow on, before all three"

    def executor(tracker: Any, name: str) -> Callable[[int], None]:
        # Patience as long as the training: early stopping watches but never stops, so every way trains
        # the same epochs.
        setup = TrainingSetup(data=TrialData(splits.x_train, splits.y_train, splits.x_val, splits.y_val, spec),
                              objective="val_loss", direction="minimize", max_epochs=args.epochs,
                              patience=args.epochs)
        job = SearchJob(name=name, source=sources.SpaceSource(MLP), setup=setup, n_trials=10_000,
                        checkpoint_dir=workdir / name)
        tracker.start_search(SearchInfo(study=name, experiment="overhead", objective="val_loss",
                                        direction=Direction.MINIMIZE, params={"epochs": args.epochs}))
        run = TrialExecutor(job, tracker)
        timed(run.checkpoints, "offer", spent, "checkpoint (save if top 3)")
        if isinstance(tracker, MLflowTracker):
            timed(tracker, "start_trial", spent, "MLflow: open the trial's run, log params")
            timed(tracker, "end_trial", spent, "MLflow: log epochs' metrics and results, close")
        return lambda seed: run.execute(seed, FixedSampling(PARAMS))

    def tracked(name: str) -> Any:
        return MLflowTracker(f"sqlite:///{workdir}/{name}.db", artifact_location=str(workdir / name))

    untracked_trial, tracked_trial = executor(NullTracker(), "untracked"), executor(tracked("on"), "tracked")

    class TracedFromTheStart(keras.callbacks.Callback):
        """In place of ``Validation``: as ``fit(validation_data=...)`` validates, through the model's own
        evaluation step (traced in the first epoch, ``steps_per_execution`` batches per call)."""

        def __init__(self, batches: Any) -> None:
            super().__init__()
            self.batches = batches

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            scores = self.model.evaluate(self.batches, verbose=0, return_dict=True)
            logs.update({f"val_{name}": value for name, value in scores.items()})

    old_validation = {"Validation": TracedFromTheStart,
                      "validation_batch_size": lambda x, batch_size: batch_size}
    # As before build_training_state: Keras creates the state inside the first trace.
    old_state = {**old_validation, "build_training_state": lambda *_: None}

    def as_before(trial: Callable[[int], None], patches: dict[str, Any]) -> Callable[[int], None]:
        def way(seed: int) -> None:
            saved = {name: getattr(sources, name) for name in patches}
            for name, value in patches.items():
                setattr(sources, name, value)
            try:
                trial(seed)
            finally:
                for name, value in saved.items():
                    setattr(sources, name, value)
        return way

    ways: dict[str, Callable[[int], None]] = {
        "bare `model.fit`": bare,
        "bare `model.fit`, cached tf.data": bare_tf_data,
        "kerashpo trial, tracking off": untracked_trial,
        "kerashpo trial, MLflow on": tracked_trial,
        old_way: as_before(executor(tracked("old_validation"), "old_validation"), old_validation),
        rewrites_on: executor(tracked("rewrites_on"), "rewrites_on"),
        lazy: as_before(executor(tracked("lazy"), "lazy"), old_state),
    }
    timed(keras.backend, "clear_session", spent, "clear_session")
    timed(sources.SpaceSource, "build", spent, "build and compile")
    timed(sources, "build_training_state", spent, "training state (eager)")
    clock_epochs(spent)
    seconds: dict[str, list[float]] = defaultdict(list)
    for repeat in range(args.repeats + 1):  # round 0 warms up (first tracing, first store writes)
        for name, way in ways.items():
            NOW["way"] = name if repeat else None
            # Read when a step is first called: the kerashpo ways train as a search on CPU does, the others as Keras.
            set_graph_rewrites(name.startswith("bare") or name in (rewrites_on, lazy))
            started = time.perf_counter()
            way(repeat)
            elapsed = time.perf_counter() - started
            NOW["way"] = None
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
    trials = [name for name in ways if not name.startswith("bare")]
    print("\nWhere a kerashpo trial's time goes (ms per trial, mean over the repeats; the fixed cost is all "
          "but the later epochs):\n")
    print("| part | " + " | ".join(trials) + " |")
    print("|---|" + "---:|" * len(trials))
    for part in PARTS:
        print(f"| {part} | " + " | ".join(f"{1000 * spent[name][part] / args.repeats:.0f}" for name in trials) + " |")
    fixed = {name: sum(v for part, v in spent[name].items() if part != "later epochs") / args.repeats
             for name in trials}
    total = {name: sum(seconds[name]) / args.repeats for name in trials}
    print("| **fixed cost** | " + " | ".join(f"**{1000 * fixed[name]:.0f}**" for name in trials) + " |")
    print("| whole trial | " + " | ".join(f"{1000 * total[name]:.0f}" for name in trials) + " |")
    now = fixed["kerashpo trial, MLflow on"]
    print(f"\nfixed cost (MLflow on), now / validation as before: {now / fixed[old_way]:.2f}; now / graph rewrites "
          f"on: {now / fixed[rewrites_on]:.2f}; now / before all three: {now / fixed[lazy]:.2f}")

if __name__ == "__main__":
    main()
