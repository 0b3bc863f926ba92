"""`split: {folds: K}`: every trial trains on the same K folds of the non-test rows, through the one trial runner.

The search tests run digits (1,437 non-test rows, 479 validation rows a fold: enough that pruning needs no
bootstrap trials) with a two-valued space: "good" learns, "bad" is confidently wrong. The study is created and
its trials enqueued (good, then bad) before the run, as an Optuna user would, so the order is known.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import optuna
import pytest
from helpers import tracking_uri
from mlflow import MlflowClient
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from test_drivers import QUALITY, good_or_bad

from kerashpo.pipelines.cli import main
from kerashpo.pipelines.config import parse_config
from kerashpo.pipelines.data.loaders import load_builtin
from kerashpo.pipelines.data.splits import split_dataset, split_folds
from kerashpo.pipelines.run.baseline import fit_baseline
from kerashpo.pipelines.run.pipeline import run_pipeline
from kerashpo.pipelines.run.prepare import prepare_training

# The export check builds the space at the builder's defaults (no value sampled): "good" then.
QUALITY_PROBED = dataclasses.replace(
    QUALITY, build=lambda params, spec: good_or_bad({"quality": params.get("quality", "good")}, spec))


def _config(name: str, dataset: str = "digits", driver: str = "optuna", **split) -> dict:
    return {"name": name, "dataset": {"name": dataset}, "split": {"folds": 3, **split}, "driver": driver,
            "optuna": {"sampler": "random", "pruner": "successive_halving"}, "keras_tuner": {"tuner": "random"},
            "budget": {"trials": 2, "max_epochs": 2, "patience": 2}, "seed": 3, "report": False,
            "export": {"formats": ["keras"]}}


def test_folds_partition_the_non_test_rows_stratified_and_the_fingerprint_covers_them():
    wine = load_builtin("wine")
    splits = split_folds(wine, folds=4, test=0.2, seed=1)
    test_rows = {tuple(row) for row in splits.x_test}
    validation = [tuple(row) for fold in splits.folds for row in fold.x_val]
    assert len(splits.folds) == 4 and splits.sizes()["folds"] == 4
    # Every non-test row is validated exactly once; no fold trains or validates on a test row.
    assert len(validation) == len(set(validation)) == len(wine.y) - len(splits.y_test)
    assert not test_rows & set(validation)
    for fold in splits.folds:
        assert not test_rows & {tuple(row) for row in fold.x_train}
        assert len(fold.y_train) + len(fold.y_val) == len(validation)
        # Stratified: each class's share of a validation part is its share of the data, within one row.
        expected = np.bincount(wine.y) / len(wine.y) * len(fold.y_val)
        assert np.all(np.abs(np.bincount(fold.y_val, minlength=3) - expected) <= 1.5)
        assert fold.fingerprint == splits.fingerprint
    assert splits.fingerprint == split_folds(wine, folds=4, test=0.2, seed=1).fingerprint
    others = {split_folds(wine, folds=5, test=0.2, seed=1).fingerprint,
              split_folds(wine, folds=4, test=0.2, seed=2).fingerprint,
              split_folds(wine, folds=4, test=0.2, seed=1, repeats=2).fingerprint,
              split_dataset(wine, 0.2, 0.2, seed=1).fingerprint}
    assert splits.fingerprint not in others and len(others) == 4
    assert len(split_folds(wine, folds=4, test=0.2, seed=1, repeats=2).folds) == 8


def test_each_fold_has_preprocessing_fitted_on_its_own_training_part(tmp_path):
    training = prepare_training(parse_config(_config("scaled", dataset="wine")), workdir=tmp_path)
    folds = training.splits.folds
    assert len(training.setup.folds) == 3 and training.setup.data is training.setup.folds[0]
    means = []
    for fold, data in zip(folds, training.setup.folds):
        (features,) = data.spec.inputs
        np.testing.assert_allclose(features.mean, fold.x_train.mean(axis=0), rtol=1e-5)
        np.testing.assert_allclose(features.variance, fold.x_train.var(axis=0), rtol=1e-4)
        assert np.array_equal(data.x_val, fold.x_val)
        means.append(features.mean)
    assert not np.allclose(means[0], means[1])


def test_the_baseline_is_scored_over_the_same_folds():
    wine = load_builtin("wine")
    splits = split_folds(wine, folds=3, test=0.2, seed=1)
    baseline = fit_baseline(wine, splits, seed=1)
    per_fold = [fit_baseline(wine, fold, seed=1).validation["val_log_loss"] for fold in splits.folds]
    assert baseline.validation["val_log_loss"] == pytest.approx(np.mean(per_fold))
    # The model kept for the test is fitted on every non-test row.
    scaler = baseline.model[0][-1]
    assert np.all(scaler.n_samples_seen_ == len(wine.y) - len(splits.y_test))


@pytest.mark.slow
def test_a_three_fold_search_logs_each_fold_prunes_between_folds_and_refits_the_champion(in_run_dir):
    storage = JournalStorage(JournalFileBackend(str(in_run_dir / "mlruns" / "optuna.journal")))
    study = optuna.create_study(study_name="folds", storage=storage)
    for quality in ("good", "bad"):
        study.enqueue_trial({"quality": quality})

    report = run_pipeline(parse_config(_config("folds")), workdir=in_run_dir, source=QUALITY_PROBED)

    trials = optuna.load_study(study_name="folds", storage=storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "PRUNED"]
    # The pruner was asked at fold boundaries: after each of the good trial's first two folds, once for the bad.
    assert sorted(trials[0].intermediate_values) == [1, 2] and list(trials[1].intermediate_values) == [1]
    client = MlflowClient(tracking_uri(in_run_dir))
    runs = {r.data.tags["trial_number"]: r.data.metrics for r in client.search_runs(
        [client.get_experiment_by_name("folds").experiment_id], "tags.`kerashpo.role` = 'trial'")}
    good, bad = runs["0"], runs["1"]
    folds = [good[f"fold_{k}_val_loss"] for k in range(3)]
    assert good["best_val_log_loss"] == pytest.approx(np.mean([good[f"fold_{k}_val_log_loss"] for k in range(3)]))
    assert report.outcome.best_value == pytest.approx(good["best_val_log_loss"]) and len(set(folds)) == 3
    assert "fold_0_val_log_loss" in bad and not any(name.startswith(("fold_1", "fold_2")) for name in bad)
    assert bad["fold_0_val_log_loss"] > 3 * max(good[f"fold_{k}_val_log_loss"] for k in range(3))
    # The champion is refit on every non-test row, for the median of the folds' best epochs, then tested once.
    rows = 1797 - int(np.ceil(1797 * 0.2))  # digits without its test rows
    parent = client.get_run(report.parent_run_id)
    assert parent.data.tags["weights"] == (f"refit on every non-test row ({rows}) for {int(good['best_epoch'])} "
                                           "epochs, the median best epoch over 3 folds (seed 3)")
    assert parent.data.params["split_folds"] == "3"
    assert (report.export.directory / "model.keras").exists() and report.export.test_metrics["test_accuracy"] > 0.5
    # The baseline was scored over the same three folds.
    baseline = next(r for r in client.search_runs([parent.info.experiment_id], "tags.`kerashpo.role` = 'baseline'"))
    assert baseline.data.tags["split_fingerprint"] == parent.data.tags["split_fingerprint"]


def test_ablate_refuses_to_read_the_test_rows_when_no_variant_keeps_a_model(in_run_dir, capsys):
    (in_run_dir / "cv.yaml").write_text("name: cv\ndataset: {name: iris}\nsplit: {folds: 3}\n")
    assert main(["ablate", "cv.yaml", "--test"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--test: with split.folds a variant trains one model per fold" in err[0]
