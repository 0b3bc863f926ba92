"""Trials per minute with 1 and 2 (or more) worker processes on one study, side by side in one run.

    python benchmarks/workers.py                      # digits MLP, 16 trials, 1 and 2 workers
    python benchmarks/workers.py --workers 1 2 4 --trials 24

Each arm is the real `kerashpo run` command (a fresh process, the embedded store in a throwaway folder)
on the same config: digits, a small MLP space, random sampling with no pruning so every arm trains the
same amount of work per trial, `--max-epochs` epochs each. Two times per arm: the whole command's wall time
(start-up, the checks, the baseline, the test evaluation, export and report included, which every arm pays
alike) and the search's own (from the first trial to the last, as the command prints it); trials per minute is
trials / the search's time. The arms take turns, ``--rounds`` times; the tables show medians and ranges.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
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


def run_arm(workers: int, trials: int, max_epochs: int) -> tuple[float, float]:
    """The whole command's wall time and the search's, in seconds."""
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
        search = re.search(r"^search bench: .* in (\d+)s$", done.stdout, re.MULTILINE)
        if search is None:
            raise SystemExit(f"{workers} workers: no search time in the output\n{done.stdout[-2000:]}")
        return seconds, float(search.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--max-epochs", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    print(f"digits MLP, {args.trials} trials of {args.max_epochs} epochs, {os.cpu_count()} CPU cores, "
          f"median of {args.rounds} interleaved rounds\n")
    times: dict[int, list[tuple[float, float]]] = {workers: [] for workers in args.workers}
    for _ in range(args.rounds):
        for workers in args.workers:
            times[workers].append(run_arm(workers, args.trials, args.max_epochs))
    print("| workers | whole command (s) | search (s) | trials per minute of search | vs 1 worker |")
    print("|---:|---:|---:|---:|---:|")
    base = None
    for workers, runs in times.items():
        whole, search = ([run[i] for run in runs] for i in (0, 1))
        rate = args.trials / statistics.median(search) * 60
        base = base or rate
        print(f"| {workers} | {statistics.median(whole):.1f} ({min(whole):.1f}–{max(whole):.1f}) "
              f"| {statistics.median(search):.0f} ({min(search):.0f}–{max(search):.0f}) | {rate:.1f} "
              f"| {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
