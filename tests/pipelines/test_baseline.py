"""Never worse than the simple model: the linear baseline, depth 0, budgets in examples, the default objective."""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pandas as pd
import pytest
from helpers import chdir, tracking_uri
from mlflow import MlflowClient

from kerashpo.pipelines.cli import main
from kerashpo.pipelines.run.baseline import paired_difference
from kerashpo.search.leaderboard import leaderboard
from kerashpo.search.training.budget import MIN_EXAMPLES_JUDGED, Budget
from kerashpo.spaces import DEFAULT_OBJECTIVE, MLP
from kerashpo.spaces.choices import Task
from kerashpo.spaces.data_spec import DataSpec, NumericInput


def test_rungs_on_a_100_row_split_count_at_least_the_minimum_examples():
    small = Budget(examples_per_epoch=100, max_epochs=30, validation_rows=120)
    assert small.min_examples >= MIN_EXAMPLES_JUDGED and small.min_examples % 100 == 0
    assert small.examples(3) == 300 and small.can_prune and small.small_validation
    assert "cross-validation" in small.notes()[0]
    # Too few epochs to reach the first rung, or too few validation rows to rank: pruning is off, and says so.
    assert not Budget(100, 4, 120).can_prune and "pruning is off" in Budget(100, 4, 120).notes()[0]
    assert not Budget(100, 30, 12).can_prune and "12 validation rows" in Budget(100, 30, 12).notes()[0]
    assert small.rungs_inside_first_epoch() == ()  # judged at epoch ends
    # On 40,000 rows the first rungs come inside the first epoch: a bad configuration costs seconds.
    large = Budget(examples_per_epoch=40_000, max_epochs=30, validation_rows=10_000)
    assert large.min_examples == MIN_EXAMPLES_JUDGED and large.notes() == []
    assert large.rungs_inside_first_epoch() == (512, 1536, 4608, 13824)


def test_depth_zero_builds_a_regularised_linear_model():
    spec = DataSpec(inputs=(NumericInput("x", np.zeros(4), np.ones(4)),), task="multiclass", n_classes=3)
    model = MLP.build({"n_layers": 0, "l2_enabled": True, "l2": 1e-3}, spec)
    dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert [layer.name for layer in dense] == ["head"] and dense[0].kernel_regularizer is not None
    assert model.count_params() == 4 * 3 + 3  # the head's weights and biases: nothing else trains
    assert 0 in range(MLP.space["n_layers"].low, MLP.space["n_layers"].high + 1)


def test_the_default_objective_is_log_loss_without_the_penalty():
    assert DEFAULT_OBJECTIVE["multiclass"] == DEFAULT_OBJECTIVE["binary"] == "val_log_loss"
    assert DEFAULT_OBJECTIVE["regression"] == "val_rmse"
    from kerashpo.pipelines.config import parse_config
    from kerashpo.pipelines.data.splits import data_spec, load_dataset, split_dataset
    from kerashpo.search import FixedSampling, SpaceSource, TrainingSetup, TrialData, TrialOptions, run_trial

    data = load_dataset(parse_config({"name": "t", "dataset": {"name": "iris"}}))
    splits = split_dataset(data, 0.2, 0.2, seed=0)
    setup = TrainingSetup(TrialData(splits.x_train, splits.y_train, splits.x_val, splits.y_val,
                                    data_spec(data, splits)),
                          objective="val_log_loss", direction="minimize", max_epochs=3, patience=3)
    params = {"n_layers": 1, "units_1": 16, "l2_enabled": True, "l2": 1e-2, "learning_rate": 1e-2}
    result = run_trial(setup, SpaceSource(MLP), FixedSampling(params), TrialOptions(seed=0))
    # val_loss carries the L2 penalty; the objective does not.
    assert all(loss > log_loss for loss, log_loss in zip(result.history["val_loss"], result.history["val_log_loss"]))
    assert result.value == min(result.history["val_log_loss"])


def test_a_run_on_a_small_table_records_the_baselines_beside_the_trials_and_says_when_boosting_wins(
        in_run_dir, capsys, caplog):
    # Two thresholds crossed (an XOR): trees split it at once; a line cannot, nor a few epochs of a small network.
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(300, 2))
    table = pd.DataFrame({"u": x[:, 0], "v": x[:, 1], "kind": rng.choice(["a", "b"], 300),
                          "label": np.where((x[:, 0] > 0) ^ (x[:, 1] > 0), "yes", "no")})
    table.to_csv(in_run_dir / "xor.csv", index=False)
    (in_run_dir / "xor.yaml").write_text(textwrap.dedent("""\
        name: xor
        dataset: {path: xor.csv, target: label}
        budget: {trials: 3, max_epochs: 6, patience: 3}
        report: false
        export: {formats: [keras]}
        seed: 1
    """))
    with chdir(in_run_dir):
        assert main(["run", "xor.yaml"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "space mlp for 180 training rows: n_layers 0-2, units 16-128" in caplog.text
    assert "vs baseline (LogisticRegression, same splits): val_log_loss" in out
    assert "vs baseline (HistGradientBoostingClassifier, same splits): val_log_loss" in out
    line = re.search(r"gradient boosting \(HistGradientBoostingClassifier, same splits\) is better than what ships "
                     r"on validation: val_log_loss ([\d.]+) vs ([\d.]+), paired difference \(gradient boosting "
                     r"minus what ships\) ([-+][\d.]+) ± ([\d.]+) \(standard error over 60 validation rows\); "
                     r"kerashpo ships the Keras model", out)
    assert line, out[-3000:]
    reference, shipped, difference, error = (float(line.group(k)) for k in (1, 2, 3, 4))
    assert reference < shipped and difference == pytest.approx(reference - shipped, abs=1e-3) and 0 < error

    client = MlflowClient(tracking_uri(in_run_dir))
    experiment = client.get_experiment_by_name("xor").experiment_id
    baselines = client.search_runs([experiment], "tags.`kerashpo.role` = 'baseline'")
    by_reference = {run.data.tags["reference"]: run for run in baselines}
    assert {name: run.data.tags["model"] for name, run in by_reference.items()} == {
        "linear": "LogisticRegression", "gradient_boosting": "HistGradientBoostingClassifier"}
    assert by_reference["gradient_boosting"].data.metrics["val_log_loss"] == pytest.approx(reference, abs=1e-4)
    for baseline in baselines:
        assert baseline.data.tags["state"] == "BASELINE"
        # Scored on the same validation rows, then once on the same test rows as the champion.
        assert baseline.data.metrics["best_val_log_loss"] == baseline.data.metrics["val_log_loss"] > 0
        assert {"test_accuracy", "test_log_loss"} <= set(baseline.data.metrics)

    board = leaderboard(tracking_uri(in_run_dir), "xor")
    references = board[board["state"] == "BASELINE"]
    assert list(references.index) == [len(board) - 2, len(board) - 1] and references["trial"].isna().all()
    assert dict(zip(references["reference"], references["objective"])) == pytest.approx(
        {run.data.tags["model"]: run.data.metrics["val_log_loss"] for run in baselines})
    assert board.loc[0, "state"] == "COMPLETE" and board["reference"].iloc[:-2].isna().all()
    # The first trials were the simple models: the linear one (depth 0) and a small network.
    trials = board.dropna(subset=["trial"]).sort_values("trial")
    assert list(trials["n_layers"].head(2)) == [0, 1]
    card = (in_run_dir / "mlruns" / "exports" / "xor" / "model_card.md").read_text()
    assert "- Baseline: LogisticRegression on the same splits: validation val_log_loss" in card
    assert "- Baseline: HistGradientBoostingClassifier on the same splits: validation val_log_loss" in card
    assert "- Note: gradient boosting (HistGradientBoostingClassifier, same splits) is better than" in card


@pytest.mark.parametrize("task, objective", [("binary", "val_log_loss"), ("binary", "val_auc"),
                                             ("multiclass", "val_accuracy"), ("regression", "val_rmse"),
                                             ("regression", "val_mae")])
def test_the_paired_difference_is_the_metric_difference_with_a_bootstrap_error(task, objective):
    from sklearn.metrics import accuracy_score, log_loss, mean_absolute_error, roc_auc_score

    rng = np.random.default_rng(1)
    n = 400
    if task == "regression":
        y = rng.normal(size=n)
        shipped, reference = y + rng.normal(scale=1.0, size=n), y + rng.normal(scale=0.5, size=n)
        expected = {"val_rmse": lambda p: np.sqrt(np.mean((p - y) ** 2)),
                    "val_mae": lambda p: mean_absolute_error(y, p)}[objective]
    else:
        classes = 2 if task == "binary" else 3
        y = rng.integers(0, classes, n)
        def noisy(scale):
            logits = np.eye(classes)[y] * 2 + rng.normal(scale=scale, size=(n, classes))
            return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        shipped, reference = noisy(2.0), noisy(1.0)
        if task == "binary":
            shipped = shipped[:, 1:]  # a binary head gives the positive class's probability alone
        expected = {"val_log_loss": lambda p: log_loss(y, _two(p)),
                    "val_auc": lambda p: roc_auc_score(y, _two(p)[:, 1]),
                    "val_accuracy": lambda p: accuracy_score(y, _two(p).argmax(axis=1))}[objective]
    difference, error = paired_difference(Task(task), objective, y, shipped, reference)
    assert difference == pytest.approx(expected(reference) - expected(shipped), rel=1e-6)
    assert 0 < error < abs(difference)  # half the noise: clearly apart on 400 rows
    assert paired_difference(Task(task), objective, y, reference, reference) == (0.0, 0.0)
    assert paired_difference(Task(task), "val_loss", y, shipped, reference) is None


def _two(p):
    return np.column_stack([1 - p[:, 0], p[:, 0]]) if p.shape[1] == 1 else p
