"""Start Keras and its backend without TensorFlow's start-up chatter.

TensorFlow 2.21 writes oneDNN, CUDA-driver and cuInit lines to stderr from C++
before its logging is configured, so ``TF_CPP_MIN_LOG_LEVEL`` cannot silence
them. They are noise on a CPU machine; on a GPU machine ``kerashpo`` lists the
devices it found instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _backend() -> str:
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def import_backend_modules() -> None:
    """Import Keras and its backend (TensorFlow only where it trains) with C++ stderr muted, and nothing more: no
    device is probed (a process that forks workers must not have initialised CUDA)."""
    quiet_libraries()
    with _stderr_to_devnull():
        import keras  # noqa: F401

        if _backend() == "tensorflow":
            import tensorflow  # noqa: F401


def import_backend_quietly() -> list[str]:
    """Import Keras and its backend and probe for GPUs with C++ stderr muted; returns the GPU names.

    The first probe initialises CUDA and says so on stderr, also where the backend was imported before (a worker
    forked from ``worker_start``'s server); later probes are silent and cost nothing. TensorFlow is imported
    only where it trains.
    """
    with _stderr_to_devnull():
        import keras

        backend = keras.backend.backend()
        if backend == "jax":
            tensorflow = sys.modules.get("tensorflow")
            if tensorflow is not None:  # imported by something else: it leaves the GPUs to JAX
                with contextlib.suppress(RuntimeError):  # TensorFlow already started: its devices are set
                    tensorflow.config.set_visible_devices([], "GPU")
            import jax

            return [str(device) for device in jax.devices() if device.platform == "gpu"]
        if backend == "torch":
            import torch

            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
    return [gpu.name for gpu in gpus]


def quiet_libraries() -> None:
    """TensorFlow's C++ start-up chatter, its retracing notes and MLflow's migration logs are noise to a user.

    Called by the CLI and by every worker process (spawned workers start with
    fresh logging).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # With an mlflow server, MLflow prints two links for every run it ends: one per trial.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    logging.basicConfig(level=logging.WARNING, format="kerashpo: %(message)s")
    for name in ("alembic", "mlflow", "absl", "tensorflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
