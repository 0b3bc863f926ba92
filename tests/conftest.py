"""Shared fixtures: real datasets, a real MLflow store and a real Optuna journal under a temp directory."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.pop("MLFLOW_TRACKING_URI", None)

REPO = Path(__file__).resolve().parents[1]

# A narrowed space keeps trials small so the suite stays fast on 2 cores.
SMALL_SPACE = textwrap.dedent("""\
    extends: mlp
    params:
      n_layers: {type: int, low: 1, high: 2}
      units_*: {type: int, low: 16, high: 64, log: true}
      batch_size: [64, 128]
""")


def write_pipeline(directory: Path, name: str = "tiny", dataset: str = "digits", trials: int = 6,
                   max_epochs: int = 9, patience: int = 3, pruner: str = "hyperband", extra: str = "") -> Path:
    (directory / "small_space.yaml").write_text(SMALL_SPACE)
    path = directory / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        dataset: {{name: {dataset}}}
        space: small_space.yaml
        optuna: {{sampler: tpe, pruner: {pruner}}}
        budget: {{trials: {trials}, max_epochs: {max_epochs}, patience: {patience}}}
        seed: 7
    """) + extra)
    return path


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def tracking_uri(directory: Path) -> str:
    return f"sqlite:///{directory / 'mlruns' / 'mlflow.db'}"


def kill_during_second_trial(config: Path, directory: Path, experiment: str, total: int) -> None:
    """Start `kerashpo run` in a child process and SIGKILL it while trial 1 is training."""
    from mlflow import MlflowClient

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    worker = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", str(config)], cwd=directory,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env={**env, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"})
    for line in worker.stdout:
        if line.startswith(f"[1/{total}]"):
            break
    client = MlflowClient(tracking_uri(directory))
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    deadline, running = time.monotonic() + 60, []
    while not running and time.monotonic() < deadline:
        running = client.search_runs([experiment_id], "attributes.status = 'RUNNING' and tags.`trial_number` = '1'")
        time.sleep(0.1)
    worker.kill()
    worker.wait(timeout=30)
    assert running, "the worker never started its second trial"


class chdir:
    def __init__(self, path: Path):
        self.path, self.old = path, None

    def __enter__(self):
        self.old = os.getcwd()
        os.chdir(self.path)

    def __exit__(self, *exc):
        os.chdir(self.old)


@pytest.fixture(scope="session")
def real_searches(tmp_path_factory) -> Path:
    """One tiny search per kind of the user's own data, in one store, each exporting its champion:
    the churn CSV, the houses CSV (regression), the shapes image folder, and digits images in an NPZ file."""
    import numpy as np
    from sklearn.datasets import load_digits

    from pipelines.cli import main

    directory = tmp_path_factory.mktemp("real_data")
    digits = load_digits()
    np.savez(directory / "digits.npz", pixels=digits.images.astype("uint8"), label=digits.target)
    (directory / "digits_npz.yaml").write_text(textwrap.dedent("""\
        name: digits_npz
        dataset: {path: digits.npz, x_key: pixels, y_key: label}
        space: cnn
        budget: {trials: 2, max_epochs: 4, patience: 2}
        seed: 5
    """))
    configs = [REPO / "pipelines" / "churn.yaml", REPO / "pipelines" / "houses.yaml",
               REPO / "pipelines" / "shapes.yaml", directory / "digits_npz.yaml"]
    with chdir(directory):
        for config in configs:
            assert main(["run", str(config), "--trials", "2", "--max-epochs", "3"]) == 0, config
    return directory
