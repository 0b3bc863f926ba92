"""The kept trial models: what a worker killed mid-trial leaves behind must not cost a finished trial its model."""

from __future__ import annotations

import keras

from kerashpo.search.selection.checkpoints import CheckpointStore
from kerashpo.spaces.choices import Direction


def _tiny_model() -> keras.Model:
    inputs = keras.Input((2,))
    return keras.Model(inputs, keras.layers.Dense(1)(inputs))


def test_a_killed_trials_files_neither_displace_nor_stand_for_a_finished_trial(tmp_path):
    store = CheckpointStore(tmp_path, keep=1, direction=Direction.MINIMIZE)
    model = _tiny_model()
    assert store.offer(3, 0.5, model, among=set())
    store.drop_displaced(among={3})
    # Trial 5 saved its model and was killed before its driver recorded it: it never completes.
    assert store.offer(5, 0.1, model, among={3})
    # Trial 7 beats every finished trial, so it is kept, although the orphan's value is better still.
    assert store.offer(7, 0.3, model, among={3})
    store.drop_displaced(among={3, 7})

    assert store.ranked(among={3, 7}) == [(7, 0.3)]
    assert store.stored(7) is not None and store.stored(3) is None
    assert keras.saving.load_model(store.stored(7)).count_params() == model.count_params()
    # Only whole files are left: no partial model or sidecar for another worker to read.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "trial-00005.json", "trial-00005.keras", "trial-00007.json", "trial-00007.keras"]


def test_a_trial_worse_than_the_kept_ones_is_not_saved(tmp_path):
    store = CheckpointStore(tmp_path, keep=2, direction=Direction.MAXIMIZE)
    model = _tiny_model()
    for number, value in ((0, 0.9), (1, 0.8)):
        assert store.offer(number, value, model, among=set(range(number)))
    store.drop_displaced(among={0, 1})
    assert not store.offer(2, 0.7, model, among={0, 1})
    assert store.stored(2) is None and [n for n, _ in store.ranked(among={0, 1, 2})] == [0, 1]
