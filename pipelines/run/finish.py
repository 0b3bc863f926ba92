"""After the search: the linear baseline, the champion (restored, refit or an ensemble with the linear model as a
candidate), its one evaluation on test, its export and model card, and the search's report."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kerashpo.pipelines.data.splits import data_spec, take
from kerashpo.pipelines.run.baseline import Baseline, fit_baseline, paired_difference, references_for
from kerashpo.pipelines.run.card import ModelCard
from kerashpo.pipelines.run.describe import search_note
from kerashpo.pipelines.run.predictions import log_test_predictions
from kerashpo.pipelines.run.prepare import PreparedRun
from kerashpo.pipelines.ship.export import (
    CARD,
    ExportReport,
    evaluate_once,
    log_and_register,
    raw_example,
    write_bundle,
)
from kerashpo.pipelines.ship.preflight import export_directory
from kerashpo.spaces import DataSpec
from kerashpo.spaces.choices import Reference
from kerashpo.spaces.presets.registry import custom_objects

__all__ = ["fit_run_baselines", "review_run", "ship_champion"]

log = logging.getLogger("kerashpo.run")

if TYPE_CHECKING:  # importing these at run time would load TensorFlow for `kerashpo --help`
    from kerashpo.search.executor import SearchOutcome
    from kerashpo.search.selection.ensemble import Ensemble
    from kerashpo.search.tracking import MLflowTracker


def fit_run_baselines(run: PreparedRun, tracker: MLflowTracker) -> list[Baseline]:
    """The reference models on the search's own splits (validation now; test with the champion's evaluation):
    the linear model, and gradient boosting on tables."""
    if not run.config.baseline:
        return []
    baselines = []
    for reference in references_for(run.dataset, run.config.baseline):
        try:
            baseline = fit_baseline(run.dataset, run.splits, run.config.seed, reference)
        except Exception as exc:  # a reference that cannot be fitted is reported; the search goes on
            log.warning("baseline: could not fit the %s reference (%s: %s)", reference, type(exc).__name__, exc)
            continue
        tracker.log_baseline(baseline.name, baseline.validation, reference)
        baselines.append(baseline)
    return baselines


def ship_champion(run: PreparedRun, outcome: SearchOutcome, tracker: MLflowTracker, command: str,
                  baselines: list[Baseline]) -> ExportReport:
    """Evaluate the champion once on test, log and register it, write the export folder and its card."""
    from kerashpo.search.selection.ensemble import ENSEMBLE_TAG

    config = run.config
    model, spec, weights, ensemble = _champion(run, outcome)
    # The shipped ensemble's validation value, where it scored the run's own objective (not the task's default).
    ensemble_value = ensemble.value if ensemble is not None and ensemble.objective == run.objective else None
    ahead = _references_ahead(run, model, baselines, outcome.best_value if ensemble_value is None else ensemble_value)
    test_metrics = evaluate_once(model, run.splits.x_test, run.splits.y_test, spec)
    log_test_predictions(tracker, model, run.splits.x_test, run.splits.y_test, spec, run.dataset.class_names)
    for baseline in baselines:  # the same test rows, scored once, beside the champion
        tracker.log_baseline(baseline.name, {**baseline.validation,
                                             **baseline.evaluate_test(run.splits.x_test, run.splits.y_test)},
                             baseline.reference)
    best = {f"best_{run.objective}": outcome.best_value} if outcome.best_value is not None else {}
    tags = {"best_trial": str(outcome.best_number), "weights": weights}
    if ensemble is not None:
        best[f"ensemble_{ensemble.objective}"] = ensemble.value
        tags[ENSEMBLE_TAG] = ensemble.to_json()  # read back by the report
    # The sentence `kerashpo run` prints; the card and the report (from the tag) say the same.
    shipped = None if ensemble is None else ensemble.summary()
    tracker.log_search_results({**test_metrics, **best}, tags)
    tracker.describe_search(search_note(
        study=run.study, objective=run.objective, direction=run.direction, outcome=outcome, test_metrics=test_metrics,
        baselines=baselines, shipped=shipped or weights, experiment_id=tracker.experiment_id,
        run_id=tracker.parent_run_id, report=config.report))
    version, moved = None, False
    if tracker.parent_run_id is not None and config.export.logs_mlflow_model:
        shipped_value = outcome.best_value if ensemble_value is None else ensemble_value
        version_tags = {"objective": run.objective, "val_value": repr(shipped_value), "study": run.study,
                        "trial_number": str(outcome.best_number)}
        version, moved = log_and_register(
            tracking_uri=run.stores.tracking_uri, run_id=tracker.parent_run_id, model=model, schema=run.schema,
            example=raw_example(take(run.splits.x_test, slice(0, 5)), run.schema), name=config.name,
            register=config.export.registers, version_tags=version_tags, direction=run.direction,
        )
    search = ", ".join(f"{k} {v}" for k, v in {**run.driver.describe(), "backend": config.backend}.items())
    if run.job.objectives:
        search += (f"; objectives {', '.join(f'{o.metric} ({o.direction})' for o in run.job.objectives)}, the "
                   f"trial shipped picked from their Pareto front by {run.job.pick.describe()}")
    card = ModelCard(
        name=config.name, dataset=run.dataset.name, fingerprint=run.dataset.fingerprint(), task=run.dataset.task,
        split_sizes=run.splits.sizes(), seed=config.seed, study=run.study, trial=outcome.best_number,
        search=f"{search}, {outcome.n_complete} complete / {outcome.n_pruned} pruned / "
               f"{outcome.n_failed} failed trials",
        n_complete=outcome.n_complete, objective=run.objective, val_value=outcome.best_value,
        best_epoch=outcome.best_epoch, weights=weights, test_metrics=test_metrics, params=outcome.best_params,
        command=command, run_id=tracker.parent_run_id or "-", ensemble=shipped,
        baselines=[_baseline_line(baseline, run.objective, test_metrics) for baseline in baselines],
        notices=ahead,
        registered=f"{config.name} version {version}" + (" (champion)" if moved else "") if version else "-",
    ).markdown()
    if run.job.objectives:
        card += _front_markdown(run, tracker.parent_run_id)
    tracker.log_text(card, CARD)
    directory = export_directory(config, run.stores)
    write_bundle(directory, model, run.schema, card, saved_model=config.export.writes_saved_model)
    return ExportReport(directory, test_metrics, version, moved, shipped, ensemble_value,
                        with_linear=ensemble is not None and bool(ensemble.linear), notices=ahead)


def _references_ahead(run: PreparedRun, model: Any, baselines: list[Baseline],
                      shipped_value: float | None) -> list[str]:
    """A line for each reference other than the linear model (which the ensemble weighs itself) that is better
    than what ships on validation: both figures and their paired difference over the validation rows."""
    from kerashpo.search.models import model_inputs

    lines = []
    for baseline in baselines:
        reference_value = baseline.validation.get(run.objective)
        if (baseline.reference is Reference.LINEAR or shipped_value is None or reference_value is None
                or not run.direction.better(reference_value, shipped_value)):
            continue
        reference = baseline.reference.value.replace("_", " ")
        line = (f"{reference} ({baseline.name}, same splits) is better than what ships on validation: "
                f"{run.objective} {reference_value:.4f} vs {shipped_value:.4f}")
        try:
            if not run.splits.folds:  # with folds, both figures are means over folds the shipped model never saw
                outputs = np.asarray(model.predict(model_inputs(run.splits.x_val), batch_size=1024, verbose=0))
                paired = paired_difference(run.dataset.task, run.objective, run.splits.y_val, outputs,
                                           baseline.predict(run.splits.x_val))
                if paired is not None:
                    line += (f", paired difference ({reference} minus what ships) {paired[0]:+.4f} ± "
                             f"{paired[1]:.4f} (standard error over {len(run.splits.y_val)} validation rows)")
        except Exception as exc:  # the line is given without the difference
            log.warning("baseline: could not pair the %s reference with what ships (%s: %s)", baseline.reference,
                        type(exc).__name__, exc)
        lines.append(line + "; kerashpo ships the Keras model")
    return lines


def _front_markdown(run: PreparedRun, parent_run_id: str | None) -> str:
    """The Pareto front as a Markdown table for the model card (from the search's MLflow record)."""
    from kerashpo.search.leaderboard import format_leaderboard, leaderboard

    try:
        board = leaderboard(run.stores.tracking_uri, run_id=parent_run_id)
    except Exception as exc:  # the card is written either way
        log.warning("model card: could not read the Pareto front (%s: %s)", type(exc).__name__, exc)
        return ""
    columns = ["trial", "objective", *(o.metric for o in run.job.objectives[1:])]
    front = board.loc[board["pareto"], columns]
    front.attrs.update(board.attrs)
    return f"\n## Pareto front\n\n{format_leaderboard(front, 'markdown')}\n"


def _baseline_line(baseline: Baseline | None, objective: str, test_metrics: dict[str, float]) -> str:
    if baseline is None:
        return "-"
    scores = [f"validation {k} {v:.4f}" for k, v in baseline.validation.items() if k == objective]
    scores += [f"{k} {v:.4f}" for k, v in baseline.test.items() if k in test_metrics]
    return f"{baseline.name} on the same splits: " + ", ".join(scores)


def _champion(run: PreparedRun, outcome: SearchOutcome) -> tuple[Any, DataSpec, str, Ensemble | None]:
    """The model to ship, the data spec it was fitted with, how its weights came about, and the ensemble
    it is (``export.ensemble``)."""
    import keras

    config = run.config
    if run.ensemble > 1:  # never with refit (the config refuses both, and the default is 0 with refit)
        return _ensemble(run, outcome)
    if not config.export.refit:
        model = keras.saving.load_model(outcome.best_model_path, custom_objects=custom_objects())
        return model, run.spec, f"trial {outcome.best_number}'s best epoch ({outcome.best_epoch}), restored", None
    from kerashpo.pipelines.data.splits import train_and_validation
    from kerashpo.search.training.runner import refit
    from kerashpo.search.training.trial_data import TrialData

    epochs = outcome.best_epoch or config.budget.max_epochs
    merged = train_and_validation(run.splits)
    spec = data_spec(run.dataset, merged)  # preprocessing statistics of train + validation
    model = refit(run.job.source, outcome.best_params, TrialData(merged.x_train, merged.y_train, None, None, spec),
                  epochs=epochs, seed=config.seed, objective=run.objective, direction=run.direction)
    rows = (f"every non-test row ({len(merged.y_train)}) for {epochs} epochs, the median best epoch over "
            f"{len(run.splits.folds)} folds" if run.splits.folds else f"train + validation for {epochs} epochs")
    return model, spec, f"refit on {rows} (seed {config.seed})", None


def _ensemble(run: PreparedRun, outcome: SearchOutcome) -> tuple[Any, DataSpec, str, Ensemble | None]:
    """The average of those of the best kept trials and the exactly fitted linear model that are tied with the
    best on the validation split; no ensemble when the best trial is alone (it ships as the champion would)."""
    import keras

    from kerashpo.search.selection.checkpoints import CheckpointStore
    from kerashpo.search.selection.ensemble import select_ensemble

    store = CheckpointStore(run.job.checkpoint_dir, run.job.keep_best, run.direction)
    kept = [(number, keras.saving.load_model(store.path(number), custom_objects=custom_objects()))
            for number, _ in store.ranked(among=outcome.completed)[:run.ensemble]]
    linear = _linear_candidate(run, kept[0][1])
    ensemble, model = select_ensemble(kept, run.splits.x_val, run.splits.y_val, run.dataset.task, run.objective,
                                      linear=linear, searched=len(outcome.completed))
    if len(ensemble.weights) == 1 and not ensemble.linear:
        (member,) = ensemble.weights
        others = f"no other of the {len(kept)} best trials" + (" nor the linear model" if linear else "")
        return model, run.spec, f"{member}'s best checkpoint, restored ({others} is tied with it on validation)", None
    return model, run.spec, ensemble.describe(), ensemble


def _linear_candidate(run: PreparedRun, best: Any) -> tuple[str, Any] | None:
    """The linear model fitted exactly on the training split, where it takes the trials' inputs."""
    from kerashpo.search.selection.linear import fitted_linear_model

    try:
        return fitted_linear_model(run.spec, run.splits.x_train, run.splits.y_train, run.config.seed, like=best)
    except Exception as exc:  # the trials' average ships either way
        log.warning("ensemble: could not fit the linear model (%s: %s)", type(exc).__name__, exc)
        return None


def review_run(run: PreparedRun, parent_run_id: str | None) -> Path | None:
    """The search's figures and report.html on its parent run, the report also in the export folder; a failure
    is reported and the run goes on."""
    if parent_run_id is None or not run.config.report:
        return None
    from kerashpo.pipelines.review.report import REPORT, review_search

    try:
        return review_search(run.stores.tracking_uri, parent_run_id, export_directory(run.config, run.stores) / REPORT)
    except Exception as exc:
        log.warning("report: could not draw the search's report (%s: %s)", type(exc).__name__, exc)
        return None
