"""``kerashpo run``: validate, load data once, search, evaluate the champion once, export."""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from spaces import DEFAULT_OBJECTIVE, METRIC_NAMES, Preset, UserError, objective_direction, resolve_space

from pipelines.compute import Compute
from pipelines.config import ConfigError, PipelineConfig
from pipelines.data import (Dataset, Splits, data_spec, load_dataset, model_schema, split_dataset, take,
                            train_and_validation)
from pipelines.export import CARD, ExportReport, evaluate_once, log_and_register, model_card, raw_example, write_bundle
from pipelines.stores import Stores, prepare, resolve_stores, resolve_tracking_uri

log = logging.getLogger("kerashpo.run")


@dataclass
class RunReport:
    study: str
    experiment: str
    objective: str
    parent_run_id: str | None
    outcome: Any
    export: ExportReport | None
    stores: Stores


def resolve_objective(config: PipelineConfig, task: str) -> tuple[str, str]:
    metric = config.objective.metric or DEFAULT_OBJECTIVE[task]
    known = [f"val_{m}" for m in METRIC_NAMES[task]] + list(METRIC_NAMES[task])
    if metric not in known:
        raise ConfigError(f"objective.metric: {metric!r} is not reported for a {task} task; "
                          f"choose from {', '.join(known)}")
    return metric, config.objective.direction or objective_direction(metric)


def make_driver(config: PipelineConfig, stores: Stores) -> Any:
    """The driver the config names: switching is one word (``driver: keras_tuner``)."""
    if config.driver == "keras_tuner":
        from search.keras_tuner_driver import KerasTunerDriver

        options = config.keras_tuner
        return KerasTunerDriver(options.tuner, stores.keras_tuner_dir, executions_per_trial=options.executions_per_trial,
                                max_epochs=options.max_epochs, factor=options.factor,
                                hyperband_iterations=options.hyperband_iterations,
                                num_initial_points=options.num_initial_points)
    from search import OptunaDriver

    return OptunaDriver(sampler=config.optuna.sampler, pruner=config.optuna.pruner, storage=stores.storage)


def resolve_source(config: PipelineConfig, base_dir: Path) -> Any:
    """A declared space (preset or file), or the user's ``build_model`` function."""
    from search.sources import SpaceSource, import_hypermodel

    if config.build_model:
        return import_hypermodel(config.build_model, base_dir)
    return SpaceSource(resolve_space(config.space, base_dir))


def code_version() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_pipeline(
    config: PipelineConfig,
    *,
    workdir: Path | None = None,
    tracking_uri: str | None = None,
    source: Any = None,
    on_trial_end: Callable[[Any], None] | None = None,
    command: str | None = None,
    data: Any = None,
) -> RunReport:
    """Run one pipeline. Every input is checked before any store is written.

    ``source`` replaces what the config names: a ``spaces.Preset``, a
    ``search.SpaceSource``, or a ``build_model(hp)`` function / HyperModel.
    ``data`` replaces the config's dataset: a pandas DataFrame (with
    ``dataset.target`` naming its target column) or ``(x, y)`` arrays.
    """
    from search import MLflowTracker, SearchInfo, SearchJob, TrainingSetup, TrialData

    workdir = (workdir or Path.cwd()).resolve()
    base_dir = config.source.parent if config.source else workdir
    source = resolve_source(config, base_dir) if source is None else source
    uri = resolve_tracking_uri(tracking_uri, config.tracking.uri, workdir)
    stores = resolve_stores(workdir, uri, config.storage)
    dataset = load_dataset(config, base_dir, data)
    objective, direction = resolve_objective(config, dataset.task)
    splits = split_dataset(dataset, config.split.validation, config.split.test, config.seed)
    spec = data_spec(dataset, splits)
    preset = getattr(source, "preset", None) or (source if isinstance(source, Preset) else None)
    if preset is not None:
        preset.check_data(spec)
    setup = TrainingSetup(
        data=TrialData(splits.x_train, splits.y_train, splits.x_val, splits.y_val, spec),
        objective=objective, direction=direction, max_epochs=config.budget.max_epochs,
        patience=config.budget.patience, seed=config.seed,
    )
    driver = make_driver(config, stores)
    study = driver.study_name(config.name)
    job = SearchJob(name=study, source=source, setup=setup, n_trials=config.budget.trials,
                    checkpoint_dir=stores.checkpoint_dir(study), keep_best=config.export.keep_best,
                    timeout=config.budget.timeout, trials_per_process=config.budget.trials_per_process)
    job.source.check()
    driver.check(job)
    if config.workers > 1 and (reason := _not_portable(driver, job)):
        raise UserError(f"workers: the search cannot be sent to worker processes ({reason})")

    prepare(stores)
    artifacts = f"{stores.artifact_location}/{config.name}" if stores.artifact_location else None
    tracker = MLflowTracker(stores.tracking_uri, artifact_location=artifacts)
    tags = {**driver.describe(), "model": job.source.name, "dataset": dataset.name, "task": dataset.task,
            "config_hash": config.fingerprint(), "code_version": code_version()}
    params = {"trials": config.budget.trials, "max_epochs": config.budget.max_epochs,
              "patience": config.budget.patience, "seed": config.seed, "space": config.space,
              "workers": config.workers, "mixed_precision": config.mixed_precision,
              **{f"split_{k}": v for k, v in splits.sizes().items()}}
    info = SearchInfo(study=study, experiment=config.name, objective=objective, direction=direction, tags=tags,
                      params=params, config_text=config.to_yaml())
    from pipelines.quiet import import_tensorflow_quietly

    compute = Compute(config.workers, len(import_tensorflow_quietly()), config.mixed_precision)
    import keras

    policy = keras.mixed_precision.global_policy()
    compute.configure_tensorflow()
    tracker.start_search(info)
    try:
        outcome = search_in_processes(driver, job, tracker, on_trial_end, compute)
        report = None
        # With workers on several hosts the champion's checkpoint may be on another host; a refit needs none.
        if outcome.best_model_path is not None or (config.export.refit and outcome.best_number is not None):
            report = _finish(config, study, driver, job.source, dataset, splits, spec, outcome, tracker, stores,
                             objective, direction, command or f"kerashpo run {config.source or '<config>'}")
    except KeyboardInterrupt:
        tracker.end_search("KILLED")
        raise
    except BaseException:
        tracker.end_search("FAILED")
        raise
    finally:
        keras.mixed_precision.set_global_policy(policy)
    tracker.end_search("FINISHED")
    return RunReport(study, config.name, objective, tracker.parent_run_id, outcome, report, stores)


def _finish(config: PipelineConfig, study: str, driver: Any, source: Any, dataset: Dataset, splits: Splits,
            spec: Any, outcome: Any, tracker: Any, stores: Stores, objective: str, direction: str,
            command: str) -> ExportReport:
    model, spec, weights = _champion(config, source, dataset, splits, spec, outcome, objective, direction)
    test_metrics = evaluate_once(model, splits.x_test, splits.y_test, spec)
    tracker.log_search_results({**test_metrics, f"best_{objective}": outcome.best_value},
                               {"best_trial": str(outcome.best_number), "weights": weights})
    facts = dict(
        name=config.name, dataset=dataset.name, fingerprint=dataset.fingerprint(), task=dataset.task,
        split_sizes=splits.sizes(), seed=config.seed, study=study, trial=outcome.best_number,
        search=", ".join(f"{k} {v}" for k, v in driver.describe().items()) + ", "
               f"{outcome.n_complete} complete / {outcome.n_pruned} pruned / {outcome.n_failed} failed trials",
        n_complete=outcome.n_complete, objective=objective, val_value=outcome.best_value,
        best_epoch=outcome.best_epoch, weights=weights,
        run_id=tracker.parent_run_id or "-", test_metrics=test_metrics, params=outcome.best_params,
        command=command,
    )
    schema = model_schema(dataset, spec, config.dataset)
    version, moved = None, False
    if tracker.parent_run_id is not None:
        version_tags = {"objective": objective, "val_value": repr(outcome.best_value), "study": study,
                        "trial_number": str(outcome.best_number)}
        version, moved = log_and_register(
            tracking_uri=stores.tracking_uri, run_id=tracker.parent_run_id, model=model, schema=schema,
            example=raw_example(take(splits.x_test, slice(0, 5)), schema), name=config.name,
            register=config.export.register_model, version_tags=version_tags, direction=direction,
        )
    facts["registered"] = f"{config.name} version {version}" + (" (champion)" if moved else "") if version else "-"
    card = model_card(facts)
    tracker.log_text(card, CARD)
    directory = Path(config.export.dir) if config.export.dir else stores.export_dir(config.name)
    write_bundle(directory, model, schema, card)
    return ExportReport(directory, test_metrics, version, moved)


def _champion(config: PipelineConfig, source: Any, dataset: Dataset, splits: Splits, spec: Any, outcome: Any,
              objective: str, direction: str) -> tuple[Any, Any, str]:
    """The model to ship, the data spec it was fitted with, and how its weights came about."""
    import keras

    if not config.export.refit:
        model = keras.saving.load_model(outcome.best_model_path)
        return model, spec, f"trial {outcome.best_number}'s best epoch ({outcome.best_epoch}), restored"
    from search import TrialData
    from search.runner import refit

    epochs = outcome.best_epoch or config.budget.max_epochs
    merged = train_and_validation(splits)
    spec = data_spec(dataset, merged)  # preprocessing statistics of train + validation
    model = refit(source, outcome.best_params, TrialData(merged.x_train, merged.y_train, None, None, spec),
                  epochs=epochs, seed=config.seed, objective=objective, direction=direction)
    return model, spec, f"refit on train + validation for {epochs} epochs (seed {config.seed})"


def search_in_processes(driver: Any, job: Any, tracker: Any, on_trial_end: Callable[[Any], None] | None,
                        compute: Compute) -> Any:
    """Run the search here, or in worker processes that this process feeds to MLflow and the display.

    One worker: every trial runs here (memory stays flat: ``search.memory``),
    unless ``trials_per_process`` asks for a chain of fresh processes, for a
    builder that leaks what a trial cannot give back; both drivers resume from
    their storage. Sources that cannot be sent to another process (a function
    defined in ``__main__``) stay here.

    Several workers (Optuna): ``compute.workers`` processes share the study from
    the start; a worker that dies is replaced and its trial retried.
    """
    if compute.workers > 1:
        _run_workers(driver, job, tracker, on_trial_end, compute)
        # Every worker has stopped with the budget spent or the time up: this reads the study, trains nothing.
        job.trials_per_process = None
        return driver.optimize(job, tracker)
    if job.trials_per_process is None or job.n_trials <= job.trials_per_process:
        job.trials_per_process = None
    else:
        reason = _not_portable(driver, job)
        if reason:
            log.warning("running every trial in this process: %s", reason)
            job.trials_per_process = None
    from search.runner import interrupts_at_safe_points

    # The first share runs here: TensorFlow is already loaded in this process.
    with interrupts_at_safe_points():
        outcome = driver.optimize(job, tracker, on_trial_end)
    if outcome.handed_over:
        outcome = _run_workers(driver, job, tracker, on_trial_end, compute)
    return outcome


def _run_workers(driver: Any, job: Any, tracker: Any, on_trial_end: Callable[[Any], None] | None,
                 compute: Compute) -> Any:
    """Keep ``compute.workers`` worker processes going until the search is done; return the last outcome.

    Workers relay their tracking calls and progress events here, so this process
    alone writes to MLflow. A worker that hands over (its share of trials done)
    or dies is replaced; Ctrl-C reaches every worker, each marks its trial, and
    the interrupt is raised here once they have stopped.
    """
    context = multiprocessing.get_context("spawn")
    relay = context.Queue()
    # Sent as bytes so a fresh process starts TensorFlow quietly before unpickling the job.
    payload = pickle.dumps((driver, job))

    def start(slot: int) -> Any:
        worker = context.Process(target=_search_worker, name=f"kerashpo-worker-{slot}",
                                 args=(payload, slot, compute, relay))
        worker.start()
        return worker

    def deliver(message: tuple) -> None:
        kind, *body = message
        if kind == "track":
            method, args = body
            getattr(tracker, method)(*args)
        elif kind == "event" and on_trial_end is not None:
            on_trial_end(body[0])

    from search.runner import interrupts_at_safe_points, stop_requested

    handing_over: set[int] = set()
    outcome, deaths, interrupted = None, 0, False
    # Ctrl-C reaches the workers too: each stops at a safe point and reports; this loop keeps relaying.
    with interrupts_at_safe_points():
        slots = {slot: start(slot) for slot in range(compute.workers)}
        while slots:
            try:
                message = relay.get(timeout=0.2)
            except queue.Empty:
                message = None
            if message is not None and message[0] == "done":
                outcome = message[2]
                if outcome.handed_over:
                    handing_over.add(message[1])
            elif message is not None:
                deliver(message)
            interrupted = interrupted or stop_requested()
            for slot, worker in list(slots.items()):
                if worker.is_alive():
                    continue
                worker.join()
                if worker.exitcode in (-signal.SIGINT, 130) or interrupted:
                    interrupted = True
                    del slots[slot]
                elif worker.exitcode == 0:
                    if slot in handing_over:
                        handing_over.discard(slot)
                        slots[slot] = start(slot)
                    else:
                        del slots[slot]
                else:
                    deaths += 1
                    if deaths > 3 * compute.workers:
                        raise RuntimeError(f"search workers keep stopping (last exit code {worker.exitcode}); "
                                           "run the same command again to resume")
                    log.warning("worker %d stopped (exit code %s); a fresh one retries its trial", slot,
                                worker.exitcode)
                    slots[slot] = start(slot)
    while True:  # what the last workers sent before they stopped
        try:
            message = relay.get(timeout=0.5)
        except queue.Empty:
            break
        if message[0] == "done":
            outcome = message[2]
        else:
            deliver(message)
    if interrupted:
        raise KeyboardInterrupt
    return outcome


def _not_portable(*parts: Any) -> str | None:
    """Why these cannot be sent to a fresh process, or None.

    A function defined in an interactive ``__main__`` pickles by name but
    cannot be found again in a spawned process.
    """
    try:
        pickle.dumps(parts)
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    hypermodel = getattr(parts[1].source, "hypermodel", None)
    module = getattr(hypermodel, "__module__", None) or getattr(type(hypermodel), "__module__", None)
    if module == "__main__" and not getattr(sys.modules["__main__"], "__file__", None):
        return "the build function is defined interactively; put it in a module to run long searches flat"
    return None


def _exit_with_parent(parent: int) -> None:
    """A worker whose starting process died (kill -9) stops too, as if killed with it.

    Its running trial is then lost like any killed worker's: the next run fails it
    in the study and in MLflow and tries it again.
    """
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)


def _search_worker(payload: bytes, slot: int, compute: Compute, relay: Any) -> None:
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    os.environ.update(compute.worker_env(slot))
    from pipelines.quiet import import_tensorflow_quietly, quiet_libraries

    quiet_libraries()
    import_tensorflow_quietly()
    compute.configure_tensorflow()
    from search.tracking import RelayTracker

    from search.runner import interrupts_at_safe_points

    driver, job = pickle.loads(payload)
    try:
        with interrupts_at_safe_points():
            outcome = driver.optimize(job, RelayTracker(relay), lambda event: relay.put(("event", event)))
    except KeyboardInterrupt:
        sys.exit(130)
    relay.put(("done", slot, outcome))
