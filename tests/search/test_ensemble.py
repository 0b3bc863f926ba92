"""`export.ensemble`: the kept trials tied with the best on validation, averaged and shipped as one Keras model."""

from __future__ import annotations

import contextlib
import html
import io
import re
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from helpers import chdir, copy_store, tracking_uri
from mlflow import MlflowClient

from kerashpo.pipelines.cli import main
from kerashpo.pipelines.config import DEFAULT_ENSEMBLE
from kerashpo.pipelines.serving import Champion
from kerashpo.search.selection.ensemble import (
    TIE_STANDARD_ERRORS,
    averaging_model,
    linear_margin,
    prediction_score,
    row_loss,
    tied_with_best,
)
from kerashpo.spaces.choices import Task


@pytest.mark.parametrize(("settings", "size"), [
    ({}, DEFAULT_ENSEMBLE),  # the default: the best trials' average
    ({"export": {"ensemble": 0}}, 0),
    ({"export": {"ensemble": 3, "refit": True}}, None),  # refused: the config says why
    ({"export": {"refit": True}}, 0),  # a refit champion: no trial models to average
    ({"split": {"folds": 3}}, 0),
    ({"objectives": [{"metric": "val_log_loss"}, {"metric": "n_params", "direction": "minimize"}]}, 0),
    ({"constraints": {"n_params": {"max": 5000}}}, 0),  # the average of several is larger than each
    ({"build_model": "models:build_model"}, 0),  # a user's outputs: logits or probabilities, unknown
    ({"space": "transfer"}, 0),  # every member would carry its own pretrained base
])
def test_the_ensemble_is_on_by_default_where_the_trials_own_models_ship(settings, size):
    from kerashpo.pipelines.config import ConfigError, parse_config
    from kerashpo.spaces.presets.registry import PRESETS

    document = {"name": "e", "dataset": {"name": "iris"}, **settings}
    if size is None:
        with pytest.raises(ConfigError, match="cannot be combined with refit"):
            parse_config(document)
        return
    config = parse_config(document)
    preset = None if config.build_model else PRESETS[config.space]
    assert config.ensemble_size(preset) == size


def test_a_trial_joins_when_the_validation_rows_cannot_tell_it_from_the_best():
    rng = np.random.default_rng(0)

    def trials(rows: int) -> tuple[np.ndarray, list[np.ndarray]]:
        # The second trial's errors are 10% wider (their own), the third's are the first's shifted by 2.
        y = rng.normal(size=rows)
        noise = rng.normal(size=rows)
        return y, [y + noise, y + 1.1 * rng.normal(size=rows), y + noise + 2.0]

    loss = row_loss(Task.REGRESSION, "val_rmse")
    y, few = trials(40)
    assert sorted(tied_with_best(few, y, loss)) == [0, 1]  # 40 rows cannot separate 10%; they see an offset of 2
    y, many = trials(20000)
    assert tied_with_best(many, y, loss) == [0]  # 20,000 rows can


def test_the_linear_model_is_held_to_the_margin_the_best_of_many_trials_reaches_by_chance():
    # The best of 1 trial is no lucky draw; of 25 and 100, the one-sided 5% Bonferroni bound.
    assert linear_margin(1) == TIE_STANDARD_ERRORS
    assert linear_margin(25) == pytest.approx(2.878, abs=1e-3) and linear_margin(100) == pytest.approx(3.291, abs=1e-3)
    noise = np.random.default_rng(0).normal(size=100)
    noise = (noise - noise.mean()) / noise.std(ddof=1)  # a standard error of exactly 0.1
    per_row = [np.full(100, 1.0), 1.0 + 0.25 * noise.std(ddof=1) + noise]  # the second: 2.5 standard errors worse
    given = lambda y, p: p  # noqa: E731  (the rows' losses themselves)
    assert tied_with_best(per_row, np.zeros(100), given) == [0]
    assert tied_with_best(per_row, np.zeros(100), given, margins=[TIE_STANDARD_ERRORS, linear_margin(25)]) == [0, 1]
    # The lowest mean loss is the reference, whatever the order.
    assert tied_with_best(per_row[::-1], np.zeros(100), given) == [1]


def test_the_linear_model_is_the_same_for_the_same_seed_with_a_category_of_many_values(tmp_path):
    import pandas as pd

    from kerashpo.pipelines.config import parse_config
    from kerashpo.pipelines.data.splits import data_spec, load_dataset, split_dataset
    from kerashpo.search.models import model_inputs
    from kerashpo.search.selection.linear import fitted_linear_model
    from kerashpo.spaces.presets.inputs import ONE_HOT_MAX

    rng = np.random.default_rng(0)
    cities = [f"city {k}" for k in range(3 * ONE_HOT_MAX)]  # embedded, not one-hot
    frame = pd.DataFrame({"x": rng.normal(size=400), "city": rng.choice(cities, 400)})
    frame["y"] = (frame["x"] + rng.normal(0, 0.5, 400) > 0).astype(int)
    frame.to_csv(tmp_path / "cities.csv", index=False)
    data = load_dataset(parse_config({"name": "t", "dataset": {"path": str(tmp_path / "cities.csv"), "target": "y"}}))
    splits = split_dataset(data, 0.2, 0.2, seed=0)
    spec = data_spec(data, splits)
    first, again, other = (fitted_linear_model(spec, splits.x_train, splits.y_train, seed=s)[1] for s in (1, 1, 2))
    x = model_inputs(splits.x_test)
    np.testing.assert_array_equal(first.predict(x, verbose=0), again.predict(x, verbose=0))
    assert not np.array_equal(first.predict(x, verbose=0), other.predict(x, verbose=0))


def test_the_linear_model_is_no_candidate_beside_a_model_with_other_inputs():
    import keras

    from kerashpo.search.selection.linear import linear_architecture
    from kerashpo.spaces import MLP
    from kerashpo.spaces.data_spec import DataSpec, NumericInput

    spec = DataSpec(inputs=(NumericInput("x", np.zeros(4), np.ones(4)),), task="binary")
    trial = MLP.build({"n_layers": 1}, spec)
    assert linear_architecture(spec, like=trial) is not None  # the trials' own inputs
    own = keras.Input(shape=(4,), name="pixels")  # a user's builder, its own input
    assert linear_architecture(spec, like=keras.Model(own, keras.layers.Dense(1)(own))) is None


@pytest.mark.parametrize("table", ["iris", "breast_cancer", "diabetes", "mixed"])
def test_the_linear_model_is_scikit_learns_fit_on_the_trials_inputs(table, tmp_path):
    """The Keras linear model answers as the baseline does: same estimator, same preprocessing, exact weights."""
    import pandas as pd

    from kerashpo.pipelines.config import parse_config
    from kerashpo.pipelines.data.splits import data_spec, load_dataset, split_dataset
    from kerashpo.pipelines.run.baseline import _frame as baseline_frame
    from kerashpo.pipelines.run.baseline import fit_baseline
    from kerashpo.search.models import model_inputs
    from kerashpo.search.selection.linear import fitted_linear_model

    dataset_config: dict = {"name": table}
    if table == "mixed":  # a text column and missing numbers: one-hot and imputation on both sides
        rng = np.random.default_rng(1)
        frame = pd.DataFrame({"size": rng.normal(size=300), "colour": rng.choice(["red", "blue", "green"], 300)})
        frame["label"] = ((frame["size"] + (frame["colour"] == "red") + rng.normal(0, 0.5, 300)) > 0.5).astype(int)
        frame.loc[frame.sample(30, random_state=0).index, "size"] = np.nan
        frame.to_csv(tmp_path / "mixed.csv", index=False)
        dataset_config = {"path": str(tmp_path / "mixed.csv"), "target": "label"}
    data = load_dataset(parse_config({"name": "t", "dataset": dataset_config}))
    splits = split_dataset(data, 0.2, 0.2, seed=0)
    name, model = fitted_linear_model(data_spec(data, splits), splits.x_train, splits.y_train, seed=0)
    fitted = fit_baseline(data, splits, seed=0)
    assert name == fitted.name
    baseline = fitted.model
    ours = model.predict(model_inputs(splits.x_test), verbose=0)
    theirs = baseline_frame(splits.x_test)
    if data.task == "regression":
        np.testing.assert_allclose(ours[:, 0], baseline.predict(theirs), atol=0.05)  # RMSE ~ 55 on this target
    else:
        expected = baseline.predict_proba(theirs)
        # With missing numbers the network standardises by the observed values' spread, scikit-learn by the
        # spread after imputation: the same model up to how far the penalty reaches.
        np.testing.assert_allclose(ours, expected[:, 1:] if data.task == "binary" else expected,
                                   atol=1e-2 if table == "mixed" else 2e-3)


def test_per_row_losses_follow_the_objective():
    y = np.array([0, 1, 1])
    p = np.array([[0.2], [0.9], [0.4]])  # sigmoid outputs: the third row is misclassified
    np.testing.assert_allclose(row_loss(Task.BINARY, "val_log_loss")(y, p), -np.log([0.8, 0.9, 0.4]))
    np.testing.assert_allclose(row_loss(Task.BINARY, "val_auc")(y, p), -np.log([0.8, 0.9, 0.4]))  # no per-row AUC
    np.testing.assert_allclose(row_loss(Task.BINARY, "val_accuracy")(y, p), [0, 0, 1])
    target, predicted = np.array([1.0, 2.0]), np.array([[2.0], [0.0]])
    np.testing.assert_allclose(row_loss(Task.REGRESSION, "val_rmse")(target, predicted), [1, 4])
    np.testing.assert_allclose(row_loss(Task.REGRESSION, "val_mae")(target, predicted), [1, 2])


def test_an_objective_predictions_cannot_give_falls_back_to_the_tasks_default():
    assert prediction_score(Task.REGRESSION, "val_loss")[0] == "val_rmse"
    assert prediction_score(Task.BINARY, "my_metric")[0] == "val_log_loss"
    assert prediction_score(Task.BINARY, "val_auc")[0] == "val_auc"


def test_the_averaging_model_is_the_weighted_sum_and_loads_in_safe_mode(tmp_path):
    import keras

    from kerashpo.pipelines.config import parse_config
    from kerashpo.pipelines.data.splits import data_spec, load_dataset, split_dataset
    from kerashpo.search.models import model_inputs
    from kerashpo.search.training.sampling import FixedSampling
    from kerashpo.search.training.sources import SpaceSource
    from kerashpo.spaces import MLP

    dataset = load_dataset(parse_config({"name": "e", "dataset": {"name": "iris"}}))
    splits = split_dataset(dataset, 0.2, 0.2, seed=0)
    spec = data_spec(dataset, splits)
    source = SpaceSource(MLP)
    members = [source.build(FixedSampling({"n_layers": depth}), spec)[1] for depth in (0, 1)]
    combined = averaging_model(members, [0.75, 0.25], ["trial_3", "trial_8"])
    combined.save(tmp_path / "ensemble.keras")
    loaded = keras.saving.load_model(tmp_path / "ensemble.keras", safe_mode=True)
    x = model_inputs(splits.x_val)
    expected = 0.75 * members[0].predict(x, verbose=0) + 0.25 * members[1].predict(x, verbose=0)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded.predict(x, verbose=0).sum(axis=1), 1.0, rtol=1e-5)


SAME_NETWORK = textwrap.dedent("""\
    extends: mlp
    params:
      n_layers: {type: fixed, value: 1}
      units_1: {type: fixed, value: 32}
      activation: {type: fixed, value: relu}
      initializer: {type: fixed, value: glorot_uniform}
      dropout: {type: float, low: 0.0, high: 0.1}
      batch_norm: {type: fixed, value: false}
      l1_enabled: {type: fixed, value: false}
      l2_enabled: {type: fixed, value: false}
      optimizer: {type: fixed, value: adam}
      learning_rate: {type: fixed, value: 0.003}
      lr_schedule: {type: fixed, value: constant}
      clipnorm: {type: fixed, value: 0.0}
      batch_size: {type: fixed, value: 64}
""")


def _circles(path) -> None:
    """A table no linear model can fit (two rings): the trials' average ships, the linear model stays out."""
    import pandas as pd
    from sklearn.datasets import make_circles

    x, y = make_circles(n_samples=600, noise=0.08, factor=0.5, random_state=0)
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "label": y}).to_csv(path, index=False)


def _config(name: str, dataset: str, epochs: int) -> str:
    return textwrap.dedent(f"""\
        name: {name}
        dataset: {dataset}
        space: same.yaml
        budget: {{trials: 4, max_epochs: {epochs}, patience: 3}}
        report: false
        optuna: {{pruner: none}}
        export: {{formats: [keras]}}
        seed: 2
    """)


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory, empty_mlflow_db) -> tuple[Path, str]:
    """A run on two rings that ships the average of its tied trials (the default), with its report: its folder and
    what `kerashpo run` printed."""
    directory = copy_store(empty_mlflow_db, tmp_path_factory.mktemp("ensemble"))
    # Near-identical short trainings (other seeds, a little dropout): their average beats each of them.
    (directory / "same.yaml").write_text(SAME_NETWORK.replace("0.003", "0.02"))
    _circles(directory / "circles.csv")
    (directory / "ens.yaml").write_text(_config("ens", "{path: circles.csv, target: label}", epochs=8)
                                        .replace("report: false", "report: true"))
    printed = io.StringIO()
    with chdir(directory), contextlib.redirect_stdout(printed):
        assert main(["run", "ens.yaml"]) == 0  # the default: the average of up to 5 of the best trials
    return directory, printed.getvalue()


@pytest.mark.slow
@pytest.mark.xdist_group("ensemble_run")
def test_a_run_ships_the_ensemble_it_selected_and_its_card_lists_the_members(ensemble_run):
    import keras

    from kerashpo.pipelines.config import load_config
    from kerashpo.pipelines.data.splits import data_spec, load_dataset, split_dataset
    from kerashpo.search.models import model_inputs
    from kerashpo.search.selection.linear import fitted_linear_model

    directory, out = ensemble_run
    # Captured, as when piped to a file: each statement of the summary stays on one line.
    lines = out.splitlines()
    assert any(line.startswith("shipped: ensemble of") and line.rstrip().endswith(")") for line in lines), out
    (test_line,) = [line for line in lines if line.startswith("test (evaluated once): ")]
    assert "test_accuracy = " in test_line and "test_log_loss = " in test_line, test_line
    card = (directory / "mlruns" / "exports" / "ens" / "model_card.md").read_text()
    shipped_line = next(line for line in card.splitlines() if line.startswith("- Shipped:"))
    members = {name: float(w) for name, w in re.findall(r"(trial \d+|linear) x([0-9.]+)", shipped_line)}
    assert len(members) >= 2 and all(w == pytest.approx(1 / len(members), abs=0.01) for w in members.values()), \
        shipped_line
    assert "tied with the best on validation val_log_loss" in shipped_line

    client = MlflowClient(tracking_uri(directory))
    (parent,) = client.search_runs([client.get_experiment_by_name("ens").experiment_id],
                                   "tags.`kerashpo.role` = 'search'")
    metrics = parent.data.metrics
    # What shipped is what the summary holds against the linear baseline.
    assert f"val_log_loss {metrics['ensemble_val_log_loss']:.4f} vs" in out
    config = load_config(directory / "ens.yaml")
    data = load_dataset(config, directory)
    splits = split_dataset(data, config.split.validation, config.split.test, config.seed)
    x = model_inputs(splits.x_val)
    checkpoints = directory / "mlruns" / "checkpoints" / "ens"
    predictions = {f"trial {int(path.stem.removeprefix('trial-'))}":
                   keras.saving.load_model(path).predict(x, verbose=0) for path in checkpoints.glob("trial-*.keras")}
    _, linear = fitted_linear_model(data_spec(data, splits), splits.x_train, splits.y_train, config.seed)
    predictions["linear"] = linear.predict(x, verbose=0)
    # The members are exactly the candidates tied with the best: the 4 trials (all complete and kept) and the
    # linear model, held to the margin the best of 4 trials reaches by chance.
    names = list(predictions)
    margins = [linear_margin(4) if name == "linear" else TIE_STANDARD_ERRORS for name in names]
    tied = tied_with_best([predictions[n] for n in names], splits.y_val, row_loss(Task.BINARY, "val_log_loss"), margins)
    assert set(members) == {names[i] for i in tied} and "linear" not in members  # no linear model fits two rings
    # The shipped model is the average of the members' own checkpoints, and scores what the run logged.
    expected = sum(weight * predictions[name] for name, weight in members.items())
    shipped = keras.saving.load_model(directory / "mlruns" / "exports" / "ens" / "model.keras", safe_mode=True)
    np.testing.assert_allclose(shipped.predict(x, verbose=0), expected, atol=0.01)
    _, score, _ = prediction_score(Task.BINARY, "val_log_loss")
    assert score(splits.y_val, expected) == pytest.approx(metrics["ensemble_val_log_loss"], abs=0.01)


@pytest.mark.slow
def test_trials_the_linear_model_beats_on_validation_ship_it_and_it_scores_as_the_baseline(in_run_dir, capsys):
    # Three epochs leave the networks far from what logistic regression reaches on digits.
    (in_run_dir / "same.yaml").write_text(SAME_NETWORK)
    (in_run_dir / "lin.yaml").write_text(_config("lin", "{name: digits}", epochs=3))
    assert main(["run", "lin.yaml"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "shipped: the LogisticRegression fitted on the training split" in out
    assert "is worse than" not in out  # what shipped is the linear model
    client = MlflowClient(tracking_uri(in_run_dir))
    experiment = client.get_experiment_by_name("lin").experiment_id
    (parent,) = client.search_runs([experiment], "tags.`kerashpo.role` = 'search'")
    (baseline,) = client.search_runs([experiment], "tags.`kerashpo.role` = 'baseline' and tags.reference = 'linear'")
    for metric in ("test_log_loss", "test_accuracy"):  # the same rows, scored once each
        assert parent.data.metrics[metric] == pytest.approx(baseline.data.metrics[metric], abs=2e-3)
    assert parent.data.metrics["ensemble_val_log_loss"] < parent.data.metrics["best_val_log_loss"]
    card = (in_run_dir / "mlruns" / "exports" / "lin" / "model_card.md").read_text()
    assert "- Shipped: the LogisticRegression fitted on the training split" in card
    with warnings.catch_warnings(record=True) as caught:  # what `kerashpo predict` loads, without a word
        warnings.simplefilter("always")
        Champion.load(in_run_dir / "mlruns" / "exports" / "lin")
    assert not [w.message for w in caught if "Skipping variable loading" in str(w.message)]


@pytest.mark.slow
@pytest.mark.xdist_group("ensemble_run")
def test_the_report_and_the_card_name_the_shipped_ensemble_as_the_cli_does(ensemble_run):
    from kerashpo.pipelines.review.figures import draw_figures
    from kerashpo.pipelines.review.record import load_search

    directory, out = ensemble_run
    (shipped,) = [line.removeprefix("shipped: ") for line in out.splitlines() if line.startswith("shipped: ")]
    # Its kind, its members and its validation score, beside the best single trial's.
    assert re.fullmatch(r"ensemble of \d+ \((trial \d+ x0\.\d+, )+trial \d+ x0\.\d+\), .+ \(val_log_loss "
                        r"0\.\d{4}; the best single trial 0\.\d{4}\)", shipped), shipped
    value = float(re.search(r"\(val_log_loss (0\.\d{4});", shipped).group(1))

    report = (directory / "mlruns" / "exports" / "ens" / "report.html").read_text()
    rows = dict(re.findall(r"<tr><th>([^<]+)</th><td>([^<]*)</td></tr>", report))
    assert html.unescape(rows["Shipped"]) == shipped
    card = (directory / "mlruns" / "exports" / "ens" / "model_card.md").read_text()
    assert f"- Shipped: {shipped}\n" in card and "- Champion:" not in card
    assert shipped in html.unescape(report.split('id="model-card"')[1])

    # The chart holds what shipped against the baseline: the average's own validation scores, named as the CLI does.
    client = MlflowClient(tracking_uri(directory))
    (parent,) = client.search_runs([client.get_experiment_by_name("ens").experiment_id],
                                   "tags.`kerashpo.role` = 'search'")
    (chart,) = [figure for figure in draw_figures(load_search(client, parent.info.run_id)).drawn
                if figure.name == "champion_vs_baseline"]
    bars = {trace.name: dict(zip(trace.x, trace.y)) for trace in chart.interactive.data}
    kind = shipped.split(" (")[0]
    assert bars[f"shipped: {kind}, validation"]["log_loss"] == pytest.approx(value, abs=5e-5)
    assert bars[f"shipped: {kind}, validation"]["log_loss"] == pytest.approx(
        parent.data.metrics["ensemble_val_log_loss"])
    assert bars[f"shipped: {kind}, test"]["log_loss"] == pytest.approx(parent.data.metrics["test_log_loss"])
    assert shipped in chart.caption
    assert shipped in html.unescape(report.split('id="figure-champion_vs_baseline"')[1])
