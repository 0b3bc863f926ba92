"""What surrounds a trial's training: Ctrl-C at safe points, memory given back (and collection given back to the
caller), validation batches sized by the bytes of a row. Direct and fast; whole searches use them everywhere."""

from __future__ import annotations

import gc
import os
import signal

import numpy as np
import pytest

from kerashpo.search.training.interrupts import interrupts_at_safe_points, raise_if_stop_requested, stop_requested
from kerashpo.search.training.memory import clear_session, collecting_new_objects_only
from kerashpo.search.training.validation import MAX_VALIDATION_BATCH, VALIDATION_BATCH_BYTES, validation_batch_size


def test_ctrl_c_is_held_to_a_safe_point_and_a_second_one_interrupts_at_once():
    before = signal.getsignal(signal.SIGINT)
    with interrupts_at_safe_points():
        os.kill(os.getpid(), signal.SIGINT)  # the first: noted, nothing raised here (a storage write may be on)
        assert stop_requested()
        with pytest.raises(KeyboardInterrupt):
            raise_if_stop_requested()  # where the trial loop checks: between batches, after a write
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # the second: at once
            signal.sigtimedwait([], 0.5)  # the handler runs at the next bytecode; give the signal time to land
    assert signal.getsignal(signal.SIGINT) is before and not stop_requested()
    raise_if_stop_requested()  # the request does not outlive the block


def test_collection_walks_new_objects_inside_the_blocks_and_is_given_back_after_the_outermost():
    gc.unfreeze()
    with collecting_new_objects_only():
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with collecting_new_objects_only():  # a search inside a run: nested blocks
            pass
        assert gc.get_freeze_count() >= frozen, "the inner block gave collection back too early"
    assert gc.get_freeze_count() == 0


def test_clearing_the_session_keeps_the_precision_policy():
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        clear_session()  # Keras alone would reset the policy to float32 with the rest of its state
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("x, batch_size, expected", [
    (np.zeros((10, 64), "float32"), 32, MAX_VALIDATION_BATCH),  # small rows: the cap
    (np.zeros((10, 32, 32, 3), "float32"), 32, VALIDATION_BATCH_BYTES // (32 * 32 * 3 * 4)),  # images: by bytes
    (np.zeros((10, 224, 224, 3), "float32"), 64, 64),  # never fewer rows than training takes
    ({"price": np.zeros((10, 1), "float32"), "city": np.array([["a"]] * 10, dtype=object)}, 16,
     min(MAX_VALIDATION_BATCH, VALIDATION_BATCH_BYTES // (4 + 64))),  # named inputs; a string counted as 64 bytes
])
def test_validation_batches_hold_a_fixed_size_of_inputs(x, batch_size, expected):
    assert validation_batch_size(x, batch_size) == expected
