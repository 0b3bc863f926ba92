"""What validating a new model costs each way: tracing Keras's evaluation step, then each epoch traced or eager.

    python benchmarks/validation_cost.py    # prints the table, writes results/validation_cost/validation_cost.json

For dense networks of 1, 3 and 6 hidden layers (batch norm and dropout) and a small CNN on digits, with 360 and
3600 validation rows in batches of 2048 (as ``search/training/validation.py`` batches them), each model new and
evaluated 6 times: the first evaluation (tracing included, or not when eager) and the median of the later ones,
medians of 3 fresh models per way; one batch per step, the
metrics' state made before, as a trial does. Break-even: the epochs after which tracing would have been cheaper. It is
what ``search/training/validation.py`` chose its rule from: the break-even ranges too widely for a fixed epoch count.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    import keras
    import numpy as np
    import tensorflow as tf
    from sklearn.datasets import load_digits

    from kerashpo.search.training.sources import build_training_state

    x, y = load_digits(return_X_y=True)
    x = (x / 16).astype("float32")

    def dense(units: list[int]) -> list:
        blocks = [layer for u in units for layer in (keras.layers.Dense(u, activation="relu"),
                                                     keras.layers.BatchNormalization(), keras.layers.Dropout(0.2))]
        return [keras.Input((64,)), *blocks, keras.layers.Dense(10, activation="softmax")]

    def cnn() -> list:
        return [keras.Input((8, 8, 1)), keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
                keras.layers.BatchNormalization(), keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
                keras.layers.MaxPooling2D(), keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"),
                keras.layers.Dense(10, activation="softmax")]

    models = {"dense 64": lambda: dense([64]), "dense 256-128-64": lambda: dense([256, 128, 64]),
              "dense 6x512": lambda: dense([512] * 6), "cnn 32-64": cnn}
    results = []
    for name, layers in models.items():
        for rows in (360, 3600):
            rows_x = np.concatenate([x[1400:1760]] * (rows // 360))
            rows_x = rows_x.reshape(-1, 8, 8, 1) if name.startswith("cnn") else rows_x
            rows_y = np.concatenate([y[1400:1760]] * (rows // 360))
            batches = tf.data.Dataset.from_tensor_slices((rows_x, rows_y)).batch(2048).cache()
            timings = {}
            for eager in (False, True):
                firsts, laters = [], []
                for _ in range(3):
                    keras.backend.clear_session()
                    model = keras.Sequential(layers())
                    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                                  metrics=["accuracy", keras.metrics.SparseCategoricalCrossentropy(name="log_loss")])
                    # The metrics' state made first, as a trial's is: otherwise the first trace creates it and
                    # the step is traced twice.
                    build_training_state(model, rows_x[:2], rows_y[:2])
                    model.run_eagerly = eager
                    seconds = []
                    for _ in range(6):
                        started = time.perf_counter()
                        model.evaluate(batches, verbose=0)
                        seconds.append(time.perf_counter() - started)
                    firsts.append(seconds[0])
                    laters.append(statistics.median(seconds[1:]))
                timings["eager" if eager else "traced"] = (statistics.median(firsts), statistics.median(laters))
            (traced_first, traced_later), (eager_first, eager_later) = timings["traced"], timings["eager"]
            results.append({"model": name, "rows": rows, "traced_first_s": traced_first,
                            "traced_later_s": traced_later, "eager_first_s": eager_first,
                            "eager_later_s": eager_later,
                            "break_even_epochs": (traced_first - eager_first) / max(1e-4, eager_later - traced_later)})
    out = Path(__file__).resolve().parent / "results" / "validation_cost" / "validation_cost.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print("| model | validation rows | traced: first, later (ms) | eager: first, later (ms) | break-even (epochs) |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['model']} | {r['rows']} | {1e3 * r['traced_first_s']:.0f}, {1e3 * r['traced_later_s']:.1f} "
              f"| {1e3 * r['eager_first_s']:.0f}, {1e3 * r['eager_later_s']:.1f} | {r['break_even_epochs']:.1f} |")


if __name__ == "__main__":
    main()
