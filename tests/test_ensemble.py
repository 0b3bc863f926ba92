"""`export.ensemble`: the kept trials tied with the best on validation, averaged and shipped as one Keras model."""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest
from helpers import tracking_uri
from mlflow import MlflowClient

from kerashpo.pipelines.cli import main
from kerashpo.pipelines.config import DEFAULT_ENSEMBLE
from kerashpo.search.ensemble import averaging_model, prediction_score, row_loss, tied_with_best


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
    from kerashpo.spaces.presets import PRESETS

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

    loss = row_loss("regression", "val_rmse")
    y, few = trials(40)
    assert tied_with_best(few, y, loss) == [0, 1]  # 40 rows cannot separate 10%; they do see an offset of 2
    y, many = trials(20000)
    assert tied_with_best(many, y, loss) == [0]  # 20,000 rows can


def test_per_row_losses_follow_the_objective():
    y = np.array([0, 1, 1])
    p = np.array([[0.2], [0.9], [0.4]])  # sigmoid outputs: the third row is misclassified
    np.testing.assert_allclose(row_loss("binary", "val_log_loss")(y, p), -np.log([0.8, 0.9, 0.4]))
    np.testing.assert_allclose(row_loss("binary", "val_auc")(y, p), -np.log([0.8, 0.9, 0.4]))  # no per-row AUC
    np.testing.assert_allclose(row_loss("binary", "val_accuracy")(y, p), [0, 0, 1])
    target, predicted = np.array([1.0, 2.0]), np.array([[2.0], [0.0]])
    np.testing.assert_allclose(row_loss("regression", "val_rmse")(target, predicted), [1, 4])
    np.testing.assert_allclose(row_loss("regression", "val_mae")(target, predicted), [1, 2])


def test_an_objective_predictions_cannot_give_falls_back_to_the_tasks_default():
    assert prediction_score("regression", "val_loss")[0] == "val_rmse"
    assert prediction_score("binary", "my_metric")[0] == "val_log_loss"
    assert prediction_score("binary", "val_auc")[0] == "val_auc"


def test_the_averaging_model_is_the_weighted_sum_and_loads_in_safe_mode(tmp_path):
    import keras

    from kerashpo.pipelines.config import parse_config
    from kerashpo.pipelines.data import data_spec, load_dataset, split_dataset
    from kerashpo.search.models import model_inputs
    from kerashpo.search.sources import FixedSampling, SpaceSource
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


@pytest.mark.slow
def test_a_run_ships_the_ensemble_it_selected_and_its_card_lists_the_members(in_run_dir, capsys):
    import keras

    from kerashpo.pipelines.config import load_config
    from kerashpo.pipelines.data import load_dataset, split_dataset
    from kerashpo.search.models import model_inputs

    # Near-identical short trainings (other seeds, a little dropout): their average beats each of them.
    (in_run_dir / "same.yaml").write_text(SAME_NETWORK)
    (in_run_dir / "ens.yaml").write_text(textwrap.dedent("""\
        name: ens
        dataset: {name: digits}
        space: same.yaml
        budget: {trials: 4, max_epochs: 3, patience: 3}
        report: false
        optuna: {pruner: none}
        export: {formats: [keras]}
        seed: 2
    """))
    assert main(["run", "ens.yaml"]) == 0  # the default: the average of up to 5 of the best trials
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert "shipped: ensemble of" in out
    card = (in_run_dir / "mlruns" / "exports" / "ens" / "model_card.md").read_text()
    weights_line = next(line for line in card.splitlines() if line.startswith("- Weights:"))
    members = {int(n): float(w) for n, w in re.findall(r"trial (\d+) x([0-9.]+)", weights_line)}
    assert len(members) >= 2 and all(w == pytest.approx(1 / len(members), abs=0.01) for w in members.values()), \
        weights_line
    assert "the trials tied with the best on validation val_log_loss" in weights_line

    client = MlflowClient(tracking_uri(in_run_dir))
    (parent,) = client.search_runs([client.get_experiment_by_name("ens").experiment_id],
                                   "tags.`kerashpo.role` = 'search'")
    metrics = parent.data.metrics
    # What shipped is what the summary holds against the linear baseline.
    assert f"val_log_loss {metrics['ensemble_val_log_loss']:.4f} vs" in out
    config = load_config(in_run_dir / "ens.yaml")
    splits = split_dataset(load_dataset(config), config.split.validation, config.split.test, config.seed)
    x = model_inputs(splits.x_val)
    checkpoints = in_run_dir / "mlruns" / "checkpoints" / "ens"
    predictions = {int(path.stem.removeprefix("trial-")): keras.saving.load_model(path).predict(x, verbose=0)
                   for path in checkpoints.glob("trial-*.keras")}
    # The members are exactly the kept trials tied with the best (all 4 trials are complete and kept).
    best = int(parent.data.tags["best_trial"])
    others = sorted(set(predictions) - {best})
    ranked = [best, *others]  # the tie is judged against the best alone: the others' order does not matter
    tied = tied_with_best([predictions[n] for n in ranked], splits.y_val, row_loss("multiclass", "val_log_loss"))
    assert set(members) == {ranked[i] for i in tied}
    # The shipped model is the average of the members' own checkpoints, and scores what the run logged.
    expected = sum(weight * predictions[number] for number, weight in members.items())
    shipped = keras.saving.load_model(in_run_dir / "mlruns" / "exports" / "ens" / "model.keras", safe_mode=True)
    np.testing.assert_allclose(shipped.predict(x, verbose=0), expected, atol=0.01)
    _, score, _ = prediction_score("multiclass", "val_log_loss")
    assert score(splits.y_val, expected) == pytest.approx(metrics["ensemble_val_log_loss"], abs=0.01)
