"""The batches every backend but TensorFlow trains from (``ArrayBatches``), and what the trials record of where
they trained."""

from __future__ import annotations

import numpy as np
import pytest

from kerashpo.search.training.device import training_device
from kerashpo.search.training.trial_data import ArrayBatches


def test_training_batches_are_full_reshuffled_every_epoch_and_seeded():
    x = {"a": np.arange(10, dtype="float32").reshape(-1, 1), "b": np.arange(10, 20, dtype="float32").reshape(-1, 1)}
    y = np.arange(10)
    batches = ArrayBatches(x, y, batch_size=4, seed=3)
    assert len(batches) == 3

    def epoch() -> list[np.ndarray]:
        rows = [batches[i] for i in range(len(batches))]
        batches.on_epoch_end()
        for inputs, targets in rows:  # the columns stay together, row by row
            np.testing.assert_array_equal(inputs["a"][:, 0], targets)
            np.testing.assert_array_equal(inputs["b"][:, 0], targets + 10)
        return [targets for _, targets in rows]

    first, second = epoch(), epoch()
    # Every batch full (one compiled step): the last one wraps round to the epoch's first rows.
    assert [len(t) for t in first] == [4, 4, 4]
    assert sorted(np.concatenate(first)[:10]) == list(range(10))
    np.testing.assert_array_equal(first[2][2:], first[0][:2])
    assert not np.array_equal(np.concatenate(first), np.concatenate(second)), "the same order two epochs running"
    again = ArrayBatches(x, y, batch_size=4, seed=3)
    np.testing.assert_array_equal(np.concatenate([again[i][1] for i in range(3)]), np.concatenate(first))


def test_validation_batches_keep_the_rows_in_order_each_once():
    batches = ArrayBatches(np.arange(10, dtype="float32").reshape(-1, 1), np.arange(10), batch_size=4)
    targets = [batches[i][1] for i in range(len(batches))]
    assert [list(t) for t in targets] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    with pytest.raises(IndexError):
        batches[len(batches)]


def test_this_process_trains_on_tensorflow_on_the_cpu():
    assert training_device() == ("tensorflow", "cpu")
