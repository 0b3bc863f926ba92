"""Trials per minute with 1 and 2 (or more) worker processes on one study, side by side in one run.

    python benchmarks/workers.py                      # digits MLP, 16 trials, 1 and 2 workers
    python benchmarks/workers.py --workers 1 2 4 --trials 24

Each arm is the real `kerashpo run` command (a fresh process, the embedded store in a throwaway folder)
on the same config: digits, a small MLP space, random sampling with no pruning so every arm trains the
same amount of work per trial, `--max-epochs` epochs each. The time is the whole command's wall time,
start-up and export included; trials per minute is trials / that time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SPACE = textwrap.dedent("""\
    extends: mlp
    params:
      n_layers: {type: int, low: 1, high: 2}
      units_*: {type: int, low: 32, high: 128, log: true}
      batch_size: [32, 64]
""")


def run_arm(workers: int, trials: int, max_epochs: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        (directory / "space.yaml").write_text(SPACE)
        (directory / "bench.yaml").write_text(textwrap.dedent(f"""\
            name: bench
            dataset: {{name: digits}}
            space: space.yaml
            optuna: {{sampler: random, pruner: none}}
            budget: {{trials: {trials}, max_epochs: {max_epochs}, patience: {max_epochs}}}
            export: {{register_model: false}}
            seed: 1
        """))
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "kerashpo.pipelines.cli", "run", "bench.yaml",
                               "--workers", str(workers)],
                              cwd=directory, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{workers} workers: exit {done.returncode}\n{done.stderr[-2000:]}")
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--max-epochs", type=int, default=15)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    print(f"digits MLP, {args.trials} trials of {args.max_epochs} epochs, {os.cpu_count()} CPU cores\n")
    print("| workers | wall time (s) | trials per minute | vs 1 worker |")
    print("|---:|---:|---:|---:|")
    base = None
    for workers in args.workers:
        seconds = run_arm(workers, args.trials, args.max_epochs)
        rate = args.trials / seconds * 60
        base = base or rate
        print(f"| {workers} | {seconds:.1f} | {rate:.1f} | {rate / base:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
