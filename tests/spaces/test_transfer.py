"""The `transfer` preset: a keras.applications base, frozen for the head's phase and partly unfrozen for
fine-tuning, with its resize and preprocessing inside the exported model.

Offline: the bases are built without downloaded weights. A "pretrained" weights file is one the test writes
itself (the base's own initial weights, saved); ImageNet weights that are not in Keras's cache are refused in
one line before anything runs. Images: a generated folder of 32x32 RGB pictures, bright at the top or the bottom.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import exit_code, tracking_uri

from kerashpo.pipelines.cli import main
from kerashpo.pipelines.config import parse_config
from kerashpo.pipelines.run.prepare import prepare_training
from kerashpo.search.leaderboard import leaderboard
from kerashpo.search.training.sources import fit_batches
from kerashpo.spaces.choices import Direction
from kerashpo.spaces.presets.transfer import TRANSFER, build_base

pytestmark = pytest.mark.xdist_group("transfer")  # one worker writes the images and the weights file once


@pytest.fixture(scope="module")
def images_and_weights(tmp_path_factory) -> Path:
    from PIL import Image

    directory = tmp_path_factory.mktemp("transfer")
    rng = np.random.default_rng(0)
    for label in ("top", "bottom"):
        (directory / "images" / label).mkdir(parents=True)
        for i in range(10):
            pixels = rng.integers(0, 60, (32, 32, 3)).astype("uint8")
            pixels[:16] += 150 if label == "top" else 0
            pixels[16:] += 150 if label == "bottom" else 0
            Image.fromarray(pixels).save(directory / "images" / label / f"{i}.png")
    build_base("mobilenet_v3_small", 32, "none").save_weights(directory / "base.weights.h5")
    return directory


def _space(directory: Path, weights: str, unfreeze: float = 0.5) -> str:
    (directory / "transfer.yaml").write_text(textwrap.dedent(f"""\
        extends: transfer
        params:
          base: {{type: fixed, value: mobilenet_v3_small}}
          weights: {{type: fixed, value: "{weights}"}}
          image_size: {{type: fixed, value: 32}}
          unfreeze: {{type: fixed, value: {unfreeze}}}
          batch_size: [8]
    """))
    return str(directory / "transfer.yaml")


def test_imagenet_weights_missing_from_the_cache_are_refused_in_one_line_before_anything_runs(
        in_tmp, images_and_weights, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_HOME", str(in_tmp / "empty-keras-home"))
    (in_tmp / "tl.yaml").write_text(f"name: tl\ndataset: {{path: {images_and_weights / 'images'}}}\n"
                                    f"space: {_space(in_tmp, 'imagenet')}\n")
    assert exit_code(["run", "tl.yaml"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "weights: imagenet for mobilenet_v3_small needs " \
        "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5 in " in err[0] and "empty-keras-home" in err[0]
    assert not (in_tmp / "mlruns").exists()


@pytest.mark.slow
def test_phase_one_leaves_the_base_as_loaded_and_phase_two_changes_only_its_unfrozen_top(images_and_weights,
                                                                                         tmp_path):
    weights = images_and_weights / "base.weights.h5"
    config = parse_config({"name": "tl", "dataset": {"path": str(images_and_weights / "images")},
                           "space": _space(tmp_path, str(weights))})
    training = prepare_training(config, workdir=tmp_path)
    params = {"base": "mobilenet_v3_small", "weights": str(weights), "image_size": 32, "pooling": "avg",
              "dense_units": 0, "dropout": 0.0, "learning_rate": 1e-2, "unfreeze": 0.5, "fine_tune_factor": 0.1,
              "head_epochs_share": 0.5, "batch_size": 8}
    model = TRANSFER.build(params, training.spec)
    options = TRANSFER.fit_options(params, 2, "val_log_loss", Direction.MINIMIZE)
    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    loaded = build_base("mobilenet_v3_small", 32, str(weights))
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(base.weights, loaded.weights))
    after: list[list[np.ndarray]] = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            after.append([w.numpy().copy() for w in base.weights])

    # Without validation: the phases' training is what is checked, and tracing the base's evaluation twice is not.
    fit_batches(model, training.setup.data, batch_size=8, seed=0, epochs=2, callbacks=[Snapshot()], verbose=0,
                validate=False, fine_tune=options.fine_tune)

    assert options.fine_tune.start_epoch == 1 and len(after) == 2  # the epochs run on across the phases
    # Phase 1 (epoch 1): every weight of the base, batch-norm statistics included, as loaded.
    assert all(np.array_equal(w.numpy(), a) for w, a in zip(loaded.weights, after[0]))
    # Phase 2: only the unfrozen layers' weights moved, some of them did, and batch norm stayed as loaded.
    unfrozen = {id(w) for layer in base.layers if layer.trainable for w in layer.trainable_weights}
    moved = [not np.array_equal(a, b) for a, b in zip(after[0], after[1])]
    assert any(moved)
    assert all(id(w) in unfrozen for w, m in zip(base.weights, moved) if m)
    assert not any(layer.trainable for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization))
    assert 0.4 < sum(layer.trainable for layer in base.layers if layer.weights) / \
        sum(1 for layer in base.layers if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)) \
        < 0.75


@pytest.mark.slow
def test_a_transfer_search_runs_both_phases_exports_and_predicts_raw_images(in_run_dir, images_and_weights,
                                                                            capsys):
    (in_run_dir / "tl.yaml").write_text(textwrap.dedent(f"""\
        name: tl
        dataset: {{path: {images_and_weights / 'images'}}}
        space: {_space(in_run_dir, str(images_and_weights / 'base.weights.h5'))}
        optuna: {{sampler: random, pruner: none}}
        budget: {{trials: 1, max_epochs: 2, patience: 2}}
        report: false
        export: {{formats: [keras]}}
    """))
    assert main(["run", "tl.yaml"]) == 0
    board = leaderboard(tracking_uri(in_run_dir), experiment="tl")
    assert board.iloc[0]["epochs_run"] == 2  # one epoch for the head, one fine-tuning
    export = in_run_dir / "mlruns" / "exports" / "tl"
    model = keras.saving.load_model(export / "model.keras", safe_mode=True)
    # The resize and the base's preprocessing are layers of the model: it takes the images as they are.
    assert {"resize", "base_preprocessing"} <= {layer.name for layer in model.layers}
    capsys.readouterr()
    assert main(["predict", "--model", str(export), str(images_and_weights / "images")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 21 and lines[0].startswith("file,")


def test_without_weights_the_whole_base_trains_from_the_start_in_one_phase(images_and_weights, tmp_path):
    config = parse_config({"name": "tl", "dataset": {"path": str(images_and_weights / "images")},
                           "space": _space(tmp_path, "none")})
    training = prepare_training(config, workdir=tmp_path)
    params = {"base": "mobilenet_v3_small", "weights": "none", "image_size": 32, "unfreeze": 0.5}
    model = TRANSFER.build(params, training.spec)
    base = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    assert base.trainable and len(base.trainable_weights) > 0
    assert TRANSFER.fit_options(params, 4, "val_log_loss", Direction.MINIMIZE).fine_tune is None
