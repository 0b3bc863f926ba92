"""Keras Tuner's documented HyperModel patterns run unchanged under both drivers; user code that fails every trial
stops the search in one line (one failing trial fails alone: test_driver_contract.py).

Each pattern is a copy written for this test of a shape Keras Tuner's documents show: the HyperModel API
page's ``fit`` that tunes ``epochs``, the FAQ's that tunes ``batch_size``, the getting-started guide's that
tunes ``shuffle``, and the custom-tuner guide's own training loop that reports ``my_metric`` to the callbacks.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from helpers import chdir, exit_code, tracking_uri
from mlflow import MlflowClient

from kerashpo.pipelines.cli import main

PATTERNS = textwrap.dedent('''\
    import keras
    import keras_tuner
    import tensorflow as tf


    def _model(hp, compiled=True):
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Int("units", 8, 32), activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        if compiled:
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model


    class ApiPage(keras_tuner.HyperModel):  # the HyperModel API page
        def build(self, hp):
            return _model(hp)

        def fit(self, hp, model, *args, **kwargs):
            return model.fit(*args, epochs=hp.Int("epochs", 2, 3), **kwargs)


    class Faq(keras_tuner.HyperModel):  # the FAQ: tune the batch size
        def build(self, hp):
            return _model(hp)

        def fit(self, hp, model, *args, **kwargs):
            return model.fit(*args, batch_size=hp.Choice("batch_size", [16, 32]), **kwargs)


    class Guide(keras_tuner.HyperModel):  # the getting-started guide: tune shuffling, normalise x
        def build(self, hp):
            return _model(hp)

        def fit(self, hp, model, x, y, **kwargs):
            if hp.Boolean("normalize"):
                x = keras.layers.Normalization()(x)
            return model.fit(x, y, shuffle=hp.Boolean("shuffle"), **kwargs)


    class CustomLoop(keras_tuner.HyperModel):  # the custom-tuner guide: an uncompiled model, its own loop
        def build(self, hp):
            return _model(hp, compiled=False)

        def fit(self, hp, model, x, y, validation_data, callbacks=None, **kwargs):
            batch_size = hp.Int("batch_size", 32, 128, step=32, default=64)
            train_ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
            validation_data = tf.data.Dataset.from_tensor_slices(validation_data).batch(batch_size)
            optimizer = keras.optimizers.Adam(hp.Float("learning_rate", 1e-3, 1e-2, sampling="log"))
            loss_fn = keras.losses.SparseCategoricalCrossentropy()
            epoch_loss_metric = keras.metrics.Mean()

            @tf.function
            def run_train_step(images, labels):
                with tf.GradientTape() as tape:
                    loss = loss_fn(labels, model(images))
                gradients = tape.gradient(loss, model.trainable_variables)
                optimizer.apply_gradients(zip(gradients, model.trainable_variables))

            @tf.function
            def run_val_step(images, labels):
                epoch_loss_metric.update_state(loss_fn(labels, model(images)))

            for callback in callbacks:
                callback.set_model(model)
            best_epoch_loss = float("inf")
            for epoch in range(EPOCHS):
                for images, labels in train_ds:
                    run_train_step(images, labels)
                for images, labels in validation_data:
                    run_val_step(images, labels)
                epoch_loss = float(epoch_loss_metric.result().numpy())
                for callback in callbacks:
                    callback.on_epoch_end(epoch, logs={"my_metric": epoch_loss})
                epoch_loss_metric.reset_state()
                best_epoch_loss = min(best_epoch_loss, epoch_loss)
            return best_epoch_loss


    EPOCHS = 4


    class AlwaysFails(Faq):
        def fit(self, hp, model, *args, **kwargs):
            raise RuntimeError("no GPU found")
''')


def write(directory: Path, name: str, pattern: str, driver: str, trials: int = 2, extra: str = "") -> Path:
    (directory / "patterns.py").write_text(PATTERNS)
    path = directory / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        dataset: {{name: digits}}
        build_model: patterns:{pattern}
        driver: {driver}
        budget: {{trials: {trials}, max_epochs: 4, patience: 2}}
        report: false
        export: {{formats: [keras]}}
        seed: 3
    """) + extra)
    return path


def trial_runs(directory: Path, experiment: str) -> list:
    client = MlflowClient(tracking_uri(directory))
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    return client.search_runs([experiment_id], "tags.`kerashpo.role` = 'trial'")


@pytest.mark.slow
@pytest.mark.parametrize("driver", ["optuna", "keras_tuner"])
@pytest.mark.parametrize("pattern, tuned", [("ApiPage", "epochs"), ("Faq", "batch_size"), ("Guide", "shuffle")])
def test_documented_fit_patterns_search_and_export(run_dir, driver, pattern, tuned):
    name = f"{pattern.lower()}-{driver}"
    config = write(run_dir, name, pattern, driver, extra="objective: {metric: val_accuracy}\n")
    with chdir(run_dir):
        assert main(["run", str(config)]) == 0
    runs = trial_runs(run_dir, name)
    assert len(runs) == 2 and all(r.data.tags["state"] in ("COMPLETE", "PRUNED") for r in runs)
    # What the user's fit tuned is a recorded parameter of every trial, like the build's own.
    assert all(tuned in r.data.params and "units" in r.data.params for r in runs)
    if pattern == "ApiPage":  # the user's epochs won over the search's max_epochs
        assert all(int(r.data.metrics["epochs_run"]) <= int(r.data.params["epochs"]) for r in runs)
    assert (run_dir / "mlruns" / "exports" / name / "model.keras").exists()


@pytest.mark.slow  # a whole search
@pytest.mark.parametrize("driver", ["optuna", "keras_tuner"])
def test_a_custom_training_loop_searches_on_its_own_metric_and_exports(run_dir, driver):
    name = f"loop-{driver}"
    config = write(run_dir, name, "CustomLoop", driver,
                   extra="objective: {metric: my_metric, direction: minimize}\noptuna: {pruner: none}\n")
    with chdir(run_dir):
        assert main(["run", str(config)]) == 0
    runs = trial_runs(run_dir, name)
    assert len(runs) == 2 and all(r.data.tags["state"] == "COMPLETE" for r in runs)
    client = MlflowClient(tracking_uri(run_dir))
    for run in runs:
        curve = [m.value for m in client.get_metric_history(run.info.run_id, "my_metric")]
        assert len(curve) >= 2 and run.data.metrics["best_my_metric"] == pytest.approx(min(curve))
        assert {"batch_size", "learning_rate", "units"} <= set(run.data.params)
    assert (run_dir / "mlruns" / "exports" / name / "model.keras").exists()


def test_a_custom_loop_is_pruned_and_stopped_early_through_its_callbacks(run_dir):
    """The loop only sends on_epoch_end: pruning and patience stop it all the same, with the best weights."""
    import importlib.util

    from kerashpo.pipelines.config import parse_config
    from kerashpo.pipelines.data.splits import data_spec, load_dataset, split_dataset
    from kerashpo.search import (
        FixedSampling,
        HyperModelSource,
        TrainingSetup,
        TrialData,
        TrialOptions,
        TrialState,
        run_trial,
    )

    (run_dir / "patterns.py").write_text(PATTERNS)
    spec_ = importlib.util.spec_from_file_location("loop_patterns", run_dir / "patterns.py")
    module = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(module)
    dataset = load_dataset(parse_config({"name": "loop", "dataset": {"name": "digits"}}))
    splits = split_dataset(dataset, 0.2, 0.2, 0)
    data = TrialData(splits.x_train, splits.y_train, splits.x_val, splits.y_val, data_spec(dataset, splits))
    params = {"units": 16, "batch_size": 64, "learning_rate": 3e-3}
    setup = TrainingSetup(data=data, objective="my_metric", direction="minimize", max_epochs=4, patience=2)

    pruned = run_trial(setup, HyperModelSource(module.CustomLoop), FixedSampling(params), TrialOptions(
        seed=0, should_prune=lambda examples, best: examples >= setup.budget.examples(2)))
    assert pruned.state is TrialState.PRUNED and pruned.epochs_run == 2 and len(pruned.history["my_metric"]) == 2

    capped = run_trial(setup, HyperModelSource(module.CustomLoop), FixedSampling(params),
                       TrialOptions(seed=0, max_epochs=3))
    assert capped.state is TrialState.COMPLETE and capped.epochs_run == 3
    assert capped.value == min(capped.history["my_metric"])


@pytest.mark.parametrize("driver", ["optuna", "keras_tuner"])
def test_a_fit_that_always_raises_stops_after_three_trials_in_one_line(run_dir, driver, capsys):
    name = f"always-{driver}"
    config = write(run_dir, name, "AlwaysFails", driver, trials=10, extra="objective: {metric: val_accuracy}\n")
    with chdir(run_dir):
        assert exit_code(["run", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert err.splitlines()[-1].startswith("kerashpo: ") and "the first 3 trials all failed the same way" in err
    assert "RuntimeError: no GPU found" in err
    assert len(trial_runs(run_dir, name)) == 3
