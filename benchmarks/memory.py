"""Resident memory over many small trials in one process.

    python benchmarks/memory.py --driver keras_tuner --trials 100
    python benchmarks/memory.py --driver optuna --trials 100

Trains tiny MLPs on iris (2 epochs each) through the real pipeline pieces (the shared executor, MLflow
tracking to a throwaway SQLite store, checkpoints) and prints resident memory every 10 trials, then the growth
after trial 10 (the first trials load TensorFlow's kernels and MLflow's database; growth after them is what
would make a long search run out of memory).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", choices=("optuna", "keras_tuner"), default="keras_tuner")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--every", type=int, default=10)
    args = parser.parse_args()

    from pipelines.config import parse_config
    from pipelines.run import run_pipeline
    from spaces import MLP, Categorical, Int, Preset

    small = MLP.space.override([Int("n_layers", low=1, high=2), Int("units_1", low=8, high=32),
                                Int("units_2", low=8, high=32, when={"n_layers": (2,)}),
                                Categorical("batch_size", choices=(64,))])
    samples: list[tuple[int, float]] = []

    def sample(event) -> None:
        if event.finished_this_run % args.every == 0 or event.finished_this_run == 1:
            samples.append((event.finished_this_run, rss_mb()))

    with tempfile.TemporaryDirectory() as workdir:
        config = parse_config({
            "name": "memory", "dataset": {"name": "iris"}, "driver": args.driver,
            "optuna": {"sampler": "random", "pruner": "none"}, "keras_tuner": {"tuner": "random"},
            "budget": {"trials": args.trials, "max_epochs": 2, "patience": 2},
            "export": {"register_model": False},
        })
        run_pipeline(config, workdir=Path(workdir), source=Preset("small-mlp", small, MLP.build, MLP.fit_options),
                     on_trial_end=sample)

    print(f"| trial | RSS (MB) |  driver: {args.driver}, {args.trials} trials")
    print("|---:|---:|")
    for trial, mb in samples:
        print(f"| {trial} | {mb:.0f} |")
    base = next((mb for trial, mb in samples if trial >= args.every), samples[0][1])
    final = samples[-1][1]
    print(f"\ngrowth after trial {args.every}: {base:.0f} -> {final:.0f} MB = {100 * (final - base) / base:+.1f}%")


if __name__ == "__main__":
    main()
