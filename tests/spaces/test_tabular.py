"""The tabular family: each part trains through the shared trial runner, its conditional parameters exist only
where they apply in both engines, the published defaults are points of its space and run without a search, and
what ships loads with a plain ``keras.saving.load_model(..., safe_mode=True)`` in a process that never imported
kerashpo, on TensorFlow and on JAX, predicting the same values.

The table is scikit-learn's wine data with what real tables have: missing values, a text column one-hot encoded, a
text column of many categories (embedded) and a column name that is not an identifier.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import optuna
import pytest
from helpers import chdir, copy_store, tracking_uri, user_env
from mlflow import MlflowClient

from kerashpo.pipelines.cli import main
from kerashpo.pipelines.config import parse_config
from kerashpo.pipelines.data.splits import data_spec, load_dataset, split_dataset
from kerashpo.search.training.runner import TrainingSetup, TrialOptions, run_trial
from kerashpo.search.training.sampling import FixedSampling, KerasTunerSampling, OptunaSampling
from kerashpo.search.training.sources import SpaceSource
from kerashpo.search.training.trial_data import TrialData
from kerashpo.spaces.choices import PublishedDefaults, Task
from kerashpo.spaces.presets.tabular.defaults import PUBLISHED, published, starting_points
from kerashpo.spaces.presets.tabular.preset import (
    TABULAR,
    dropout_factor,
    learning_rate_factor,
    published_preset,
    tabular_space_for,
)


def write_wine(directory: Path, text: bool = True) -> Path:
    """Wine with missing values and a column name that is no identifier; with ``text``, two text columns (JAX
    arrays hold no strings, so a model with text inputs runs on TensorFlow only)."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame.rename(columns={"od280/od315_of_diluted_wines": "od280/od315"})
    rng = np.random.default_rng(0)
    frame.loc[rng.choice(len(frame), 20, replace=False), "magnesium"] = np.nan
    if text:
        frame["grade"] = np.where(frame["alcohol"] > 13, "high", "low")
        frame["estate"] = [f"estate {i % 23}" for i in range(len(frame))]
    path = directory / "wine.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def wine_setup(tmp_path_factory) -> TrainingSetup:
    directory = tmp_path_factory.mktemp("wine")
    write_wine(directory)
    config = parse_config({"name": "wine", "dataset": {"path": str(directory / "wine.csv"), "target": "target"}})
    data = load_dataset(config)
    splits = split_dataset(data, 0.25, 0.2, seed=0)
    trial_data = TrialData(splits.x_train, splits.y_train, splits.x_val, splits.y_val, data_spec(data, splits))
    return TrainingSetup(trial_data, objective="val_log_loss", direction="minimize", max_epochs=12, patience=12)


# Every choice of each searched component appears in at least one case; log-loss of chance is ln 3 = 1.10.
CASES = {
    "plain mlp, standard scaling": {"numeric_embedding": "none", "scaling": "standard", "k": 1},
    "periodic (PLR), quantile scaling, TabM k=4": {"numeric_embedding": "periodic", "scaling": "quantile", "k": 4},
    "periodic with phases (PBLD), robust scaling": {"numeric_embedding": "periodic_bias", "scaling": "robust",
                                                    "front_scale": True, "lr_schedule": "coslog4"},
    "piecewise-linear, embedded categories, dropout schedule": {
        "numeric_embedding": "piecewise_linear", "n_bins": 8, "one_hot_max": 4, "dropout": 0.2,
        "dropout_schedule": "flat_cosine", "lr_schedule": "warmup_cosine", "label_smoothing": 0.1},
}


@pytest.mark.parametrize("values", CASES.values(), ids=CASES.keys())
def test_each_component_trains_through_the_trial_runner(values, wine_setup):
    point = {**starting_points()[0], "d_block": 64, "n_blocks": 2, "batch_size": 32, **values}
    source = SpaceSource(TABULAR)
    result = run_trial(wine_setup, source, FixedSampling(point), TrialOptions(seed=0))
    assert result.value is not None and result.value < 0.5, (values, result.error, result.value)
    names = {layer.name for layer in result.model.operations}
    embedding = {"periodic": "tabular_waves", "periodic_bias": "tabular_periodic_dense",
                 "piecewise_linear": "tabular_ple_linear"}.get(values["numeric_embedding"])
    assert embedding is None or embedding in names
    assert ("tabular_r_1" in names) == (values["k"] > 1 if "k" in values else False)
    assert ("estate_embedding" in names) == (values.get("one_hot_max", 9) < 24)


def _sampled(space, engine: str, n: int) -> list[dict]:
    import keras_tuner as kt

    draws = []
    if engine == "optuna":
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(n):
            draws.append(OptunaSampling(study.ask()).sample_space(space))
        return draws
    for seed in range(n):
        hp = kt.HyperParameters()
        KerasTunerSampling(hp).sample_space(space)  # registers the space, at its defaults
        oracle = kt.oracles.RandomSearchOracle(max_trials=1, seed=seed, hyperparameters=hp)
        values = oracle.populate_space("0")["values"]
        replay = kt.HyperParameters()
        replay.values = dict(values)
        draws.append(KerasTunerSampling(replay).sample_space(space))
    return draws


@pytest.mark.parametrize("engine", ["optuna", "keras_tuner"])
def test_conditional_parameters_are_sampled_only_where_they_apply(engine):
    draws = _sampled(tabular_space_for(500, Task.MULTICLASS), engine, 40)
    for values in draws:
        embedding = values["numeric_embedding"]
        assert ("n_frequencies" in values) == ("frequency_scale" in values) == (
            embedding in ("periodic", "periodic_bias")), values
        assert ("n_bins" in values) == (embedding == "piecewise_linear"), values
        assert ("d_embedding" in values) == (embedding != "none"), values
        assert ("weight_decay" in values) == (values["optimizer"] == "adamw"), values
    assert {values["numeric_embedding"] for values in draws} == {"none", "periodic", "periodic_bias",
                                                                 "piecewise_linear"}
    # Nothing to smooth in regression: the parameter is not in its space.
    assert "label_smoothing" in tabular_space_for(500, Task.BINARY)
    assert "label_smoothing" not in tabular_space_for(500, Task.REGRESSION)


@pytest.mark.parametrize("task", [Task.MULTICLASS, Task.REGRESSION])
def test_the_published_defaults_are_points_of_the_space_cheapest_first(task):
    space = tabular_space_for(5000, task)
    for name in PublishedDefaults:
        point = published(name, task)
        admitted = space.starting_point(point)
        active = {key: value for key, value in point.items() if key in admitted or key in space and
                  space[key].is_active(admitted)}
        assert admitted == active, f"{name}: the space refuses {set(active) - set(admitted)}"
    points = starting_points(task)
    assert [point["k"] for point in points] == [1, 1, 32]
    assert points[0]["d_block"] < points[1]["d_block"]
    # RealMLP-TD's regression defaults (pytabkit RealMLP_TD_REG) differ from its classification ones.
    realmlp = published(PublishedDefaults.REALMLP, task)
    assert (realmlp["activation"], realmlp["learning_rate"]) == (
        ("mish", 0.2 / 16) if task is Task.REGRESSION else ("selu", 0.04 / 16))
    assert TABULAR.sized_for(5000, task).first_trials()[0] == space.starting_point(realmlp)
    fixed = published_preset(PublishedDefaults.REALMLP).sized_for(5000, task).space
    assert {param.name: param.value for param in fixed} == realmlp  # `defaults: realmlp` trains the task's point


def test_the_schedules_follow_their_published_shapes():
    from kerashpo.spaces.choices import DropoutSchedule, TabularSchedule

    # coslog4 (RealMLP): zero at the start, four peaks on a log time scale, back to zero at the end.
    values = [learning_rate_factor(TabularSchedule.COSLOG4, t / 1000) for t in range(1001)]
    assert values[0] == pytest.approx(0) and values[-1] == pytest.approx(0, abs=1e-9)
    peaks = [i for i in range(1, 1000) if values[i - 1] < values[i] >= values[i + 1]]
    assert len(peaks) == 4 and all(values[i] == pytest.approx(1, abs=1e-3) for i in peaks)
    assert learning_rate_factor(TabularSchedule.FLAT_COSINE, 0.4) == 1 > learning_rate_factor(
        TabularSchedule.FLAT_COSINE, 0.75)
    assert learning_rate_factor(TabularSchedule.WARMUP_COSINE, 0.0) < 0.2 < learning_rate_factor(
        TabularSchedule.WARMUP_COSINE, 0.1)
    # Dropout moves in steps (each recompiles the training step): flat for the first half, then down to near 0.
    steps = [dropout_factor(DropoutSchedule.FLAT_COSINE, t / 100) for t in range(100)]
    assert steps[:50] == [1.0] * 50 and steps[-1] < 0.1 and 3 <= len(set(steps[50:])) <= 4
    assert all(later <= earlier for earlier, later in zip(steps, steps[1:]))


def test_label_smoothing_spreads_its_share_over_every_class():
    from kerashpo.spaces.presets.tabular.losses import SmoothedSparseCategoricalCrossentropy

    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype="float32")
    labels = np.array([0, 1])
    target = np.eye(3)[labels] * 0.9 + 0.1 / 3
    expected = np.mean(-(target * np.log(probabilities)).sum(axis=1))
    loss = SmoothedSparseCategoricalCrossentropy(0.1)(labels, probabilities)
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_scaling_maps_the_training_quantiles_as_published(wine_setup):
    import keras

    from kerashpo.spaces.choices import InputScaling
    from kerashpo.spaces.data_spec import QUANTILE_LEVELS, NumericInput
    from kerashpo.spaces.presets.tabular.layers import SMOOTH_CLIP, bin_edges, scaled

    item = next(i for i in wine_setup.data.spec.inputs if isinstance(i, NumericInput) and i.name == "proline")
    table = item.quantile_table()
    grid = np.linspace(table[0, 0] - 500, table[-1, 0] + 500, 400, dtype="float32")[:, None]
    quantile = keras.ops.convert_to_numpy(scaled(grid, table, InputScaling.QUANTILE, item.mean, item.variance))
    robust = keras.ops.convert_to_numpy(scaled(grid, table, InputScaling.ROBUST, item.mean, item.variance))
    assert np.all(np.diff(quantile[:, 0]) >= 0) and np.all(np.diff(robust[:, 0]) > 0)  # order kept
    median = keras.ops.convert_to_numpy(scaled(table[16:17], table, InputScaling.QUANTILE, item.mean, item.variance))
    assert median[0, 0] == pytest.approx(0.0, abs=1e-5)  # the median's normal score
    assert quantile.min() == pytest.approx(-3.09, abs=0.01) and quantile.max() == pytest.approx(3.09, abs=0.01)
    assert np.abs(robust).max() < SMOOTH_CLIP  # smoothly clipped
    edges = bin_edges(table, 8)
    assert edges.shape == (9, 1) and np.all(np.diff(edges[:, 0]) > 0) and len(QUANTILE_LEVELS) == 33


def test_the_dropout_schedule_sets_each_epochs_rate_and_gives_the_first_back(wine_setup):
    import keras

    from kerashpo.spaces.presets.tabular.schedules import DropoutScheduler

    rates: list[float] = []
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dropout(0.4), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    watch = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: rates.append(model.layers[0].rate))
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    model.fit(x, x[:, :1], epochs=4, verbose=0, callbacks=[DropoutScheduler(lambda epoch: 1 - epoch / 4), watch])
    assert rates == pytest.approx([0.4, 0.3, 0.2, 0.1])
    assert model.layers[0].rate == pytest.approx(0.4)


# -- searched and shipped, by both drivers -------------------------------------------------------------------------

FRESH_PROCESS = textwrap.dedent("""\
    import json, sys
    import keras, pandas as pd
    model = keras.saving.load_model(sys.argv[1], safe_mode=True)
    rows = pd.read_csv(sys.argv[2])
    schema = json.load(open(sys.argv[3]))
    inputs = {item["name"]: rows[[item["column"]]].to_numpy().astype("float32") for item in schema["inputs"]
              if item["kind"] == "numeric"}
    if len(inputs) < len(schema["inputs"]):  # text columns: TensorFlow's strings
        import tensorflow as tf
        inputs.update({item["name"]: tf.constant(rows[[item["column"]]].to_numpy().astype(str))
                       for item in schema["inputs"] if item["kind"] != "numeric"})
    print(json.dumps({"kerashpo_imported": any(m.startswith("kerashpo") for m in sys.modules),
                      "backend": keras.backend.backend(), "predictions": model.predict(inputs, verbose=0).tolist()}))
""")


# Optuna ships the ensemble of its best trials (the default) of a model with text columns, read on TensorFlow;
# Keras Tuner cross-validates each trial and ships the champion refit on every non-test row, read on JAX.
SEARCHES = {
    "optuna, text columns, ensemble": ("optuna", True, ("tensorflow",), "optuna: {pruner: none}\n"),
    "keras_tuner, folds, refit": ("keras_tuner", False, ("jax",),
                                  "keras_tuner: {tuner: random}\nsplit: {folds: 2}\n"),
}


@pytest.mark.slow
@pytest.mark.parametrize(("driver", "text", "backends", "options"), SEARCHES.values(), ids=SEARCHES.keys())
def test_a_tabular_search_starts_from_the_published_defaults_and_ships_a_model_that_loads_without_kerashpo(
        driver, text, backends, options, tmp_path, empty_mlflow_db):
    directory = copy_store(empty_mlflow_db, tmp_path)
    write_wine(directory, text)
    (directory / "wine.yaml").write_text(textwrap.dedent(f"""\
        name: wine
        dataset: {{path: wine.csv, target: target}}
        space: tabular
        driver: {driver}
        budget: {{trials: 3, max_epochs: 3, patience: 3}}
        export: {{formats: [keras]}}
        report: false
    """) + options)
    with chdir(directory):
        assert main(["run", "wine.yaml"]) == 0
    client = MlflowClient(tracking_uri(directory))
    experiment = client.get_experiment_by_name("wine").experiment_id
    trials = sorted(client.search_runs([experiment], "tags.`kerashpo.role` = 'trial'"),
                    key=lambda run: int(run.data.tags["trial_number"]))
    assert len(trials) == 3
    for run, name in zip(trials, PublishedDefaults):
        for key in ("numeric_embedding", "scaling", "k", "d_block", "lr_schedule"):
            assert run.data.params[key] == str(PUBLISHED[name][key]), (name, key, run.data.params)

    # A plain Keras load in a fresh process that never imports kerashpo, on each backend, predicts as kerashpo.
    export = directory / "mlruns" / "exports" / "wine"
    rows = directory / "rows.csv"
    import pandas as pd

    pd.read_csv(directory / "wine.csv").drop(columns="target").head(8).to_csv(rows, index=False)
    with chdir(directory):
        assert main(["predict", "--model", str(export), str(rows), "--out", "predicted.csv"]) == 0
    expected = pd.read_csv(directory / "predicted.csv").filter(like="probability").to_numpy()
    for backend in backends:
        done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(export / "model.keras"), str(rows),
                               str(export / "schema.json")], capture_output=True, text=True, timeout=300,
                              env=user_env(KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3"))
        assert done.returncode == 0, done.stderr[-3000:]
        out = json.loads(done.stdout.strip().splitlines()[-1])
        assert out["backend"] == backend and not out["kerashpo_imported"]
        np.testing.assert_allclose(np.array(out["predictions"]), expected, atol=1e-4)


def test_published_defaults_train_one_fixed_configuration_and_are_refused_elsewhere(tmp_path, empty_mlflow_db,
                                                                                     capsys):
    directory = copy_store(empty_mlflow_db, tmp_path)
    write_wine(directory)
    base = "name: wine_realmlp\ndataset: {path: wine.csv, target: target}\nreport: false\nbaseline: false\n"
    (directory / "realmlp.yaml").write_text(base + "space: tabular\ndefaults: realmlp\nbudget: {max_epochs: 3}\n"
                                            "export: {formats: [keras]}\n")
    (directory / "wrong_space.yaml").write_text(base + "defaults: tabm\n")
    (directory / "many.yaml").write_text(base + "space: tabular\ndefaults: tabm\nbudget: {trials: 5}\n")
    with chdir(directory):
        assert main(["run", "wrong_space.yaml"]) == 2
        assert main(["run", "many.yaml"]) == 2
        refusals = capsys.readouterr().err
        assert "defaults: tabm is a configuration of space tabular; set space: tabular" in refusals
        assert "defaults: tabm trains one fixed configuration; set budget.trials to 1" in refusals
        assert not (directory / "mlruns" / "exports").exists()
        assert main(["run", "realmlp.yaml"]) == 0
    client = MlflowClient(tracking_uri(directory))
    (trial,) = client.search_runs([client.get_experiment_by_name("wine_realmlp").experiment_id],
                                  "tags.`kerashpo.role` = 'trial'")
    realmlp = PUBLISHED[PublishedDefaults.REALMLP]
    assert {key: trial.data.params[key] for key in realmlp} == {key: str(value) for key, value in realmlp.items()}
    # It trained with label smoothing, a loss of kerashpo's own: the shipped file names nothing of kerashpo.
    import zipfile

    with zipfile.ZipFile(directory / "mlruns" / "exports" / "wine_realmlp" / "model.keras") as archive:
        assert "kerashpo" not in archive.read("config.json").decode()
