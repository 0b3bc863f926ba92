"""Start-up: `kerashpo --help` and `kerashpo leaderboard` wall time against `python -c "import tensorflow"`.

    python benchmarks/startup.py                 # 5 interleaved repeats
    python benchmarks/startup.py --repeats 9

Each command is a fresh process, as a user types it. The leaderboard reads a real MLflow store holding one
small finished search (made first, not timed). `--help` must not import TensorFlow, Optuna or MLflow.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

KERASHPO = [sys.executable, "-m", "kerashpo.pipelines.cli"]
REPO = Path(__file__).resolve().parents[1]


def seconds(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)})
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        (directory / "tiny.yaml").write_text(textwrap.dedent("""\
            name: tiny
            dataset: {name: iris}
            optuna: {sampler: random, pruner: none}
            budget: {trials: 3, max_epochs: 2}
            export: {register_model: false}
        """))
        seconds([*KERASHPO, "run", "tiny.yaml"], directory)
        commands = {
            "`kerashpo --help`": [*KERASHPO, "--help"],
            "`kerashpo leaderboard --experiment tiny`": [*KERASHPO, "leaderboard", "--experiment", "tiny"],
            '`python -c "import tensorflow"`': [sys.executable, "-c", "import tensorflow"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):
            for name, command in commands.items():
                times[name].append(seconds(command, directory))
    base = statistics.median(times['`python -c "import tensorflow"`'])
    print(f"median of {args.repeats} interleaved runs, each a fresh process\n")
    print("| command | seconds (median) | range | vs import tensorflow |")
    print("|---|---:|---:|---:|")
    for name, values in times.items():
        middle = statistics.median(values)
        print(f"| {name} | {middle:.2f} | {min(values):.2f}–{max(values):.2f} | {middle / base:.2f} |")


if __name__ == "__main__":
    main()
