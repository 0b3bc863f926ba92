"""How a search's processes share the machine on each backend: CPU threads, one GPU per worker, mixed precision."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Compute:
    """``workers`` processes on one study; ``gpus`` visible to the process that starts them."""

    workers: int = 1
    gpus: int = 0
    mixed_precision: bool = False

    def worker_env(self, slot: int) -> dict[str, str]:
        """Environment for worker ``slot``, set before it starts its backend.

        Each worker gets its share of the CPU threads (TensorFlow would start one
        pool per process as wide as the machine otherwise) and, with GPUs, one GPU
        of its own, round robin; on JAX a worker takes GPU memory as it needs it
        (by default XLA takes most of the card at start, leaving none to a worker
        that shares it).
        """
        env: dict[str, str] = {}
        if self.workers > 1:
            threads = str(max(1, (os.cpu_count() or 1) // self.workers))
            env.update(TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS=threads)
            if self.gpus:
                env["CUDA_VISIBLE_DEVICES"] = str(slot % self.gpus)
                env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
        return env

    def configure_backend(self) -> None:
        """``mixed_float16`` when asked; on TensorFlow, GPU memory grows as needed (workers can share a card) and,
        on CPU, no graph rewrites.

        Call once the backend is imported and before it runs anything. The builders
        keep the output layer in float32.
        """
        import keras

        if self.mixed_precision:
            keras.mixed_precision.set_global_policy("mixed_float16")
        if keras.backend.backend() != "tensorflow":
            return
        import tensorflow as tf

        # A forked worker imported TensorFlow before its share of threads was in its environment: set it here.
        with contextlib.suppress(RuntimeError, ValueError):  # already started, or not a number
            if "TF_NUM_INTRAOP_THREADS" in os.environ:
                tf.config.threading.set_intra_op_parallelism_threads(int(os.environ["TF_NUM_INTRAOP_THREADS"]))
            if "TF_NUM_INTEROP_THREADS" in os.environ:
                tf.config.threading.set_inter_op_parallelism_threads(int(os.environ["TF_NUM_INTEROP_THREADS"]))
        for gpu in tf.config.list_physical_devices("GPU"):
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:  # already initialised in this process
                pass
        if not self.gpus:
            # On CPU, Grappler's rewrites cost each new model time when its step first runs and save little in
            # its later epochs: without them a search tries more configurations in the same time, its best
            # validation at least as good (benchmarks/graph_rewrites.py). GPUs keep them: layout and fusion
            # rewrites matter there.
            set_graph_rewrites(False)


def graph_rewrites_enabled() -> bool | None:
    """Whether TensorFlow rewrites the graphs it instantiates from now on (Grappler's meta optimizer); None where
    TensorFlow does not train."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return not tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)


def set_graph_rewrites(enabled: bool) -> None:
    """Switch Grappler's rewrites for the functions TensorFlow instantiates from now on."""
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": not enabled})


@contextlib.contextmanager
def backend_settings(compute: Compute) -> Iterator[None]:
    """Configure the backend for the search (mixed precision; on TensorFlow GPU memory and graph rewrites); give
    the caller its precision policy and graph rewrites back."""
    import keras

    policy, rewrites = keras.mixed_precision.global_policy(), graph_rewrites_enabled()
    compute.configure_backend()
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(policy)
        if rewrites is not None:
            set_graph_rewrites(rewrites)
