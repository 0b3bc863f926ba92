"""Which Keras backend trains the trials (``backend``): TensorFlow, the default, JAX or torch.

Keras reads its backend once, when it is first imported, so the choice is made before that: the CLI sets
``KERAS_BACKEND`` for itself and for the worker processes it starts. In a Python session where Keras already
runs, a config that asks for another backend is refused in one line. On JAX and torch nothing on the trial path
imports TensorFlow: batches come from the arrays in memory (``search.training.trial_data.ArrayBatches``), and
what needs TensorFlow (a SavedModel, text columns looked up inside the model) is refused before the first trial.

Why TensorFlow is the default: on the short, pruned trials a search is made of, a new model's first epoch costs
more on JAX (XLA compiles the training and evaluation steps, where TensorFlow traces them), and that first epoch
decides how many configurations a budget can try (``benchmarks/overhead.py`` and ``benchmarks/efficiency.py`` on
each backend; BENCHMARKS.md, "2b. Backends", measured while JAX was still fed from ``tf.data``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

from kerashpo.spaces import UserError
from kerashpo.spaces.choices import Backend


def select_backend(backend: Backend) -> None:
    """Make ``backend`` the one Keras starts on in this process and the processes it starts, or refuse."""
    if "keras" in sys.modules:
        import keras

        running = keras.backend.backend()
        if running != backend:
            raise UserError(f"backend: {backend} was asked for, and Keras already runs on {running} in this Python "
                            f"process (Keras picks its backend when first imported): set KERAS_BACKEND={backend} "
                            f"before importing keras, or backend: {running} in the config")
        return
    if backend is Backend.JAX and importlib.util.find_spec("jax") is None:
        raise UserError("backend: jax needs the jax package: pip install 'kerashpo[jax]'")
    if backend is Backend.TORCH and importlib.util.find_spec("torch") is None:
        raise UserError("backend: torch needs the torch package: pip install torch")
    os.environ["KERAS_BACKEND"] = str(backend)


def check_inputs(backend: Backend, schema: dict[str, Any]) -> None:
    """Refuse, before the first trial, inputs the backend cannot take inside the model."""
    if backend is Backend.TENSORFLOW:
        return
    # The model looks categories up inside itself, so that it takes raw rows; JAX and torch tensors hold no strings.
    text = [item["column"] for item in schema["inputs"] if item["kind"] == "categorical"]
    if text:
        raise UserError(f"backend: {backend} cannot take the text column {text[0]!r} (the model looks its categories "
                        f"up inside itself, and {backend} tensors hold no strings): use backend: tensorflow, or give "
                        "the column as numbers")
