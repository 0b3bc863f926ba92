"""The end of a run: evaluate the champion once on the test split, log, register, export."""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search.tracking import using_tracking_uri
from spaces import UserError

log = logging.getLogger("kerashpo.export")

ALIAS = "champion"
CARD = "model_card.md"
MODEL_FILE = "model.keras"


@dataclass
class ExportReport:
    model_path: Path
    card_path: Path
    test_metrics: dict[str, float]
    registered_version: str | None = None
    champion_moved: bool = False
    notes: list[str] = field(default_factory=list)


def evaluate_once(model: Any, x_test: Any, y_test: Any, spec: Any) -> dict[str, float]:
    """The only place the test split is used."""
    from search.runner import encode_targets, model_inputs

    results = model.evaluate(model_inputs(x_test), encode_targets(model, y_test, spec), verbose=0, return_dict=True)
    return {f"test_{name}": float(value) for name, value in results.items()}


def write_atomically(directory: Path, files: dict[str, Any], force: bool = True) -> None:
    """Write files into ``directory`` through a sibling temp folder, so a failure leaves nothing half-written.

    ``files`` maps names to a ``Path`` to copy or text to write.
    """
    if directory.exists() and not directory.is_dir():
        raise UserError(f"{directory}: exists and is a file; give a directory for the export")
    if directory.exists() and any(directory.iterdir()) and not force:
        raise UserError(f"{directory}: already holds files; pass --force to replace them")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        for name, content in files.items():
            if isinstance(content, Path):
                shutil.copyfile(content, staging / name)
            else:
                (staging / name).write_text(content)
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def model_card(facts: dict[str, Any]) -> str:
    def table(rows: dict[str, Any]) -> list[str]:
        lines = ["| name | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in rows.items()]
        return lines

    lines = [f"# Model card: {facts['name']}", "",
             f"- Dataset: `{facts['dataset']}` (fingerprint `{facts['fingerprint']}`), task {facts['task']}",
             f"- Split sizes: {', '.join(f'{k} {v}' for k, v in facts['split_sizes'].items())} (seed {facts['seed']})",
             f"- Search: {facts['search']}",
             f"- Champion: trial {facts['trial']} of study `{facts['study']}`, "
             f"rank 1 of {facts['n_complete']} complete trials",
             f"- Validation {facts['objective']}: {_fmt(facts['val_value'])} (best epoch {facts.get('best_epoch', '-')})",
             f"- MLflow: run `{facts.get('run_id', '-')}`, registered `{facts.get('registered', '-')}`",
             "", "## Test metrics (evaluated once, after the search)", "", *table(facts["test_metrics"]),
             "", "## Hyperparameters", "", *table(facts["params"]),
             "", "## Reproduce", "", "```", facts["command"], "```", ""]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def log_and_register(*, tracking_uri: str, run_id: str, model: Any, x_example: Any, name: str,
                     register: bool, version_tags: dict[str, str], direction: str) -> tuple[str | None, bool]:
    """Log the keras-flavor model on the search run and register it; move ``champion`` if it is better.

    Returns (registered version, whether the alias moved). Tracking errors are
    reported, never raised: the exported file is already on disk.
    """
    import keras
    import mlflow
    import tensorflow as tf
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    from search.runner import model_inputs

    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        example = x_example
        signature = infer_signature(example, model.predict(model_inputs(example), verbose=0))
        # Saved locally, then logged: mlflow.keras.log_model with an input example fails (mlflow#16183).
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "model"
            path.mkdir()
            mlflow.keras.save_model(
                model, str(path), signature=signature, input_example=example,
                pip_requirements=[f"tensorflow=={tf.__version__}", f"keras=={keras.__version__}"],
            )
            client.log_artifacts(run_id, str(path), "model")
        if not register:
            return None, False
        # register_model prints "Successfully registered ..."; the run's summary reports the version.
        with using_tracking_uri(tracking_uri), contextlib.redirect_stderr(io.StringIO()):
            version = mlflow.register_model(f"runs:/{run_id}/model", name, tags=version_tags).version
        return str(version), _maybe_move_alias(client, name, str(version), version_tags, direction)
    except Exception as exc:  # the model is exported on disk either way
        log.warning("tracking: could not log or register the model (%s: %s)", type(exc).__name__,
                    str(exc).splitlines()[0] if str(exc) else "")
        return None, False


def _maybe_move_alias(client: Any, name: str, version: str, tags: dict[str, str], direction: str) -> bool:
    """Point ``champion`` at the new version unless the current champion is better on the same objective."""
    try:
        current = client.get_model_version_by_alias(name, ALIAS)
    except Exception:
        current = None
    if current is not None and current.tags.get("objective") == tags["objective"]:
        old, new = float(current.tags["val_value"]), float(tags["val_value"])
        if (old > new) if direction == "maximize" else (old < new):
            return False
    client.set_registered_model_alias(name, ALIAS, version)
    return True


def export_registered(tracking_uri: str, name: str, destination: Path, force: bool = False) -> Path:
    """``kerashpo export``: the registered champion as a ``.keras`` file and its model card."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        version = client.get_model_version_by_alias(name, ALIAS)
    except Exception:
        raise UserError(f"no registered model {name!r} with alias '{ALIAS}'; finish a `kerashpo run` first") from None
    with tempfile.TemporaryDirectory() as scratch, using_tracking_uri(tracking_uri):
        model = mlflow.keras.load_model(f"models:/{name}@{ALIAS}")
        model_path = Path(scratch) / MODEL_FILE
        model.save(model_path)
        files: dict[str, Any] = {MODEL_FILE: model_path}
        try:
            card = Path(mlflow.artifacts.download_artifacts(run_id=version.run_id, artifact_path=CARD,
                                                            dst_path=scratch))
            files[CARD] = card.read_text()
        except Exception:
            files[CARD] = f"# Model card: {name}\n\nRegistered version {version.version}; no card was logged.\n"
        write_atomically(destination, files, force=force)
    return destination
