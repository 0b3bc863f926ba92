"""Shared fixtures: real datasets, a real MLflow store and a real Optuna journal under a temp directory.

Plain helpers (``write_pipeline``, ``tracking_uri``, ``chdir``...) are in ``helpers.py``; import them from there.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.pop("MLFLOW_TRACKING_URI", None)
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Several pytest processes share the cores: each TensorFlow gets a pool of its share, not one per core
    # (read when TensorFlow starts; the processes the tests start set their own).
    _share = str(max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", _share)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    # OpenBLAS's threads only spin on the tests' small matrices; a plugin may have loaded numpy already.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")

from helpers import REPO, chdir, copy_store  # noqa: E402  (after the environment TensorFlow reads)

# Fixtures that train once and are read by many tests. Under xdist every worker process would build its own copy,
# so the tests using one (directly or through another fixture) share an xdist group: one worker builds it once.
SHARED_FIXTURES = ("real_searches", "digits_run", "review_search", "servers", "contract_search")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups (--dist loadgroup)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for name in SHARED_FIXTURES:
            if name in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(name))
                # Reading a finished search means running it first: the whole search is the test's cost.
                item.add_marker(pytest.mark.slow)
    # The long tests first, the short ones after: two workers then finish together instead of one of them
    # running a long test alone at the end. Stable, so each module's tests keep their order among themselves.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory) -> Path:
    """The SQLite store a first `kerashpo run` creates, made once per pytest process: creating one runs MLflow's
    schema migrations (1.5-2.5 s), which tests that search in a fresh folder would otherwise each pay."""
    from mlflow import MlflowClient

    database = tmp_path_factory.mktemp("empty_store") / "mlflow.db"
    MlflowClient(f"sqlite:///{database}").search_experiments()
    return database


@pytest.fixture
def run_dir(tmp_path, empty_mlflow_db) -> Path:
    """``tmp_path`` holding ``mlruns/mlflow.db`` as a first run leaves it before its experiment (a copy)."""
    return copy_store(empty_mlflow_db, tmp_path)


@pytest.fixture
def in_run_dir(run_dir, monkeypatch) -> Path:
    monkeypatch.chdir(run_dir)
    return run_dir


@pytest.fixture(scope="session")
def real_searches(tmp_path_factory, empty_mlflow_db) -> Path:
    """One tiny search per kind of the user's own data, in one store, each exporting its champion:
    the churn CSV, the houses CSV (regression), the shapes image folder, and digits images in an NPZ file.

    Read by test_export.py, test_real_data.py and test_export_errors.py (their tests are in the xdist group
    ``real_searches``, so this runs once); tests that write into the folder write only new files.
    """
    import numpy as np
    from sklearn.datasets import load_digits

    from kerashpo.pipelines.cli import main

    directory = copy_store(empty_mlflow_db, tmp_path_factory.mktemp("real_data"))
    digits = load_digits()
    np.savez(directory / "digits.npz", pixels=digits.images.astype("uint8"), label=digits.target)
    (directory / "digits_npz.yaml").write_text(textwrap.dedent("""\
        name: digits_npz
        dataset: {path: digits.npz, x_key: pixels, y_key: label}
        space: cnn
        budget: {trials: 2, max_epochs: 4, patience: 2}
        seed: 5
    """))
    configs = [REPO / "pipelines" / "examples" / "churn.yaml", REPO / "pipelines" / "examples" / "houses.yaml",
               REPO / "pipelines" / "examples" / "shapes.yaml", directory / "digits_npz.yaml"]
    with chdir(directory):
        for config in configs:
            assert main(["run", str(config), "--trials", "1", "--max-epochs", "3", "--no-report"]) == 0, config
    for name in ("churn", "houses", "shapes", "digits_npz"):
        assert (directory / "mlruns" / "exports" / name / "model.keras").is_file(), name
    return directory
