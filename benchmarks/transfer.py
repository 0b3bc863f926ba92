"""Transfer learning on generated images: phase 1 (head on the frozen base) against phase 2 (fine-tuning).

No pretrained weights can be downloaded here, so the script makes its own: a MobileNetV3Small trained from
scratch on a source task (16x16 circles, squares and triangles, 200 of each, drawn like `examples/shapes`,
resized to 32x32 in the model), its base saved without the top. The target task is new and small: outlined
(not filled) circles, squares, triangles and crosses, 30 of each. Two default-budget `kerashpo run`s on the
target, each in a fresh store: the `transfer` preset with those weights (the search draws `unfreeze`, 0 being
feature extraction only) and with `weights: none` (the same architecture from scratch). For each transfer
trial the best validation score of each phase is read from its per-epoch MLflow metrics. Writes
`benchmarks/results/transfer/transfer.json` and prints a Markdown table.

    python benchmarks/transfer.py            # about 10 minutes on 2 cores
    python benchmarks/transfer.py --table    # the table from the saved JSON
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "transfer" / "transfer.json"
SHAPES = ("circle", "square", "triangle", "cross")
MAX_EPOCHS, TRIALS = 12, 8


def draw(directory: Path, shapes: tuple[str, ...], per_class: int, filled: bool, seed: int) -> None:
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    for shape in shapes:
        (directory / shape).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            background = tuple(int(v) for v in rng.integers(0, 90, 3))
            colour = tuple(int(v) for v in rng.integers(140, 256, 3))
            image = Image.new("RGB", (16, 16), background)
            pen = ImageDraw.Draw(image)
            half = int(rng.integers(4, 7))
            cx, cy = (int(v) for v in rng.integers(half + 1, 16 - half - 1, 2))
            box = (cx - half, cy - half, cx + half, cy + half)
            style = {"fill": colour} if filled else {"outline": colour, "width": 1}
            if shape == "circle":
                pen.ellipse(box, **style)
            elif shape == "square":
                pen.rectangle(box, **style)
            elif shape == "triangle":
                points = [(cx, cy - half), (cx - half, cy + half), (cx + half, cy + half)]
                pen.polygon(points, **style)
            else:
                pen.line([(cx - half, cy), (cx + half, cy)], fill=colour, width=2)
                pen.line([(cx, cy - half), (cx, cy + half)], fill=colour, width=2)
            image.save(directory / shape / f"{shape}_{i:03d}.png")


def pretrain(source: Path, weights: Path) -> dict:
    """The base trained from scratch on the source task; its weights saved without the top."""
    import keras

    from kerashpo.spaces.presets.transfer import build_base

    keras.utils.set_random_seed(0)
    data = keras.utils.image_dataset_from_directory(source, image_size=(16, 16), batch_size=32, seed=0,
                                                    validation_split=0.2, subset="both")
    train, val = data
    base = build_base("mobilenet_v3_small", 32, "none")
    for layer in base.layers:  # inference statistics that converge within the few hundred steps trained here
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Resizing(32, 32)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(base(x))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    started = time.perf_counter()
    history = model.fit(train, validation_data=val, epochs=20, verbose=0)
    base.save_weights(weights)
    return {"source_val_accuracy": float(max(history.history["val_accuracy"])),
            "pretrain_seconds": time.perf_counter() - started}


def search(target: Path, work: Path, name: str, weights: str) -> dict:
    (work / f"{name}.space.yaml").write_text(textwrap.dedent(f"""\
        extends: transfer
        params:
          base: {{type: fixed, value: mobilenet_v3_small}}
          weights: {{type: fixed, value: "{weights}"}}
          image_size: {{type: fixed, value: 32}}
          batch_size: [16]
    """))
    (work / f"{name}.yaml").write_text(textwrap.dedent(f"""\
        name: {name}
        dataset: {{path: {target}}}
        space: {name}.space.yaml
        optuna: {{sampler: tpe, pruner: none}}
        budget: {{trials: {TRIALS}, max_epochs: {MAX_EPOCHS}, patience: {MAX_EPOCHS}}}
        report: false
        export: {{formats: [keras]}}
        seed: 3
    """))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "kerashpo.pipelines.cli", "run", f"{name}.yaml"], cwd=work,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{name}: kerashpo run failed:\n{done.stderr[-2000:]}")
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{work / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name).experiment_id
    [parent] = client.search_runs([experiment], "tags.`kerashpo.role` = 'search'")
    [baseline] = client.search_runs([experiment], "tags.`kerashpo.role` = 'baseline' and tags.reference = 'linear'")
    head_epochs = min(MAX_EPOCHS - 1, math.ceil(MAX_EPOCHS * 0.5))
    trials = []
    for run in client.search_runs([experiment], "tags.`kerashpo.role` = 'trial'"):
        curves = {metric: [m.value for m in sorted(client.get_metric_history(run.info.run_id, metric),
                                                   key=lambda m: m.step)]
                  for metric in ("val_log_loss", "val_accuracy")}
        trials.append({
            "trial": int(run.data.tags["trial_number"]), "unfreeze": float(run.data.params.get("unfreeze", 0)),
            "fine_tune_factor": float(run.data.params.get("fine_tune_factor", 0)),
            "phase_1": {"val_log_loss": min(curves["val_log_loss"][:head_epochs]),
                        "val_accuracy": max(curves["val_accuracy"][:head_epochs])},
            "phase_2": {"val_log_loss": min(curves["val_log_loss"][head_epochs:], default=None),
                        "val_accuracy": max(curves["val_accuracy"][head_epochs:], default=None)},
        })
    metrics = parent.data.metrics
    return {"name": name, "weights": "pretrained" if weights != "none" else "none",
            "wall": time.perf_counter() - started, "best_trial": parent.data.tags.get("best_trial"),
            "best_val_log_loss": metrics.get("best_val_log_loss"), "test_accuracy": metrics.get("test_accuracy"),
            "baseline_test_accuracy": baseline.data.metrics.get("test_accuracy"),
            "trials": sorted(trials, key=lambda t: t["trial"])}


def table(results: dict) -> str:
    lines = [f"Source task (pretraining from scratch): validation accuracy "
             f"{results['source_val_accuracy']:.3f} in {results['pretrain_seconds']:.0f} s.", "",
             "| run | trial | unfreeze | phase 1 best val log loss / acc | phase 2 best val log loss / acc |",
             "|---|---|---|---|---|"]
    for run in results["runs"]:
        for t in run["trials"]:
            second = t["phase_2"]
            later = f"{second['val_log_loss']:.3f} / {second['val_accuracy']:.3f}" \
                if second["val_log_loss"] is not None else "-"
            # Without weights there is one phase: the columns are then the first and second half of the epochs.
            unfreeze = f"{t['unfreeze']:g}" if run["weights"] != "none" else "- (one phase)"
            lines.append(f"| {run['weights']} | {t['trial']} | {unfreeze} | "
                         f"{t['phase_1']['val_log_loss']:.3f} / {t['phase_1']['val_accuracy']:.3f} | {later} |")
    lines.append("")
    for run in results["runs"]:
        lines.append(f"- weights {run['weights']}: champion trial {run['best_trial']}, val log loss "
                     f"{run['best_val_log_loss']:.3f}, test accuracy {run['test_accuracy']:.3f} (logistic "
                     f"regression on the pixels {run['baseline_test_accuracy']:.3f}), {run['wall']:.0f} s")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", action="store_true", help="print the table of the saved results only")
    args = parser.parse_args()
    if not args.table:
        with tempfile.TemporaryDirectory() as scratch:
            work = Path(scratch)
            draw(work / "source", SHAPES[:3], 200, filled=True, seed=0)
            draw(work / "target", SHAPES, 30, filled=False, seed=1)
            results = pretrain(work / "source", work / "base.weights.h5")
            results["runs"] = [search(work / "target", work, "transfer-pretrained", str(work / "base.weights.h5")),
                               search(work / "target", work, "transfer-scratch", "none")]
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1))
    print(table(json.loads(RESULTS.read_text())))


if __name__ == "__main__":
    main()
