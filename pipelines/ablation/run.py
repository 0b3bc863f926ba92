"""``kerashpo ablate``: retrain a search's champion as variants that each change one thing, with several seeds,
on the search's own splits; a table, a bar chart and learning curves, tracked under an ``ablation`` run.

The data is loaded and split as the search did it (``prepare_training``), and
the split fingerprint must equal the search's. The test rows are set aside by
the split and read only with ``test=True``: once per variant, after its seeds
have trained, and never for a choice.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerashpo.pipelines.ablation.figures import write_figures
from kerashpo.pipelines.ablation.table import SeedRun, render, summarise
from kerashpo.pipelines.ablation.variants import Variant, built_in_variants, knobs_for, select, user_variants
from kerashpo.pipelines.config import PipelineConfig, load_config
from kerashpo.pipelines.review.champion import SearchChampion, find_champion, fixed_values
from kerashpo.pipelines.run.prepare import PreparedTraining, code_version, prepare_training
from kerashpo.pipelines.runtime.backend import select_backend
from kerashpo.pipelines.runtime.compute import Compute, backend_settings
from kerashpo.spaces import UserError
from kerashpo.spaces.choices import Direction, TableFormat, TrialState

if TYPE_CHECKING:  # importing these at run time would load TensorFlow for `kerashpo --help`
    from kerashpo.pipelines.ablation.tracking import AblationTracker
    from kerashpo.search.protocols import ModelSource
    from kerashpo.search.results import TrialResult
    from kerashpo.search.tracking import SearchInfo
    from kerashpo.search.training.runner import TrainingSetup
    from kerashpo.search.training.sources import UserModel
    from kerashpo.spaces import Preset

log = logging.getLogger("kerashpo.ablation")

TABLE, MARKDOWN = "ablation.csv", "ablation.md"


@dataclass
class AblationPlan:
    """Everything checked before the first variant trains: the champion, the variants, the seeds."""

    training: PreparedTraining
    champion: dict[str, Any]
    search: SearchChampion | None  # None: the config's fixed values, no search
    variants: list[Variant]
    seeds: list[int]
    test: bool
    note: str | None = None  # the variants left out because they would change nothing

    @property
    def origin(self) -> str:
        if self.search is None:
            return "the config's fixed values"
        return f"trial {self.search.trial} of search {self.search.run_id[:8]}"

    @property
    def total(self) -> int:
        return len(self.variants) * len(self.seeds)


@dataclass
class AblationReport:
    frame: Any  # the numeric table (pandas), one row per variant
    title: str
    directory: Path  # the table and the figures
    files: list[Path]
    parent_run_id: str | None
    runs: list[SeedRun]

    def text(self, fmt: TableFormat = TableFormat.TABLE) -> str:
        return render(self.frame, fmt, self.title)


def run_ablation(
    config: PipelineConfig | str | Path,
    *,
    workdir: Path | None = None,
    tracking_uri: str | None = None,
    from_run: str | None = None,
    variants: Sequence[str] | None = None,
    seeds: int | None = None,
    test: bool = False,
    source: ModelSource | Preset | UserModel | None = None,
    data: Any = None,
    on_run_end: Callable[[SeedRun, int, int], None] | None = None,
) -> AblationReport:
    """Ablate the champion of the latest search of ``config`` (or of search ``from_run``).

    ``variants`` picks among the built-in and the config's own (``champion`` always trains: it is the
    reference); ``seeds`` defaults to ``ablation.seeds``. ``source`` and ``data`` are what the search was given
    from Python, if anything. Every input is checked before anything is written.
    """
    from kerashpo.pipelines.ablation.tracking import AblationTracker
    from kerashpo.pipelines.runtime.quiet import import_backend_quietly
    from kerashpo.search.training.memory import collecting_new_objects_only

    if not isinstance(config, PipelineConfig):
        config = load_config(config)
    select_backend(config.backend)  # the search's own
    compute = Compute(1, len(import_backend_quietly()), config.mixed_precision)
    with backend_settings(compute), collecting_new_objects_only():
        training = prepare_training(config, workdir=(workdir or Path.cwd()).resolve(), tracking_uri=tracking_uri,
                                    source=source, data=data)
        plan = plan_ablation(config, training, from_run=from_run, variants=variants,
                             seeds=seeds or config.ablation.seeds, test=test)
        stores = training.stores
        stores.root.mkdir(parents=True, exist_ok=True)
        artifacts = f"{stores.artifact_location}/{config.name}" if stores.artifact_location else None
        tracker = AblationTracker(stores.tracking_uri, artifact_location=artifacts)
        tracker.start_search(_parent_info(config, plan))
        with tracker.ending_search():
            runs = _train(plan, tracker, on_run_end)
            report = _report(config, plan, runs, tracker)
    return report


def plan_ablation(config: PipelineConfig, training: PreparedTraining, *, from_run: str | None,
                  variants: Sequence[str] | None, seeds: int, test: bool) -> AblationPlan:
    """The champion, on the search's own splits, and the variants to train; refused in one line otherwise."""
    space = training.source.space
    if test and training.setup.folds:
        raise UserError("--test: with split.folds a variant trains one model per fold and keeps none to test; "
                        "compare the variants on their cross-validated scores, or ablate a one-split search")
    champion, search = _champion(config, training, from_run)
    if search is not None:
        if search.split_fingerprint is None:
            log.warning("search %s records no split fingerprint (made before kerashpo recorded one): its splits "
                        "cannot be checked against these", search.run_id[:8])
        elif search.split_fingerprint != training.splits.fingerprint:
            raise UserError(f"search {search.run_id[:8]} was made on other splits (split fingerprint "
                            f"{search.split_fingerprint}, now {training.splits.fingerprint}): the data, the seed or "
                            "the split fractions changed since; ablate on the search's splits or run a new search")
        if search.objective and search.objective != training.objective:
            log.warning("search %s selected on %s; this ablation reports %s (the config's objective)",
                        search.run_id[:8], search.objective, training.objective)
    image_data = training.spec.kind == "image"
    knobs = knobs_for(space, _builder_parameters(training.source), image_data, training.source.name,
                      inert=inert_regularizers(training.source, champion))
    available = {
        **built_in_variants(champion, knobs, training.setup.max_epochs,
                            found="as found" if search is None else f"as found (trial {search.trial})"),
        **user_variants(config.ablation.variants, champion, space),
    }
    chosen = select(available, _names(variants), knobs, image_data)
    return AblationPlan(training, champion, search, chosen, [config.seed + i for i in range(seeds)], test,
                        knobs.note())


def _names(requested: Sequence[str] | None) -> list[str] | None:
    """``--variants l2 dropout`` or ``--variants l2,dropout``."""
    if not requested:
        return None
    return [name for item in requested for name in item.split(",") if name]


def _champion(config: PipelineConfig, training: PreparedTraining, from_run: str | None
              ) -> tuple[dict[str, Any], SearchChampion | None]:
    """The champion of the chosen or latest search; without a search, the space's fixed values if that is all
    it has."""
    space = training.source.space
    fixed = None if from_run else fixed_values(space)
    uri = training.stores.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        if fixed is not None:
            return fixed, None
        raise UserError(f"no MLflow store at {uri.removeprefix('sqlite:///')}: nothing to ablate; run `kerashpo run "
                        f"{config.source or 'CONFIG'}` here first, or pass --tracking-uri")
    try:
        search = find_champion(uri, config.name, space, from_run)
    except UserError:
        if fixed is None:
            raise
        return fixed, None
    return search.params, search


def _builder_parameters(source: ModelSource) -> tuple[str, ...]:
    """The parameters a built-in builder reads (with a default when the space leaves one out)."""
    from kerashpo.spaces.presets import cnn, mlp

    build = source.preset.build if source.preset is not None else None
    if build is mlp.build_mlp:
        return tuple(mlp.DEFAULTS)
    return tuple(cnn.DEFAULTS) if build is cnn.build_cnn else ()


def inert_regularizers(source: ModelSource, champion: dict[str, Any]) -> dict[str, str]:
    """Regularizers the mlp builder ignores for this champion: dropout and batch norm act on hidden layers."""
    from kerashpo.spaces.presets import mlp

    if source.preset is not None and source.preset.build is mlp.build_mlp and \
            int(champion.get("n_layers", mlp.DEFAULTS["n_layers"])) == 0:
        reason = "the champion is linear, n_layers 0: no hidden layer for them to act on"
        return {"dropout": reason, "batch_norm": reason}
    return {}


def _parent_info(config: PipelineConfig, plan: AblationPlan) -> SearchInfo:
    from kerashpo.pipelines.ablation.tracking import SEARCH_TAG
    from kerashpo.search.tracking import SPLIT_TAG, STUDY_TAG, SearchInfo

    training, search = plan.training, plan.search
    tags = {SPLIT_TAG: training.splits.fingerprint, "dataset": training.dataset.name,
            "task": str(training.dataset.task), "config_hash": config.fingerprint(), "code_version": code_version(),
            "champion": plan.origin,
            "model": training.source.name, "test_read": str(plan.test).lower(),
            "weights": f"the champion's configuration retrained, mean of {len(plan.seeds)} seeds"}
    if search is not None:  # the link to the search's parent run
        tags.update({SEARCH_TAG: search.run_id, STUDY_TAG: search.study, "champion_trial": str(search.trial)})
    params = {"seeds": ",".join(map(str, plan.seeds)), "variants": ",".join(v.name for v in plan.variants),
              "max_epochs": training.setup.max_epochs, "patience": training.setup.patience,
              **{f"split_{k}": v for k, v in (("train", len(training.splits.y_train)),
                                              ("validation", len(training.splits.y_val)))}}
    return SearchInfo(study=search.study if search else config.name, experiment=config.name,
                      objective=training.objective, direction=training.direction, tags=tags, params=params,
                      config_text=config.to_yaml())


def _train(plan: AblationPlan, tracker: AblationTracker, on_run_end: Callable[[SeedRun, int, int], None] | None,
           ) -> list[SeedRun]:
    """Every variant with every seed through the search's own trial runner; each variant's models are freed
    once it is done (and, with ``--test``, scored on test)."""
    from kerashpo.pipelines.ship.export import evaluate_once
    from kerashpo.search.training.memory import released_when_done
    from kerashpo.search.training.runner import TrialOptions, run_trial
    from kerashpo.search.training.sampling import FixedSampling

    training = plan.training
    runs: list[SeedRun] = []
    for variant in plan.variants:
        setup = training.setup
        if not variant.early_stopping:  # patience as long as the budget: it trains every epoch
            setup = replace(setup, patience=setup.max_epochs)
        with released_when_done():
            trained: list[tuple[int, SeedRun, Any]] = []  # (run number, figures, model)
            for seed in plan.seeds:
                number = len(runs) + len(trained)
                tracker.start_run(number, f"{variant.name} seed {seed}", variant.params,
                                  {"variant": variant.name, "seed": str(seed), "sets": variant.sets})
                result = run_trial(setup, training.source, FixedSampling(variant.params),
                                   TrialOptions(seed=seed, restore_best_weights=variant.early_stopping))
                run = seed_run(variant, seed, result, setup)
                if run.gap is not None:
                    tracker.log_metrics(number, {"train_val_gap": run.gap})
                tracker.end_trial(number, replace(result, model=None, value=run.value, best_epoch=run.epoch,
                                                  state=run.state))
                trained.append((number, run, result.model))
                if on_run_end is not None:
                    on_run_end(run, number + 1, plan.total)
            if plan.test:  # the only reading of the test rows: once per variant, after its training
                for number, run, model in trained:
                    if run.complete and model is not None:
                        run.test = evaluate_once(model, training.splits.x_test, training.splits.y_test,
                                                 training.spec)
                        tracker.log_metrics(number, run.test)
            runs += [run for _, run, _ in trained]
            del trained  # the models go with the block's session
    return runs


def seed_run(variant: Variant, seed: int, result: TrialResult, setup: TrainingSetup) -> SeedRun:
    """A trained variant's figures at its reported epoch: the best one, or the last with early stopping off.

    With folds the value is the mean over the folds (of their best or last epochs) and the gap is read from the
    curves averaged over the folds at the median best epoch.
    """
    values = result.history.get(setup.objective, [])
    epoch = result.best_epoch if variant.early_stopping else (len(values) or None)
    value = (result.value if variant.early_stopping else values[epoch - 1]) \
        if epoch and result.state is TrialState.COMPLETE else None
    state = result.state if value is not None and math.isfinite(value) else TrialState.FAILED
    if state is not TrialState.COMPLETE:
        value = None
    return SeedRun(variant.name, seed, state, value, train_validation_gap(result.history, setup, epoch), epoch,
                   result.epochs_run, result.n_params, result.train_seconds,
                   {k: v for k, v in result.history.items() if k in ("loss", "val_loss")})


def train_validation_gap(history: dict[str, list[float]], setup: TrainingSetup, epoch: int | None) -> float | None:
    """The objective on validation against the same metric on train at ``epoch``, positive when it overfits.

    Train figures are Keras's running means over the epoch with dropout active, as learning curves show them.
    """
    name = setup.objective.removeprefix("val_")
    if epoch is None or name == setup.objective or name not in history or setup.objective not in history:
        return None
    gap = history[setup.objective][epoch - 1] - history[name][epoch - 1]
    return gap if setup.direction is Direction.MINIMIZE else -gap


def _report(config: PipelineConfig, plan: AblationPlan, runs: list[SeedRun], tracker: AblationTracker
            ) -> AblationReport:
    """The table and figures in ``mlruns/ablations/<name>/`` (replaced whole) and on the parent run."""
    objective = plan.training.objective
    frame = summarise(plan.variants, runs, objective)
    title = ablation_title(config.name, plan, objective)
    directory = plan.training.stores.root / "ablations" / config.name
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{config.name}-", dir=directory.parent))
    (staging / TABLE).write_text(render(frame, TableFormat.CSV, title))
    (staging / MARKDOWN).write_text(render(frame, TableFormat.MARKDOWN, title))
    figures = write_figures(frame, runs, title, staging)
    if directory.exists():
        shutil.rmtree(directory)
    os.replace(staging, directory)
    directory.chmod(0o755)  # made private by mkdtemp; the folder is the user's to read
    champion = frame[frame["variant"] == "champion"].iloc[0]
    metrics = {f"best_{objective}": champion[f"{objective}_mean"],
               **{name: champion[f"{name}_mean"] for name in frame.attrs["tests"]}}
    tracker.log_search_results({k: float(v) for k, v in metrics.items() if not math.isnan(v)}, {})
    tracker.log_artifacts(directory)
    files = [directory / TABLE, directory / MARKDOWN, *(directory / f.name for f in figures)]
    return AblationReport(frame, title, directory, files, tracker.parent_run_id, runs)


def ablation_title(name: str, plan: AblationPlan, objective: str) -> str:
    seeds = plan.seeds
    test = "test split read once per variant (--test)" if plan.test else "test split not read"
    note = f"; {plan.note}" if plan.note else ""
    folds = len(plan.training.setup.folds)
    scored = f"cross-validated over {folds} folds (epochs summed over them)" if folds else "on validation"
    return (f"Ablation of {name}'s champion ({plan.origin}): {objective} {scored}, mean ± std over "
            f"{len(seeds)} seeds ({', '.join(map(str, seeds))}); {test}{note}")

