"""Start TensorFlow without its start-up chatter.

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


def import_tensorflow_modules() -> None:
    """Import TensorFlow and Keras with C++ stderr muted, and nothing more: no device is probed (a process that
    forks workers must not have initialised CUDA)."""
    quiet_libraries()
    with _stderr_to_devnull():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401


def import_tensorflow_quietly() -> list[str]:
    """Import TensorFlow and probe for GPUs with C++ stderr muted; returns the GPU names.

    The first probe initialises CUDA and says so on stderr, also where TensorFlow was imported before (a worker
    forked from ``worker_start``'s server); later probes are silent and cost nothing.
    """
    with _stderr_to_devnull():
        import keras
        import tensorflow as tf

        if keras.backend.backend() == "jax":
            # JAX trains; TensorFlow only feeds the input pipelines, and leaves the GPUs to JAX.
            with contextlib.suppress(RuntimeError):  # TensorFlow already started: its devices are set
                tf.config.set_visible_devices([], "GPU")
            import jax

            return [str(device) for device in jax.devices() if device.platform == "gpu"]
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
