"""Giving back what a finished trial leaves behind in TensorFlow and Python."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

_CUSTOM_GRADIENT = "CustomGradient-"


def _gradient_registry() -> dict[str, Any] | None:
    try:
        from tensorflow.python.framework import ops

        return ops._gradient_registry._registry
    except (ImportError, AttributeError):  # another backend, or TensorFlow changed its internals
        return None


@contextlib.contextmanager
def released_when_done() -> Iterator[None]:
    """Frees what the block's models left behind; nothing may use them after the block.

    TensorFlow registers a gradient function for each custom gradient a traced
    training step uses and never removes it (tensorflow/tensorflow#97697); each
    entry pins its whole graph, whatever ``clear_session`` does, so memory
    grows with every trained model (``benchmarks/memory.py``). The entries
    the block added are dropped, then the Keras session is cleared and
    collected.
    """

    registry = _gradient_registry()
    before = set(registry) if registry is not None else set()
    try:
        yield
    finally:
        if registry is not None:
            for name in [n for n in registry if n.startswith(_CUSTOM_GRADIENT) and n not in before]:
                registry.pop(name, None)
        clear_session()  # also runs gc.collect()
        # What survived lives for the search; frozen, the next collection walks only the next trial's
        # objects, not the whole heap, which grows with the search (benchmarks/overhead.py).
        gc.freeze()


_frozen_depth = 0


@contextlib.contextmanager
def collecting_new_objects_only() -> Iterator[None]:
    """Inside the block, collections walk only objects made after it began (and after each trial).

    A process that imported TensorFlow, MLflow and Optuna holds about half a million objects that live as long
    as it does; every ``clear_session`` (its ``gc.collect()``) would walk them all, several times a run, the
    longer the more a Python session holds. The blocks nest; the outermost gives normal collection back
    (to a user's own session too).
    """
    global _frozen_depth
    gc.freeze()
    _frozen_depth += 1
    try:
        yield
    finally:
        _frozen_depth -= 1
        if _frozen_depth == 0:
            gc.unfreeze()


def clear_session() -> None:
    """``keras.backend.clear_session()``, keeping the dtype policy: Keras resets it with the rest of its global
    state, which would turn mixed precision off after the first trial."""
    import keras

    policy = keras.mixed_precision.global_policy()
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(policy)
