"""Which backend and device train the trials of this process: logged on every trial, said in the run summary."""

from __future__ import annotations


def training_device() -> tuple[str, str]:
    """The Keras backend and its device here: ``("jax", "gpu: NVIDIA H100 80GB HBM3")``, ``("tensorflow", "cpu")``.

    Asked once the backend has started; a backend that cannot say gives ``"unknown"``.
    """
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            device = jax.devices()[0]
            return backend, "cpu" if device.platform == "cpu" else f"{device.platform}: {device.device_kind}"
        if backend == "torch":
            import torch

            return backend, f"gpu: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return backend, f"gpu: {gpus[0].name}" if gpus else "cpu"
    except Exception:  # a device query that fails must not stop a search
        return backend, "unknown"
