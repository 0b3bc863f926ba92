"""Resident memory of the process training the trials, over many small trials.

    python benchmarks/memory.py --driver optuna --trials 200
    python benchmarks/memory.py --driver keras_tuner --trials 200
    python benchmarks/memory.py --driver optuna --trials 200 --trials-per-process 20   # a fresh process every 20

Trains tiny MLPs on iris (2 epochs each) through the real pipeline (the shared executor, MLflow tracking to
a throwaway SQLite store, checkpoints) and prints the resident memory of the process that ran the trial,
every 10 trials, then the growth after trial 10 (the first trials load TensorFlow's kernels and MLflow's
database; growth after them is what makes a long search run out of memory). Every trial runs in one process
by default; `--trials-per-process N` hands over to a fresh one every N trials (`budget.trials_per_process`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class RssLog:
    """Appends (trial, resident MB, pid) of the process that trained the trial (events reach the parent)."""

    def __init__(self, path: str, every: int):
        self.path, self.every = path, every

    def __call__(self, event) -> None:
        if event.finished % self.every == 0 or event.finished == 1:
            pid = int(event.worker.rpartition(":")[2])
            try:
                mb = rss_mb(pid)
            except OSError:  # that worker has just handed over and gone
                return
            with open(self.path, "a") as log:
                log.write(f"{event.finished} {mb:.1f} {pid}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", choices=("optuna", "keras_tuner"), default="keras_tuner")
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--trials-per-process", type=int, default=0, help="0: every trial in one process")
    args = parser.parse_args()

    from kerashpo.pipelines.config import parse_config
    from kerashpo.pipelines.run.pipeline import run_pipeline
    from kerashpo.spaces import MLP, Categorical, Int, Preset

    small = MLP.space.override([Int("n_layers", low=1, high=2), Int("units_1", low=8, high=32),
                                Int("units_2", low=8, high=32, when={"n_layers": (2,)}),
                                Categorical("batch_size", choices=(64,))])
    with tempfile.TemporaryDirectory() as workdir:
        config = parse_config({
            "name": "memory", "dataset": {"name": "iris"}, "driver": args.driver,
            "optuna": {"sampler": "random", "pruner": "none"}, "keras_tuner": {"tuner": "random"},
            "budget": {"trials": args.trials, "max_epochs": 2, "patience": 2,
                       "trials_per_process": args.trials_per_process or None},
            "export": {"register_model": False},
        })
        log_path = Path(workdir) / "rss.log"
        run_pipeline(config, workdir=Path(workdir), source=Preset("small-mlp", small, MLP.build, MLP.fit_options),
                     on_trial_end=RssLog(str(log_path), args.every))
        rows = (line.split() for line in log_path.read_text().splitlines())
        samples = [(int(t), float(mb), pid) for t, mb, pid in rows]

    per_process = args.trials_per_process or "all"
    print(f"driver {args.driver}, {args.trials} trials, trials per process: {per_process}\n")
    print("| trial | RSS (MB) | process |")
    print("|---:|---:|---:|")
    for trial, mb, pid in samples:
        print(f"| {trial} | {mb:.0f} | {pid} |")
    base = next((mb for trial, mb, _ in samples if trial >= args.every), samples[0][1])
    peak = max(mb for trial, mb, _ in samples if trial >= args.every)
    print(f"\nafter trial {args.every}: {base:.0f} MB; highest later: {peak:.0f} MB; "
          f"growth {100 * (peak - base) / base:+.1f}%")


if __name__ == "__main__":
    main()
