"""The training and validation splits a search shares, as arrays and as batches every Keras backend takes."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from kerashpo.search.models import encode_targets, model_inputs, wants_one_hot
from kerashpo.spaces import DataSpec


class TrialData:
    """The training and validation splits every trial of a search shares (loaded once).

    ``x_*`` is an array, or a dict of arrays by input name (string columns as object arrays). On TensorFlow,
    trials train from ``tf.data`` pipelines over tensors made once per process and cached; on JAX and torch,
    from ``ArrayBatches`` over the arrays in memory, with nothing of TensorFlow. Only shuffling and batching are
    per trial.
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
        x = {name: column[:rows] for name, column in self.x_train.items()} if isinstance(self.x_train, dict) \
            else self.x_train[:rows]
        pairs = (model_inputs(x), encode_targets(model, self.y_train[:rows], self.spec))
        if keras.backend.backend() != "tensorflow":
            return keras.tree.map_structure(keras.ops.convert_to_tensor, pairs)
        import tensorflow as tf

        return keras.tree.map_structure(tf.convert_to_tensor, pairs)

    def batches(self, split: str, model: Any, batch_size: int, seed: int | None = None,
                augmentation: Any = None) -> Any:
        """The batches of ``train`` (reshuffled every epoch, seeded) or ``val``.

        ``augmentation`` (a Keras layer) transforms each training batch's inputs.
        """
        if keras.backend.backend() != "tensorflow":
            x, y = self.arrays(split, model)
            return ArrayBatches(x, y, batch_size, seed if split == "train" else None, augmentation)
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


class ArrayBatches(keras.utils.PyDataset):
    """Batches of in-memory arrays for any Keras backend.

    Shuffled (``seed`` given): a new seeded order every epoch, and every batch full, the last one wrapped round
    to the order's first rows, so that a compiling backend (JAX's XLA) builds one training step, not a second
    for a short last batch. Unshuffled (validation): the rows in order, the last batch short, so every row
    counts once.
    """

    def __init__(self, x: Any, y: Any, batch_size: int, seed: int | None = None, augmentation: Any = None):
        super().__init__()
        self.x, self.y, self.batch_size, self.seed, self.augmentation = x, y, batch_size, seed, augmentation
        self.rows = len(y)
        self.epoch = 0
        self.order = self._order()

    def _order(self) -> np.ndarray:
        if self.seed is None:
            return np.arange(self.rows)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.rows)

    def __len__(self) -> int:
        return math.ceil(self.rows / self.batch_size)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        take = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        if self.seed is not None and len(take) < self.batch_size:
            take = np.resize(np.concatenate([take, self.order]), self.batch_size)
        x = keras.tree.map_structure(lambda column: column[take], self.x)
        if self.augmentation is not None:
            x = self.augmentation(x, training=True)
        return x, self.y[take]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()
