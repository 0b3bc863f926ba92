"""The shared trial runner: best-epoch objective with restored weights, pruning, NaN guard, bad builders."""

from __future__ import annotations

import time

import numpy as np
import pytest

from kerashpo.pipelines.config import parse_config
from kerashpo.pipelines.data.splits import data_spec, load_dataset, split_dataset
from kerashpo.search import TrainingSetup, TrialData, TrialOptions, run_trial
from kerashpo.search.training.sampling import FixedSampling
from kerashpo.search.training.sources import SpaceSource
from kerashpo.spaces import MLP, Preset
from kerashpo.spaces.choices import TrialState


def setup_for(dataset: str, objective: str, direction: str, max_epochs: int = 12, patience: int = 3) -> TrainingSetup:
    config = parse_config({"name": "t", "dataset": {"name": dataset}})
    data = load_dataset(config)
    splits = split_dataset(data, 0.2, 0.2, seed=0)
    spec = data_spec(data, splits)
    return TrainingSetup(TrialData(splits.x_train, splits.y_train, splits.x_val, splits.y_val, spec),
                         objective=objective, direction=direction, max_epochs=max_epochs, patience=patience)


SMALL = {"n_layers": 1, "units_1": 16, "batch_size": 64, "learning_rate": 0.01}


def test_objective_is_the_best_epoch_and_the_model_keeps_its_weights():
    setup = setup_for("iris", "val_loss", "minimize", max_epochs=15)
    started = time.perf_counter()
    result = run_trial(setup, SpaceSource(MLP), FixedSampling(SMALL), TrialOptions(seed=1))
    elapsed = time.perf_counter() - started
    assert result.state is TrialState.COMPLETE
    losses = result.history["val_loss"]
    assert result.epochs_run == len(losses)
    assert result.value == pytest.approx(min(losses))
    assert losses[result.best_epoch - 1] == result.value
    # EarlyStopping restored the best epoch's weights: evaluating now gives the best value, not the last.
    data = setup.data
    val_loss = result.model.evaluate(data.x_val, data.y_val, verbose=0, return_dict=True)["loss"]
    assert val_loss == pytest.approx(result.value, rel=1e-4)
    assert result.n_params == result.model.count_params() > 0
    # The trial's own clock: the build and fit it timed happened inside this call.
    assert 0 < result.train_seconds <= elapsed


def test_early_stopping_ends_a_trial_that_stops_improving():
    setup = setup_for("iris", "val_accuracy", "maximize", max_epochs=200, patience=2)
    result = run_trial(setup, SpaceSource(MLP), FixedSampling({**SMALL, "learning_rate": 0.03}),
                       TrialOptions(seed=2))
    assert result.state is TrialState.COMPLETE
    assert result.epochs_run < 200
    # It ran exactly `patience` epochs past its best one, and that best epoch is the objective.
    assert result.epochs_run - result.best_epoch == 2
    assert result.value == max(result.history["val_accuracy"])


def test_pruning_check_stops_the_trial_and_sees_the_best_value_so_far():
    setup = setup_for("iris", "val_accuracy", "maximize", max_epochs=20)
    seen = []

    epoch = setup.budget.examples  # the pruning check counts examples seen, not epochs

    def should_prune(examples: int, best: float) -> bool:
        seen.append((examples, best))
        return examples == epoch(3)

    result = run_trial(setup, SpaceSource(MLP), FixedSampling(SMALL),
                       TrialOptions(seed=3, should_prune=should_prune))
    assert result.state is TrialState.PRUNED
    assert result.epochs_run == 3
    assert [examples for examples, _ in seen] == [epoch(1), epoch(2), epoch(3)] == [90, 180, 270]
    accuracies = result.history["val_accuracy"]
    assert [best for _, best in seen] == [max(accuracies[:k]) for k in (1, 2, 3)]


def test_a_diverging_trial_fails_with_the_reason():
    setup = setup_for("diabetes", "val_rmse", "minimize", max_epochs=20)
    params = {**SMALL, "optimizer": "sgd", "momentum": 0.99, "learning_rate": 1e6}
    result = run_trial(setup, SpaceSource(MLP), FixedSampling(params), TrialOptions(seed=4))
    assert result.state is TrialState.FAILED
    assert "diverged" in result.error or "never had a finite value" in result.error
    assert result.epochs_run < 20


@pytest.mark.parametrize("build, message", [
    (lambda params, spec: "not a model", "not a keras.Model"),
    (lambda params, spec: __import__("keras").Sequential([__import__("keras").layers.Dense(1)]), "uncompiled"),
])
def test_a_builder_returning_the_wrong_thing_fails_the_trial_clearly(build, message):
    setup = setup_for("iris", "val_accuracy", "maximize", max_epochs=2)
    result = run_trial(setup, SpaceSource(Preset("custom", MLP.space, build)), FixedSampling(SMALL),
                       TrialOptions(seed=5))
    assert result.state is TrialState.FAILED and message in result.error


def test_an_objective_the_model_does_not_report_fails_the_trial():
    setup = setup_for("iris", "val_auc", "maximize", max_epochs=5)
    result = run_trial(setup, SpaceSource(MLP), FixedSampling(SMALL), TrialOptions(seed=6))
    assert result.state is TrialState.FAILED
    assert "val_auc" in result.error and "val_accuracy" in result.error
    assert result.epochs_run == 1


def test_preprocessing_statistics_come_from_the_training_split_only():
    config = parse_config({"name": "t", "dataset": {"name": "wine"}})
    data = load_dataset(config)
    splits = split_dataset(data, 0.2, 0.2, seed=0)
    spec = data_spec(data, splits)
    (features,) = spec.inputs
    np.testing.assert_allclose(features.mean, splits.x_train.mean(axis=0), rtol=1e-6)
    assert not np.allclose(features.mean, data.x.mean(axis=0), rtol=1e-6)
    sizes = splits.sizes()
    assert sizes["train"] + sizes["validation"] + sizes["test"] == len(data.y)
    # stratified: every class is present in every split
    for y in (splits.y_train, splits.y_val, splits.y_test):
        assert set(np.unique(y)) == set(np.unique(data.y))


def test_trials_leave_no_graph_pinned_in_tensorflows_gradient_registry(tmp_path):
    # TensorFlow keeps every custom gradient a traced training step registers (tensorflow#97697), and each
    # entry pins its graph: about 4 MB per trained model, unbounded over a long search in one process.
    from tensorflow.python.framework import ops

    from kerashpo.search import NullTracker, SearchJob
    from kerashpo.search.executor import TrialExecutor

    def pinned() -> int:
        return sum(name.startswith("CustomGradient-") for name in ops._gradient_registry._registry)

    setup = setup_for("iris", "val_loss", "minimize", max_epochs=2)
    executor = TrialExecutor(SearchJob(name="t", source=SpaceSource(MLP), setup=setup, n_trials=3,
                                       checkpoint_dir=tmp_path), NullTracker())
    before = pinned()
    results = [executor.execute(number, FixedSampling(SMALL)) for number in range(3)]
    assert [r.state for r in results] == [TrialState.COMPLETE] * 3
    assert pinned() == before


def test_a_trial_traces_its_training_step_once_and_trains_as_keras_own_build_does(monkeypatch):
    """The loss, metric and optimizer variables exist before ``fit`` traces anything: otherwise Keras makes them
    inside the first trace and ``tf.function`` traces the training step again (about 0.6 s a trial)."""
    import keras

    from kerashpo.search.training import sources

    setup = setup_for("iris", "val_loss", "minimize")
    traces: list[str] = []

    class Counted(keras.Model):
        def train_step(self, data):
            traces.append("train")
            return super().train_step(data)

    def trained() -> keras.Model:
        keras.utils.set_random_seed(3)
        built = MLP.build(SMALL, setup.data.spec)
        model = Counted(built.inputs, built.outputs)
        model.compile_from_config(built.get_compile_config())
        sources.fit_batches(model, setup.data, batch_size=32, seed=0, epochs=2, verbose=0)
        return model

    model = trained()
    assert traces == ["train"]
    assert model.optimizer.iterations.numpy() == 2 * 3  # 90 training rows in batches of 32, two epochs
    # Keras's own build (the state made inside the first trace) traces twice and ends at the same weights:
    # the rows the state was built on changed nothing.
    monkeypatch.setattr(sources, "build_training_state", lambda *_: None)
    lazy = trained()
    assert traces == ["train", "train", "train"]
    for ours, theirs in zip(model.get_weights(), lazy.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("epochs, evaluation_traces", [(1, 0), (40, 1)])
def test_validation_is_eager_until_tracing_pays_and_scores_as_keras_traced_evaluation(epochs, evaluation_traces):
    """A trial stopped after its first epoch never traces the evaluation step (0.35-0.7 s of a short trial); a long
    one traces it once, when the eager time spent reaches the tracing cost. Either way the validation figures are
    those of Keras's own traced evaluation, and after ``fit`` the model evaluates through a traced step."""
    import keras
    import tensorflow as tf

    from kerashpo.search.training import sources

    setup = setup_for("iris", "val_loss", "minimize")
    traces: list[str] = []
    eager_steps: list[str] = []

    class Counted(keras.Model):
        def test_step(self, data):
            (eager_steps if tf.executing_eagerly() else traces).append("test")
            return super().test_step(data)

    built = MLP.build(SMALL, setup.data.spec)
    model = Counted(built.inputs, built.outputs)
    model.compile_from_config(built.get_compile_config())
    history = sources.fit_batches(model, setup.data, batch_size=32, seed=0, epochs=epochs, verbose=0)
    assert len(history.history["val_loss"]) == epochs
    assert traces == ["test"] * evaluation_traces
    assert eager_steps, "the first epochs validate eagerly"
    eager_steps.clear()
    x_val, y_val = setup.data.arrays("val", model)
    traced = model.evaluate(x_val, y_val, batch_size=32, verbose=0, return_dict=True)
    assert traces and not eager_steps  # fit left no eager step behind
    for name, value in traced.items():
        np.testing.assert_allclose(history.history[f"val_{name}"][-1], value, rtol=1e-5, atol=1e-6)


def test_on_a_large_table_a_trial_is_judged_at_rungs_inside_its_first_epoch(tmp_path):
    import pandas as pd
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=7000, n_features=12, n_informative=6, random_state=0)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(12)]).assign(label=y)
    frame.to_csv(tmp_path / "large.csv", index=False)
    config = parse_config({"name": "t", "dataset": {"path": str(tmp_path / "large.csv"), "target": "label"}})
    data = load_dataset(config)
    splits = split_dataset(data, 0.2, 0.2, seed=0)
    setup = TrainingSetup(TrialData(splits.x_train, splits.y_train, splits.x_val, splits.y_val,
                                    data_spec(data, splits)),
                          objective="val_log_loss", direction="minimize", max_epochs=2, patience=2)
    per_epoch = len(splits.y_train)  # 4200 rows: rungs at 512 and 1536 examples fall inside the first epoch
    assert setup.budget.rungs_inside_first_epoch() == (512, 1536) and setup.budget.first_rung == 512
    config = {**SMALL, "batch_size": 32}

    asked: list[tuple[int, float]] = []
    result = run_trial(setup, SpaceSource(MLP), FixedSampling(config), TrialOptions(
        seed=3, should_prune=lambda step, value: asked.append((step, value)) or False))
    assert [step for step, _ in asked] == [512, 1536, per_epoch, 2 * per_epoch]
    assert result.state is TrialState.COMPLETE and result.epochs_run == 2
    # Scoring inside the epoch left its training figures as they were: the same as a trial never scored there.
    unjudged = run_trial(setup, SpaceSource(MLP), FixedSampling(config), TrialOptions(seed=3))
    assert result.history["loss"][0] == pytest.approx(unjudged.history["loss"][0], rel=1e-5)

    asked.clear()
    pruned = run_trial(setup, SpaceSource(MLP), FixedSampling(config), TrialOptions(
        seed=3, should_prune=lambda step, value: asked.append((step, value)) or True))
    assert pruned.state is TrialState.PRUNED and [step for step, _ in asked] == [512]
    # It stopped at that rung: its one (partial) epoch scores what the rung saw, no batch trained after it.
    assert pruned.epochs_run == 1 and pruned.value == pytest.approx(asked[0][1], rel=1e-5)
