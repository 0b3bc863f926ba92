"""The training and validation splits a search shares, as arrays and as cached ``tf.data`` pipelines."""

from __future__ import annotations

from typing import Any

import numpy as np

from kerashpo.search.models import encode_targets, model_inputs, wants_one_hot
from kerashpo.spaces import DataSpec


class TrialData:
    """The training and validation splits every trial of a search shares (loaded once).

    ``x_*`` is an array, or a dict of arrays by input name (string columns as
    object arrays). Trials train from ``tf.data`` pipelines over tensors made
    once per process and cached; only shuffling and batching are per trial.
    """

    def __init__(self, x_train: Any, y_train: np.ndarray, x_val: Any, y_val: np.ndarray | None, spec: DataSpec):
        self.x_train, self.y_train, self.x_val, self.y_val, self.spec = x_train, y_train, x_val, y_val, spec
        self._datasets: dict[tuple[str, bool], Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        # tf.data objects do not pickle; a fresh search process makes its own.
        return {**self.__dict__, "_datasets": {}}

    def arrays(self, split: str, model: Any) -> tuple[Any, Any]:
        """Inputs and targets of ``train`` or ``val`` as ``model`` takes them."""
        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_val, self.y_val)
        return model_inputs(x), encode_targets(model, y, self.spec)

    def first_rows(self, model: Any, rows: int = 2) -> tuple[Any, Any]:
        """The first ``rows`` training inputs and targets as tensors, as ``fit`` gets its batches."""
        import keras
        import tensorflow as tf

        x = {name: column[:rows] for name, column in self.x_train.items()} if isinstance(self.x_train, dict) \
            else self.x_train[:rows]
        pairs = (model_inputs(x), encode_targets(model, self.y_train[:rows], self.spec))
        return keras.tree.map_structure(tf.convert_to_tensor, pairs)

    def batches(self, split: str, model: Any, batch_size: int, seed: int | None = None,
                augmentation: Any = None) -> Any:
        """A batched, prefetched ``tf.data`` pipeline; ``train`` is reshuffled every epoch (seeded).

        ``augmentation`` (a Keras layer) transforms each training batch's inputs.
        """
        import tensorflow as tf

        key = (split, wants_one_hot(model, self.spec))
        if key not in self._datasets:
            self._datasets[key] = tf.data.Dataset.from_tensor_slices(self.arrays(split, model)).cache()
        dataset = self._datasets[key]
        if split == "train":
            dataset = dataset.shuffle(len(self.y_train), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size)
        if augmentation is not None:
            dataset = dataset.map(lambda x, y: (augmentation(x, training=True), y),
                                  num_parallel_calls=tf.data.AUTOTUNE)
        return dataset.prefetch(tf.data.AUTOTUNE)
