"""Shared fixtures: real datasets, a real MLflow store and a real Optuna journal under a temp directory."""

from __future__ import annotations

import os
import textwrap
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
