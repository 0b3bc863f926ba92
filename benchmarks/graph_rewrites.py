"""What TensorFlow's graph rewrites (Grappler) cost and save per trial: the first epoch against the later ones.

    python benchmarks/graph_rewrites.py     # prints the table, writes results/graph_rewrites/graph_rewrites.json

A trial's first epoch on TensorFlow traces the training step and then instantiates it, and instantiation runs
Grappler's rewrites (constant folding, op fusion...) over the graph. For dense networks of several sizes and a
small CNN, on 3,600 generated rows (64 features, 10 classes, batch 32, ``steps_per_execution`` as the presets
compile it, state built eagerly as a trial does), new models take turns with the rewrites on and off
(``tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": ...})``) in one process: the first
epoch and the mean of the next five, medians over the repeats after a warm-up pair. Break-even: the epochs
after which the rewrites have paid for what they cost the first epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
MODELS = {"dense 128-64": [128, 64], "dense 256-256-64": [256, 256, 64], "dense 512-256": [512, 256],
          "dense 3x512": [512, 512, 512], "cnn 32-64": None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=8, help="models per way and network, after a warm-up pair")
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from kerashpo.pipelines.runtime.compute import set_graph_rewrites
    from kerashpo.search.training.sources import build_training_state
    from kerashpo.spaces.choices import Task
    from kerashpo.spaces.presets.mlp import STEPS_PER_EXECUTION, loss_and_metrics

    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 3600).astype("int32")
    loss, metrics = loss_and_metrics(Task.MULTICLASS)
    results = []
    for name, units in MODELS.items():
        x = rng.normal(size=(3600, 8, 8, 1) if units is None else (3600, 64)).astype("float32")
        batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(32).cache().prefetch(2)

        def new_model(x: np.ndarray, units: list[int] | None) -> keras.Model:
            inputs = keras.Input(x.shape[1:])
            h = inputs
            if units is None:
                h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(h)
                h = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(h)
                h = keras.layers.Dense(64, activation="relu")(keras.layers.Flatten()(keras.layers.MaxPooling2D()(h)))
            for width in units or []:
                h = keras.layers.Dropout(0.1)(keras.layers.Dense(width, activation="relu")(h))
            model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(h))
            model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, metrics=metrics,
                          steps_per_execution=STEPS_PER_EXECUTION)
            build_training_state(model, x[:2], y[:2])
            return model

        timings: dict[bool, tuple[list[float], list[float]]] = {True: ([], []), False: ([], [])}
        for turn in range(2 * (args.repeats + 1)):
            rewrites = turn % 2 == 0
            set_graph_rewrites(rewrites)
            model = new_model(x, units)
            started = time.perf_counter()
            model.fit(batches, epochs=1, verbose=0)
            first = time.perf_counter()
            model.fit(batches, epochs=5, verbose=0)
            if turn >= 2:
                timings[rewrites][0].append(first - started)
                timings[rewrites][1].append((time.perf_counter() - first) / 5)
            keras.backend.clear_session()
        row = {"model": name, "parameters": int(model.count_params())}
        for rewrites, label in ((True, "on"), (False, "off")):
            row[f"first_{label}"] = statistics.median(timings[rewrites][0])
            row[f"later_{label}"] = statistics.median(timings[rewrites][1])
        results.append(row)
        print(name, {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    set_graph_rewrites(True)
    out = HERE / "results" / "graph_rewrites" / "graph_rewrites.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print("\n| model | parameters | rewrites on: first, later epoch (ms) | off: first, later (ms) | "
          "first epoch saved by off | later epochs slower by | break-even (epochs) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        saved, slower = r["first_on"] - r["first_off"], r["later_off"] - r["later_on"]
        even = f"{saved / slower:.1f}" if slower > 0 and saved > 0 else ("never" if saved <= 0 else "-")
        print(f"| {r['model']} | {r['parameters']:,} | {1000 * r['first_on']:.0f}, {1000 * r['later_on']:.1f} | "
              f"{1000 * r['first_off']:.0f}, {1000 * r['later_off']:.1f} | {1000 * saved:.0f} ms | "
              f"{100 * slower / r['later_on']:.0f}% | {even} |")


if __name__ == "__main__":
    main()
