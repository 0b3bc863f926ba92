"""`export.ensemble`: greedy selection over the kept trials on validation, shipped as one Keras model."""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pytest
from helpers import tracking_uri
from mlflow import MlflowClient

from kerashpo.pipelines.cli import main
from kerashpo.pipelines.config import DEFAULT_ENSEMBLE
from kerashpo.search.ensemble import averaging_model, greedy_counts, prediction_score
from kerashpo.spaces.choices import Direction


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


def test_selection_weights_complementary_models_and_drops_a_useless_one():
    # Three classes; model a is right on the first half, b on the second, c is uniform everywhere.
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    confident = np.eye(3)[y] * 0.9 + 0.05
    wrong = np.eye(3)[(y + 1) % 3] * 0.9 + 0.05
    a = np.where(np.arange(8)[:, None] < 4, confident, wrong)
    b = np.where(np.arange(8)[:, None] < 4, wrong, confident)
    c = np.full((8, 3), 1 / 3)
    objective, score, direction = prediction_score("multiclass", "val_log_loss")
    assert objective == "val_log_loss" and direction is Direction.MINIMIZE
    counts, value = greedy_counts([a, b, c], y, score, direction)
    singles = [score(y, p) for p in (a, b, c)]
    assert counts[0] > 0 and counts[1] > 0, counts  # the pair averages out each one's mistakes
    assert value < min(singles)
    assert value == pytest.approx(score(y, (counts[0] * a + counts[1] * b + counts[2] * c) / sum(counts)))


def test_selection_never_scores_below_the_best_single_model():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    models = [np.clip(y[:, None] * 0.6 + rng.normal(0.2, 0.3, (60, 1)), 0.01, 0.99) for _ in range(4)]
    for metric in ("val_log_loss", "val_accuracy", "val_auc"):
        _, score, direction = prediction_score("binary", metric)
        _, value = greedy_counts(models, y, score, direction)
        best_single = min((score(y, p) for p in models), key=direction.best_first)
        assert not direction.better(best_single, value), metric


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
    assert main(["run", "ens.yaml"]) == 0  # the default: an ensemble of up to 5 of the best trials
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert "shipped: ensemble of" in out
    card = (in_run_dir / "mlruns" / "exports" / "ens" / "model_card.md").read_text()
    weights_line = next(line for line in card.splitlines() if line.startswith("- Weights:"))
    members = {int(n): float(w) for n, w in re.findall(r"trial (\d+) x([0-9.]+)", weights_line)}
    assert len(members) >= 2 and sum(members.values()) == pytest.approx(1, abs=0.02), weights_line
    assert "selected on validation val_log_loss" in weights_line

    client = MlflowClient(tracking_uri(in_run_dir))
    (parent,) = client.search_runs([client.get_experiment_by_name("ens").experiment_id],
                                   "tags.`kerashpo.role` = 'search'")
    metrics = parent.data.metrics
    assert metrics["ensemble_val_log_loss"] < metrics["best_val_log_loss"]
    # What shipped is what the summary holds against the linear baseline.
    assert f"val_log_loss {metrics['ensemble_val_log_loss']:.4f} vs" in out
    # The shipped model is the weighted average of the members' own checkpoints.
    config = load_config(in_run_dir / "ens.yaml")
    splits = split_dataset(load_dataset(config), config.split.validation, config.split.test, config.seed)
    x = model_inputs(splits.x_val)
    checkpoints = in_run_dir / "mlruns" / "checkpoints" / "ens"
    expected = sum(weight * keras.saving.load_model(checkpoints / f"trial-{number:05d}.keras").predict(x, verbose=0)
                   for number, weight in members.items())
    shipped = keras.saving.load_model(in_run_dir / "mlruns" / "exports" / "ens" / "model.keras", safe_mode=True)
    np.testing.assert_allclose(shipped.predict(x, verbose=0), expected, atol=0.01)
