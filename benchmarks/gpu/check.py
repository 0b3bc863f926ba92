"""The GPU check: what a GPU gives kerashpo's trials and searches on JAX and torch, against the same machine's CPU.

``run.sh`` calls each part in a fresh process (Keras picks its backend, and JAX its platform, once per process),
each writing one JSON file under ``OUTDIR/parts``, then ``report`` joins them:

    python benchmarks/gpu/check.py sanity --out OUTDIR
    python benchmarks/gpu/check.py epochs --out OUTDIR --device gpu      # KERAS_BACKEND=jax or torch
    python benchmarks/gpu/check.py search --out OUTDIR --device gpu --data cnn --workers 1
    python benchmarks/gpu/check.py report --out OUTDIR                   # results.json and results.md

- ``sanity``: the versions, TensorFlow absent, the devices JAX and torch see.
- ``epochs``: through kerashpo's own trial runner, the first epoch (compilation included) and the median later
  epoch of the digits MLP, a small CNN on the digits images (mixed precision off and on) and an MLP on a
  generated table of 200,000 rows.
- ``search``: a ``kerashpo run`` of 45 s on JAX (``pipelines/examples/digits_cnn.yaml``, or the generated table)
  with the given workers: trials per minute, the best validation score, the exported model loaded and predicting,
  and the GPU's utilisation sampled every half second (``nvidia-smi``, where there is one).

``QUICK=1``: 20,000 table rows, 3 epochs, searches of 10 s: the CPU mode CI runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

QUICK = os.environ.get("QUICK") == "1"
ROWS = 20_000 if QUICK else 200_000
EPOCHS = 3 if QUICK else 6
# 45 s, not 60: five searches and the epoch timings fit the check's 8 minutes.
SEARCH_SECONDS = 10 if QUICK else 45
REPO = Path(__file__).resolve().parents[2]
MLP_PARAMS = {"n_layers": 2, "units_1": 256, "units_2": 128, "learning_rate": 1e-3, "batch_size": 256}
CNN_PARAMS = {"n_blocks": 2, "filters_1": 32, "filters_2": 64, "learning_rate": 1e-3, "batch_size": 128}


def device_label(device: str) -> str:
    return f"{os.environ.get('KERAS_BACKEND', 'tensorflow')} on {device}"


def write_part(out: Path, name: str, data: dict[str, Any]) -> None:
    parts = out / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    (parts / f"{name}.json").write_text(json.dumps(data, indent=2))
    print(f"{name}: {json.dumps(data)[:400]}", flush=True)


# -- sanity -------------------------------------------------------------------------------------------------------

def sanity(out: Path) -> None:
    import importlib.metadata
    import importlib.util

    found: dict[str, Any] = {"python": platform.python_version(), "quick": QUICK,
                             "tensorflow_installed": importlib.util.find_spec("tensorflow") is not None}
    for name in ("keras", "jax", "jaxlib", "torch", "optuna", "mlflow-skinny", "mlflow", "numpy", "scikit-learn"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    import jax
    import torch

    found["jax_devices"] = [f"{d.platform}: {d.device_kind}" for d in jax.devices()]
    found["torch_cuda"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    found["cpu_cores"] = os.cpu_count()
    write_part(out, "sanity", found)
    if found["tensorflow_installed"]:
        raise SystemExit("TensorFlow is installed: this check proves the trial path without it")


# -- epoch timings ------------------------------------------------------------------------------------------------

def generated_table(rows: int, seed: int = 0) -> tuple[Any, Any]:
    """A binary table of 16 numeric columns whose label depends on them non-linearly."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 16)).astype("float32")
    logit = x[:, 0] * x[:, 1] + np.sin(2 * x[:, 2]) + 0.5 * x[:, 3] ** 2 - 0.5 + 0.3 * rng.normal(size=rows)
    return x, (logit > 0).astype("int64")


def _setup(kind: str) -> tuple[Any, Any]:
    """The trial runner's setup and the preset for ``kind``: digits MLP, digits CNN or the generated table."""
    from kerashpo.pipelines.config import parse_config
    from kerashpo.pipelines.data.dataset import dataset_from_arrays
    from kerashpo.pipelines.data.splits import data_spec, load_dataset, split_dataset
    from kerashpo.search import TrainingSetup, TrialData
    from kerashpo.spaces.presets.registry import PRESETS

    if kind == "table":
        data = dataset_from_arrays("table", *generated_table(ROWS))
    else:
        data = load_dataset(parse_config({"name": kind, "dataset": {"name": "digits_images" if kind == "cnn"
                                                                     else "digits"}}))
    splits = split_dataset(data, 0.2, 0.2, seed=0)
    trial_data = TrialData(splits.x_train, splits.y_train, splits.x_val, splits.y_val, data_spec(data, splits))
    setup = TrainingSetup(trial_data, objective="val_log_loss", direction="minimize", max_epochs=EPOCHS,
                          patience=EPOCHS)
    return setup, PRESETS["cnn" if kind == "cnn" else "mlp"]


def epoch_seconds(kind: str, mixed_precision: bool = False) -> dict[str, Any]:
    """The first epoch (compilation included) and the median later epoch of one trial, timed at each epoch's
    end through the runner's pruning hook."""
    import keras

    from kerashpo.search import FixedSampling, SpaceSource, TrialOptions, run_trial

    setup, preset = _setup(kind)
    policy = keras.mixed_precision.global_policy()
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    marks: list[float] = []
    per_epoch = len(setup.data.y_train)

    def at_epoch_end(step: int, value: float) -> bool:
        if step % per_epoch == 0:  # steps count examples; on large tables some come inside an epoch
            marks.append(time.perf_counter())
        return False

    try:
        started = time.perf_counter()
        result = run_trial(setup, SpaceSource(preset), FixedSampling(CNN_PARAMS if kind == "cnn" else MLP_PARAMS),
                           TrialOptions(seed=0, should_prune=at_epoch_end))
    finally:
        keras.mixed_precision.set_global_policy(policy)
    epochs = [b - a for a, b in zip([started, *marks], marks)]
    return {"model": kind, "mixed_precision": mixed_precision, "rows": len(setup.data.y_train),
            "first_epoch_s": epochs[0] if epochs else None,
            "later_epoch_s": statistics.median(epochs[1:]) if len(epochs) > 1 else None,
            "epochs": len(epochs), "best_val_log_loss": result.value, "state": str(result.state)}


def epochs(out: Path, device: str) -> None:
    # Mixed precision is for GPUs: on CPU float16 is emulated (and torch has no float16 convolution there).
    rows = [epoch_seconds("mlp"), epoch_seconds("cnn"), *([epoch_seconds("cnn", mixed_precision=True)]
                                                          if device == "gpu" else []), epoch_seconds("table")]
    write_part(out, f"epochs-{os.environ.get('KERAS_BACKEND')}-{device}",
               {"backend": os.environ.get("KERAS_BACKEND"), "device": device, "rows": rows})


# -- searches -----------------------------------------------------------------------------------------------------

class Utilisation:
    """``nvidia-smi``'s GPU utilisation, sampled every half second while the block runs (nothing without it)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            try:
                read = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                      capture_output=True, text=True, timeout=5)
                self.samples.append(statistics.mean(float(v) for v in read.stdout.split()))
            except (OSError, ValueError, subprocess.SubprocessError, statistics.StatisticsError):
                return

    def __enter__(self) -> Utilisation:
        if shutil.which("nvidia-smi"):
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    @property
    def busy_share(self) -> float | None:
        """The share of samples in which the GPU was busy (utilisation above 0)."""
        return sum(s > 0 for s in self.samples) / len(self.samples) if self.samples else None


def search_config(work: Path, data: str, workers: int) -> Path:
    if data == "cnn":
        text = (REPO / "pipelines" / "examples" / "digits_cnn.yaml").read_text()
        text = text.replace("  trials: 20\n", "")
    else:
        import numpy as np
        import pandas as pd

        x, y = generated_table(ROWS)
        frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])]).assign(label=np.where(y, "yes", "no"))
        frame.to_csv(work / "table.csv", index=False)
        text = "name: table\ndataset: {path: table.csv, target: label}\nseed: 42\n"
    text += (f"\nbackend: {os.environ.get('KERAS_BACKEND', 'jax')}\nworkers: {workers}\nreport: false\n"
             f"export: {{formats: [keras, mlflow]}}\n")
    # The time budget alone decides how many trials run.
    text = (text.replace("budget:\n", f"budget:\n  timeout: {SEARCH_SECONDS}\n", 1) if "budget:\n" in text
            else text + f"budget: {{timeout: {SEARCH_SECONDS}}}\n")
    path = work / "search.yaml"
    path.write_text(text)
    return path


def search(out: Path, device: str, data: str, workers: int) -> None:
    from mlflow import MlflowClient

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        config = search_config(work, data, workers)
        started = time.perf_counter()
        with Utilisation() as gpu:
            done = subprocess.run([sys.executable, "-m", "kerashpo.pipelines.cli", "run", str(config)], cwd=work,
                                  capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"search {data} on {device} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
        client = MlflowClient(f"sqlite:///{work / 'mlruns' / 'mlflow.db'}")
        name = "digits_cnn" if data == "cnn" else "table"
        experiment = client.get_experiment_by_name(name).experiment_id
        trials = client.search_runs([experiment], "tags.`kerashpo.role` = 'trial'")
        (parent,) = client.search_runs([experiment], "tags.`kerashpo.role` = 'search'")
        predicted = subprocess.run(
            [sys.executable, "-c", PREDICT, str(work / "mlruns" / "exports" / name), data], cwd=work,
            capture_output=True, text=True)
        if predicted.returncode != 0:
            raise SystemExit(f"predicting with the exported {name} model failed:\n{predicted.stderr[-3000:]}")
    objective = parent.data.tags.get("objective", "val_log_loss")
    best = min((r.data.metrics[f"best_{objective}"] for r in trials if f"best_{objective}" in r.data.metrics),
               default=None)
    write_part(out, f"search-{data}-{os.environ.get('KERAS_BACKEND')}-{device}-w{workers}", {
        "data": data, "backend": os.environ.get("KERAS_BACKEND"), "device": device, "workers": workers,
        "budget_s": SEARCH_SECONDS, "wall_s": seconds, "trials": len(trials),
        "trials_per_minute": len(trials) / SEARCH_SECONDS * 60, f"best_{objective}": best,
        "gpu_busy_share": gpu.busy_share, "predicted": json.loads(predicted.stdout.strip().splitlines()[-1])})


# The exported model, loaded by kerashpo's serving code as `kerashpo predict` loads it, predicting five rows.
PREDICT = """
import json, sys
import numpy as np
from kerashpo.pipelines.serving import Champion
champion = Champion.load(sys.argv[1])
if sys.argv[2] == "cnn":
    from sklearn.datasets import load_digits
    rows = load_digits().images[:5, :, :, None].astype("float32")
else:
    import pandas as pd
    rows = pd.read_csv("table.csv").drop(columns="label").head(5)
frame = champion.predict(rows)
print(json.dumps({"rows": len(frame), "columns": list(frame.columns)}))
"""


# -- the report ---------------------------------------------------------------------------------------------------

def report(out: Path) -> None:
    parts = {p.stem: json.loads(p.read_text()) for p in sorted((out / "parts").glob("*.json"))}
    (out / "results.json").write_text(json.dumps(parts, indent=2))
    sanity_part = parts.get("sanity", {})
    lines = [f"# GPU check{' (QUICK)' if QUICK else ''}", "",
             f"Devices: JAX {sanity_part.get('jax_devices')}, torch {sanity_part.get('torch_cuda') or 'no GPU'}; "
             f"{sanity_part.get('cpu_cores')} CPU cores; keras {sanity_part.get('keras')}, jax "
             f"{sanity_part.get('jax')}, torch {sanity_part.get('torch')}; TensorFlow installed: "
             f"{sanity_part.get('tensorflow_installed')}.", "",
             "## Epochs through the trial runner (seconds)", "",
             "| backend | device | model | mixed precision | rows | first epoch | later epoch (median) |",
             "|---|---|---|---|---|---|---|"]
    for name, part in parts.items():
        if name.startswith("epochs-"):
            for row in part["rows"]:
                lines.append(f"| {part['backend']} | {part['device']} | {row['model']} | {row['mixed_precision']} | "
                             f"{row['rows']} | {_fmt(row['first_epoch_s'])} | {_fmt(row['later_epoch_s'])} |")
    lines += ["", f"## Searches of {SEARCH_SECONDS} s", "",
              "| data | backend | device | workers | trials | trials per minute | best validation | GPU busy |",
              "|---|---|---|---|---|---|---|---|"]
    for name, part in parts.items():
        if name.startswith("search-"):
            best = next((v for k, v in part.items() if k.startswith("best_")), None)
            busy = part["gpu_busy_share"]
            lines.append(f"| {part['data']} | {part['backend']} | {part['device']} | {part['workers']} | "
                         f"{part['trials']} | {part['trials_per_minute']:.1f} | {_fmt(best)} | "
                         f"{'-' if busy is None else f'{busy:.0%}'} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("sanity", "epochs", "search", "report"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cpu", help="a label: where JAX_PLATFORMS and the machine put it")
    parser.add_argument("--data", choices=("cnn", "table"), default="cnn")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if args.part == "sanity":
        sanity(args.out)
    elif args.part == "epochs":
        epochs(args.out, args.device)
    elif args.part == "search":
        search(args.out, args.device, args.data, args.workers)
    else:
        report(args.out)


if __name__ == "__main__":
    main()
