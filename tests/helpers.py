"""Plain helpers the tests import as ``helpers`` (``tests/`` is on ``sys.path`` through the ``pythonpath``
setting in ``pyproject.toml``, in every pytest process, xdist workers included). Fixtures live in conftest.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from kerashpo.pipelines.waiting import wait_until

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
                   max_epochs: int = 9, patience: int = 3, pruner: str = "hyperband", extra: str = "",
                   formats: str | None = "[keras]", report: bool = False, baseline: str = "[linear]") -> Path:
    """A pipeline config on a small space. It ships only the ``.keras`` file unless ``formats`` asks for more
    (``None``: the default formats, the MLflow model and its registration included), and the champion alone (the
    default ensemble is tested in test_ensemble.py); it draws the figures and report only with ``report``
    (tests/pipelines/test_report.py and the UI's tests read them); it fits the linear reference alone unless
    ``baseline`` asks for more (gradient boosting is tested in test_baseline.py)."""
    (directory / "small_space.yaml").write_text(SMALL_SPACE)
    path = directory / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        dataset: {{name: {dataset}}}
        space: small_space.yaml
        optuna: {{sampler: tpe, pruner: {pruner}}}
        budget: {{trials: {trials}, max_epochs: {max_epochs}, patience: {patience}}}
        seed: 7
        report: {str(report).lower()}
        baseline: {baseline}
    """) + (f"export: {{formats: {formats}, ensemble: 0}}\n" if formats else "export: {ensemble: 0}\n") + extra)
    return path


# Column names a SavedModel signature's arguments could collide with: the parameters of the functions they pass
# through by keyword (TensorFlow's methods: self, *args, **kwargs; the serving function: feed).
SIGNATURE_PARAMETERS = ["self", "Self", "args", "kwargs", "feed"]

# What TensorFlow, CUDA and absl print at start-up unless kerashpo quiets them.
TF_NOISE = ("I0000", "E0000", "cuda drivers", "cuInit", "Successfully registered", "oneDNN")


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell for a `kerashpo` process: without what the test session sets for itself
    (quiet TensorFlow logging, per-worker thread counts) or a tracking URI."""
    own = ("MLFLOW_TRACKING_URI", "TF_CPP_MIN_LOG_LEVEL", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
    return {**{k: v for k, v in os.environ.items() if k not in own}, **extra}


def copy_store(template: Path, directory: Path) -> Path:
    """``directory`` with ``template`` (the ``empty_mlflow_db`` fixture) as its ``mlruns/mlflow.db``."""
    (directory / "mlruns").mkdir(exist_ok=True)
    shutil.copyfile(template, directory / "mlruns" / "mlflow.db")
    return directory


def tracking_uri(directory: Path) -> str:
    return f"sqlite:///{directory / 'mlruns' / 'mlflow.db'}"


def exit_code(argv: list[str]) -> int:
    """What the shell would see from ``kerashpo ARGV``: argparse mistakes exit through SystemExit, the rest return."""
    from kerashpo.pipelines.cli import main

    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


def live_processes_in_group(group: int) -> list[int]:
    """Process ids of the processes in process group ``group`` that are still running (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after its last ')'.
        state, _ppid, pgrp = stat.rpartition(")")[2].split()[:3]
        if int(pgrp) == group and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def kill_during_second_trial(config: Path, directory: Path, experiment: str, total: int) -> None:
    """Start `kerashpo run` in a child process and SIGKILL it while trial 1 is training."""
    from mlflow import MlflowClient

    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    worker = subprocess.Popen([sys.executable, "-m", "kerashpo.pipelines.cli", "run", str(config)], cwd=directory,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env={**env, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"})
    try:
        for line in worker.stdout:
            if line.startswith(f"[1/{total}]"):
                break
        client = MlflowClient(tracking_uri(directory))
        experiment_id = client.get_experiment_by_name(experiment).experiment_id
        wait_until(lambda: client.search_runs([experiment_id],
                                              "attributes.status = 'RUNNING' and tags.`trial_number` = '1'"),
                   60, every=0.1, what="the worker never started its second trial")
    finally:
        worker.kill()
        worker.wait(timeout=30)


class chdir:
    """``with chdir(path):`` runs the block in ``path`` (contextlib.chdir needs Python 3.11)."""

    def __init__(self, path: Path):
        self.path, self.old = path, None

    def __enter__(self):
        self.old = os.getcwd()
        os.chdir(self.path)

    def __exit__(self, *exc):
        os.chdir(self.old)
