"""The ``kerashpo`` command. Heavy libraries are imported inside the commands, so ``--help`` is instant."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports nothing heavy until a command runs
    from kerashpo.pipelines.serving import Champion

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """Argument mistakes in one line, like every other user error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"kerashpo: error: {message} (see `{self.prog} --help`)\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from kerashpo.spaces.choices import AblationVariant, Backend, Driver, Pruner, Sampler, TableFormat, Tuner

    parser = _Parser(prog="kerashpo", description="Hyperparameter search for Keras models, tracked in MLflow.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    tracking_help = "MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite under ./mlruns)"
    experiment_help = "experiment (pipeline) name; default: the most recent"
    table_help = "how to print the table (default table)"

    run = commands.add_parser("run", help="tune the model a pipeline config describes")
    run.add_argument("config", help="pipeline YAML file, e.g. pipelines/digits.yaml")
    run.add_argument("--trials", type=_positive, help="total trials in the study (a re-run adds up to this)")
    run.add_argument("--max-epochs", type=_positive, help="epochs a trial may train at most")
    run.add_argument("--driver", choices=Driver.values(), help="search engine")
    run.add_argument("--tuner", choices=Tuner.values(), help="keras_tuner driver's tuner")
    run.add_argument("--sampler", choices=Sampler.values(), help="optuna driver's sampler")
    run.add_argument("--pruner", choices=Pruner.values(), help="optuna driver's pruner")
    run.add_argument("--seed", type=int, help="seed of the splits, the sampler and every trial (config: seed)")
    run.add_argument("--tracking-uri", help=tracking_help)
    run.add_argument("--storage", help="Optuna storage URL or journal file (default: ./mlruns/optuna.journal)")
    run.add_argument("--workers", type=_positive, help="worker processes on one study (optuna); one GPU each")
    run.add_argument("--no-report", action="store_false", default=None, dest="report",
                     help="skip the figures and report.html at the end (kerashpo report draws them later)")
    run.add_argument("--mixed-precision", action="store_true", default=None,
                     help="train in mixed_float16 (GPUs; the output layer stays float32)")
    run.add_argument("--backend", choices=Backend.values(),
                     help="Keras backend the trials train on (default tensorflow)")

    board = commands.add_parser("leaderboard", help="the trials of the latest search, best first")
    board.add_argument("--experiment", help=experiment_help)
    board.add_argument("--top", type=_positive, help="show only the best N trials")
    board.add_argument("--format", default=TableFormat.TABLE.value, choices=TableFormat.values(), help=table_help)
    board.add_argument("--tracking-uri", help=tracking_help)

    compare = commands.add_parser("compare", help="the chosen models of several searches, on the same splits only")
    compare.add_argument("runs", nargs="+", metavar="RUN_ID", help="parent runs of searches (two or more)")
    compare.add_argument("--allow-different-splits", action="store_true",
                         help="warn instead of refusing when the runs' splits differ")
    compare.add_argument("--format", default=TableFormat.TABLE.value, choices=TableFormat.values(), help=table_help)
    compare.add_argument("--tracking-uri", help=tracking_help)

    ablate = commands.add_parser("ablate", help="retrain a search's champion with one regularizer changed at a time")
    ablate.add_argument("config", help="the pipeline YAML file the search ran")
    ablate.add_argument("--from", dest="from_run", metavar="RUN",
                        help="a search's parent run id (default: the latest search of the config's experiment)")
    ablate.add_argument("--variants", nargs="+", metavar="NAME",
                        help=f"which variants (champion always trains): {' '.join(AblationVariant.values())}, and the "
                             "config's ablation.variants (default: all)")
    ablate.add_argument("--seeds", type=_positive, help="seeds per variant (default: ablation.seeds, 3)")
    ablate.add_argument("--test", action="store_true",
                        help="also score each variant once on the test split, at the end (off: test is never read)")
    ablate.add_argument("--tracking-uri", help=tracking_help)

    report = commands.add_parser("report", help="one self-contained HTML page: a search's summary, leaderboard, "
                                                "figures and model card (the figures are logged on its run too)")
    which = report.add_mutually_exclusive_group()
    which.add_argument("--experiment", help=experiment_help)
    which.add_argument("--run", dest="run_id", metavar="PARENT_RUN_ID", help="a search's parent run")
    report.add_argument("--out", type=Path, default=Path("report.html"), help="file to write (default report.html)")
    report.add_argument("--tracking-uri", help=tracking_help)

    export = commands.add_parser("export", help="write the champion as .keras, SavedModel, schema and model card")
    export.add_argument("--experiment", help=experiment_help)
    export.add_argument("--run-id", help="a search run's model instead of the registered champion")
    export.add_argument("--to", required=True, type=Path, dest="destination", help="target directory")
    export.add_argument("--force", action="store_true", help="replace a directory that already holds files")
    export.add_argument("--tracking-uri", help=tracking_help)

    predict = commands.add_parser("predict", help="score raw inputs with an exported or registered model")
    predict.add_argument("--model", required=True,
                         help="an export folder, or an MLflow URI such as models:/NAME@champion or runs:/ID/model")
    predict.add_argument("input", type=Path, help="a CSV or Parquet file, an NPZ file, or a folder of images")
    predict.add_argument("--out", type=Path, help="CSV file to write (default: standard output)")
    predict.add_argument("--x-key", default="x", help="NPZ: the array of inputs (default x)")
    predict.add_argument("--tracking-uri", help=tracking_help + "; for a models:/ or runs:/ URI")

    ui = commands.add_parser("ui", help="the MLflow UI over the same store, at the trials of the latest search")
    ui.add_argument("--experiment", help=experiment_help)
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    ui.add_argument("--port", type=_positive, default=5000, help="port to listen on (default 5000)")
    ui.add_argument("--open", action="store_true", help="open the page in a web browser")
    ui.add_argument("--tracking-uri", help=tracking_help)

    dashboard = commands.add_parser("dashboard", help="optuna-dashboard on the study's own storage")
    dashboard.add_argument("config", nargs="?", help="pipeline YAML file: its study, in its storage")
    dashboard.add_argument("--storage", help="Optuna storage URL or journal file (default: the config's, or "
                                             "./mlruns/optuna.journal); without CONFIG every study in it is listed")
    dashboard.add_argument("--host", default="127.0.0.1",
                           help="address to listen on (default 127.0.0.1, this machine only)")
    dashboard.add_argument("--port", type=_positive, default=8080, help="port to listen on (default 8080)")
    dashboard.add_argument("--open", action="store_true", help="open the page in a web browser")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from kerashpo.pipelines.runtime.quiet import quiet_libraries

    quiet_libraries()
    from kerashpo.spaces import UserError

    try:
        return _COMMANDS[args.command](args)
    except UserError as exc:
        print(f"kerashpo: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("kerashpo: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from kerashpo.pipelines.config import load_config
    from kerashpo.pipelines.progress import ProgressDisplay
    from kerashpo.pipelines.run.pipeline import run_pipeline
    from kerashpo.pipelines.runtime.backend import select_backend
    from kerashpo.spaces.choices import Driver

    overrides = {"driver": args.driver, "keras_tuner.tuner": args.tuner, "budget.trials": args.trials,
                 "budget.max_epochs": args.max_epochs, "seed": args.seed,
                 "optuna.sampler": args.sampler, "optuna.pruner": args.pruner, "storage": args.storage,
                 "workers": args.workers, "mixed_precision": args.mixed_precision, "report": args.report,
                 "backend": args.backend}
    config = load_config(args.config, overrides)
    select_backend(config.backend)  # before Keras is imported here or in the worker server
    # Soft wrap: a line piped to a file stays one line rather than breaking at 80 columns mid-phrase.
    console = Console(highlight=False, soft_wrap=True)
    if config.workers > 1:
        from kerashpo.pipelines.runtime.workers import start_worker_server

        start_worker_server()
    from kerashpo.pipelines.runtime.quiet import import_backend_quietly

    gpus = import_backend_quietly()
    if gpus:
        console.print(f"GPUs: {', '.join(gpus)}")
    from kerashpo.search.redaction import redact_url

    # The model card shows it: a password in --storage or --tracking-uri is redacted.
    command = "kerashpo run " + " ".join(shlex.quote(redact_url(a)) for a in sys.argv[2:]) \
        if sys.argv[1:2] == ["run"] else f"kerashpo run {args.config}"
    # The ETA heeds the time budget; with no trial count the line shows no total.
    progress = ProgressDisplay(console, timeout=config.budget.timeout, open_ended=config.budget.time_decides)
    report = run_pipeline(config, tracking_uri=args.tracking_uri, on_trial_end=progress, command=command)
    outcome = report.outcome
    infeasible = f" ({outcome.n_infeasible} infeasible)" if outcome.n_infeasible else ""
    from kerashpo.search.training.device import training_device

    backend, device = training_device()
    console.print(f"\nsearch {report.study}: {outcome.n_complete} complete, {outcome.n_pruned} pruned, "
                  f"{outcome.n_failed} failed{infeasible} in {outcome.seconds:.0f}s, on {backend} ({device})")
    if report.export is None:
        if outcome.best_number is None:
            why = "met the constraints" if outcome.n_infeasible else "completed"
            console.print(f"[red]no trial {why}; nothing to export[/]")
            return 1
        console.print(f"best trial {outcome.best_number}: {report.objective} = {outcome.best_value:.4f}, trained on "
                      "another host: that host exports it (or set export.refit: true to retrain it here)")
        return 0
    label = "picked trial" if config.objectives else "best trial"
    console.print(f"{label} {outcome.best_number}: {report.objective} = {outcome.best_value:.4f}")
    if config.objectives:
        console.print(f"picked from the Pareto front by export.pick ({config.export.pick.rule}); "
                      f"kerashpo leaderboard --experiment {report.experiment} marks the front")
    if report.export.ensemble:
        console.print(f"shipped: {report.export.ensemble}")
    scores = ", ".join(f"{k} = {v:.4f}" for k, v in report.export.test_metrics.items())
    console.print(f"test (evaluated once): {scores}")
    for line in report.baseline_comparison():
        console.print(line)
    console.print(f"exported: {report.export.model_path} and {report.export.card_path.name}")
    if report.export.registered_version:
        console.print(f"registered: {report.experiment} version {report.export.registered_version}"
                      + (" (alias champion)" if report.export.champion_moved else " (champion unchanged)"))
    if report.review is not None:
        console.print(f"report: {report.review}")
    # The dashboard reads the config's storage; one given on the command line would need repeating there.
    on_own_storage = config.driver is Driver.OPTUNA and not args.storage
    dashboard = f"   |   kerashpo dashboard {args.config}" if on_own_storage else ""
    console.print(f"review: kerashpo leaderboard --experiment {report.experiment}   |   "
                  f"kerashpo ui --experiment {report.experiment}{dashboard}")
    return 0


def _tracking_uri(args: argparse.Namespace) -> str:
    from kerashpo.pipelines.runtime.stores import resolve_tracking_uri

    return resolve_tracking_uri(args.tracking_uri, None, Path.cwd())


def _require_store(uri: str) -> None:
    from kerashpo.spaces import UserError

    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        raise UserError(f"no MLflow store at {uri.removeprefix('sqlite:///')}; run `kerashpo run CONFIG` here first "
                        "or pass --tracking-uri")


def _leaderboard(args: argparse.Namespace) -> int:
    from kerashpo.search.leaderboard import format_leaderboard, leaderboard

    uri = _tracking_uri(args)
    _require_store(uri)
    print(format_leaderboard(leaderboard(uri, args.experiment, args.top), args.format))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from kerashpo.pipelines.review.compare import compare_runs
    from kerashpo.search.leaderboard import format_leaderboard
    from kerashpo.spaces import UserError

    if len(args.runs) < 2:
        raise UserError("compare: give two or more parent run ids")
    uri = _tracking_uri(args)
    _require_store(uri)
    table, warnings = compare_runs(uri, args.runs, args.allow_different_splits)
    for warning in warnings:
        print(warning, file=sys.stderr)
    print(format_leaderboard(table, args.format))
    return 0


def _ablate(args: argparse.Namespace) -> int:
    from kerashpo.pipelines.ablation.run import run_ablation
    from kerashpo.pipelines.config import load_config

    config = load_config(args.config)

    def progress(run: object, done: int, total: int) -> None:
        value = getattr(run, "value", None)
        shown = "failed" if value is None else f"{value:.4f}"
        print(f"[{done}/{total}] {getattr(run, 'variant', '')} seed {getattr(run, 'seed', '')}: {shown}", flush=True)

    report = run_ablation(config, tracking_uri=args.tracking_uri, from_run=args.from_run, variants=args.variants,
                          seeds=args.seeds, test=args.test, on_run_end=progress)
    print()
    print(report.text())
    print(f"\nwritten: {', '.join(str(f) for f in report.files)}")
    if report.parent_run_id:
        print(f"MLflow: ablation run {report.parent_run_id}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from mlflow import MlflowClient

    from kerashpo.pipelines.review.report import review_search
    from kerashpo.search.leaderboard import find_search_run, search_run

    uri = _tracking_uri(args)
    _require_store(uri)
    client = MlflowClient(tracking_uri=uri)
    parent = search_run(client, args.run_id) if args.run_id else find_search_run(client, args.experiment)
    print(f"report: {review_search(uri, parent.info.run_id, args.out)}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from mlflow import MlflowClient

    from kerashpo.pipelines.runtime.quiet import import_backend_quietly
    from kerashpo.pipelines.ship.export import ALIAS, MLFLOW_MODEL, export_model
    from kerashpo.search.leaderboard import find_search_run
    from kerashpo.search.redaction import redact_url
    from kerashpo.spaces import UserError

    import_backend_quietly()
    uri = _tracking_uri(args)
    _require_store(uri)
    client = MlflowClient(tracking_uri=uri)
    if args.run_id:
        try:
            run_id = client.get_run(args.run_id).info.run_id
        except Exception:
            raise UserError(f"--run-id: no run {args.run_id!r} in {redact_url(uri)}") from None
        model_uri, source = f"runs:/{run_id}/{MLFLOW_MODEL}", f"run {run_id}"
    else:
        parent = find_search_run(client, args.experiment)
        name = client.get_experiment(parent.info.experiment_id).name
        try:
            run_id = client.get_model_version_by_alias(name, ALIAS).run_id
        except Exception:
            raise UserError(f"no registered champion for {name!r}: no search of it finished a trial yet; finish a "
                            "`kerashpo run` first") from None
        model_uri, source = f"models:/{name}@{ALIAS}", f"the champion of {name}"
    destination = export_model(uri, model_uri, args.destination, run_id, force=args.force)
    print(f"exported {source} to {destination}/ (model.keras, saved_model/, schema.json, model_card.md)")
    return 0


def _predict(args: argparse.Namespace) -> int:
    import tempfile

    from kerashpo.pipelines.runtime.quiet import import_backend_quietly
    from kerashpo.pipelines.serving import Champion, InputError, prefer_trained_backend
    from kerashpo.spaces import UserError

    prefer_trained_backend(args.model)
    import_backend_quietly()
    with tempfile.TemporaryDirectory() as scratch:
        try:
            if Path(args.model).exists():
                champion = Champion.load(args.model)
            elif ":/" in args.model:
                from kerashpo.pipelines.ship.export import download_model

                uri = _tracking_uri(args)
                try:  # MLflow would create an empty store here rather than say there is none
                    _require_store(uri)
                except UserError as exc:
                    raise UserError(f"--model {args.model}: {exc}") from None
                champion = Champion.load(download_model(uri, args.model, Path(scratch)))
            else:
                raise UserError(f"--model: {args.model} is neither a folder nor an MLflow URI (models:/NAME@champion)")
            inputs, files = _read_input(args.input, champion, args.x_key)
            predictions = champion.predict(inputs)
        except InputError as exc:
            raise UserError(f"{args.input}: {exc}") from None
    if files is not None:
        predictions.insert(0, "file", [str(f.relative_to(args.input)) for f in files])
    if args.out:
        predictions.to_csv(args.out, index=False)
        print(f"wrote {len(predictions)} predictions to {args.out}")
    else:
        predictions.to_csv(sys.stdout, index=False)
    return 0


def _read_input(path: Path, champion: Champion, x_key: str) -> tuple[object, list[Path] | None]:
    """Raw inputs from a file: a table, an NPZ array, or the images under a folder (and their files)."""
    import numpy as np

    from kerashpo.pipelines.config import FILE_SUFFIXES
    from kerashpo.pipelines.data.loaders import read_table
    from kerashpo.pipelines.serving import image_files, read_images
    from kerashpo.spaces import UserError

    if not path.exists():
        raise UserError(f"{path}: not found")
    if path.is_dir():
        files = image_files(path)
        if not files:
            raise UserError(f"{path}: holds no images")
        return read_images(files, champion.schema), files
    kind = FILE_SUFFIXES.get(path.suffix.lower())
    if kind == "npz":
        with np.load(path, allow_pickle=False) as archive:
            if x_key not in archive:
                raise UserError(f"{path}: has no array {x_key!r} (it holds {', '.join(archive.keys())}); "
                                "pass --x-key")
            return archive[x_key], None
    if kind is None:
        raise UserError(f"{path}: give a .csv, .parquet or .npz file, or a folder of images")
    text = [i["column"] for i in champion.schema["inputs"] if i.get("kind") == "categorical"]
    return read_table(path, kind, text, field="input"), None


def _ui(args: argparse.Namespace) -> int:
    from kerashpo.pipelines.web.mlflow_ui import serve

    uri = _tracking_uri(args)
    _require_store(uri)
    return serve(uri, args.host, args.port, args.experiment, args.open)


def _dashboard(args: argparse.Namespace) -> int:
    from kerashpo.pipelines.runtime.stores import resolve_stores
    from kerashpo.pipelines.web.dashboard import serve
    from kerashpo.spaces import UserError

    study, storage = None, args.storage
    if args.config:
        from kerashpo.pipelines.config import load_config
        from kerashpo.spaces.choices import Driver

        config = load_config(args.config)
        if config.driver is not Driver.OPTUNA:
            raise UserError(f"{args.config}: driver {config.driver} keeps no Optuna study; the dashboard reads "
                            "Optuna's (`kerashpo ui` shows every driver's trials)")
        # Named as OptunaDriver.study_name names it (importing the driver would load TensorFlow).
        storage, study = storage or config.storage, config.name
    return serve(resolve_stores(Path.cwd(), storage=storage).storage, study, args.host, args.port, args.open)


_COMMANDS = {"run": _run, "leaderboard": _leaderboard, "compare": _compare, "ablate": _ablate, "export": _export,
             "predict": _predict, "ui": _ui, "dashboard": _dashboard, "report": _report}


if __name__ == "__main__":
    sys.exit(main())
