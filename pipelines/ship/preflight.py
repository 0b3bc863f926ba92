"""Checks before the first trial for what would otherwise fail only after the search.

The end of a run loads the champion's checkpoint, saves it as ``.keras``,
SavedModel and an MLflow model with a signature, and writes the export folder.
Each step depends on things known before any training: the inputs and their
names, the builder's layers, the schema, the destination. ``check_export`` runs
those same steps on a model of the same inputs (built, never trained) in a
temporary folder, so a search that could not be shipped is refused in one line
before it starts, with nothing written.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerashpo.pipelines.config import PipelineConfig, tensorflow_installed
from kerashpo.pipelines.data.dataset import Dataset
from kerashpo.pipelines.data.splits import Splits, model_schema, take
from kerashpo.pipelines.runtime.stores import Stores
from kerashpo.search.training.memory import clear_session
from kerashpo.spaces import DataSpec, UserError

if TYPE_CHECKING:
    import keras

    from kerashpo.search.protocols import ModelSource, Sampling

# Rows of the example a probe scores: as many as the MLflow input example the run logs.
EXAMPLE_ROWS = 5


class ExportCheckError(UserError):
    """A search whose champion could not be exported or served, found before the first trial."""


def export_directory(config: PipelineConfig, stores: Stores) -> Path:
    """Where the run writes its export folder (``pipelines.run`` writes there too)."""
    return Path(config.export.dir) if config.export.dir else stores.export_dir(config.name)


def check_export(config: PipelineConfig, dataset: Dataset, splits: Splits, spec: DataSpec, source: ModelSource,
                 stores: Stores) -> None:
    """Refuse, in one line, a search whose champion could not be exported, logged to MLflow or served.

    Call once the data is split and the source checked, before any store is
    written. Writes only under a temporary folder, which it removes.
    """
    field = "export.dir" if config.export.dir else "export folder"
    check_destination_writable(export_directory(config, stores), field)
    if config.export.writes_saved_model and not tensorflow_installed():
        raise ExportCheckError("export.formats: saved_model needs TensorFlow, which is not installed here: "
                               "pip install tensorflow, or drop saved_model from export.formats")
    schema = model_schema(dataset, spec, config.dataset)
    try:  # schema.json is written after the search
        json.dumps(schema)
    except (TypeError, ValueError) as exc:
        raise ExportCheckError(f"export check: the model's schema cannot be written as JSON ({exc})") from None
    probe_export(dataset, splits, spec, source, schema, saved_model=config.export.writes_saved_model,
                 mlflow_model=config.export.logs_mlflow_model,
                 ensemble=config.ensemble_size(source.preset) > 1)


def check_destination_writable(directory: Path, field: str = "export.dir") -> None:
    """The export folder can be made (or replaced) where the run will put it; nothing is created here."""
    if directory.exists() and not directory.is_dir():
        raise ExportCheckError(f"{field}: {directory} exists and is a file; give a directory for the export")
    existing = directory
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ExportCheckError(f"{field}: {directory} cannot be created: {existing} is a file")
    # The run stages the export beside the folder and renames it in: the parent must take new entries.
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ExportCheckError(f"{field}: {directory} cannot be written: no write permission on {existing}")


def probe_export(dataset: Dataset, splits: Splits, spec: DataSpec, source: ModelSource, schema: dict[str, Any],
                 *, saved_model: bool = True, mlflow_model: bool = True, ensemble: bool = False) -> None:
    """Build an untrained model of the search's inputs and ship it as the run's end would, in a temp folder."""
    step = Step()
    try:
        with tempfile.TemporaryDirectory(prefix="kerashpo-preflight-") as scratch:
            step.now = "building the model"
            model = _probe_model(source, spec)
            _ship(model, spec, schema, take(_example_rows(splits), slice(0, EXAMPLE_ROWS)), Path(scratch), step,
                  saved_model, mlflow_model, ensemble)
    except UserError:
        raise
    except Exception as exc:
        raise ExportCheckError(_explain(step.now, exc, dataset)) from None
    finally:
        # The probe's layers would otherwise shift the automatic layer names of the first trial.
        clear_session()


@dataclass
class Step:
    """What the probe is doing, for the one-line refusal."""

    now: str = ""


def _example_rows(splits: Splits) -> Any:
    return splits.x_test if len(splits.y_test) else splits.x_train


def _probe_model(source: ModelSource, spec: DataSpec) -> keras.Model:
    """The search's own builder: declared spaces at the builder's defaults, build functions at Keras Tuner's."""
    from kerashpo.search.training.sampling import FixedSampling, KerasTunerSampling

    sampling: Sampling
    if source.space is not None:
        sampling = FixedSampling({})
    else:
        import keras_tuner

        sampling = KerasTunerSampling(keras_tuner.HyperParameters())
    _, model = source.build(sampling, spec)  # each source checks what it built
    return model


def _ship(model: Any, spec: DataSpec, schema: dict[str, Any], rows: Any, scratch: Path, step: Step,
          saved_model: bool, mlflow_model: bool, ensemble: bool) -> None:
    """The steps of the run's end, in order: checkpoint reload, the ensemble, raw rows, export folder,
    MLflow model."""
    import keras

    from kerashpo.pipelines.serving import Champion
    from kerashpo.pipelines.ship.export import raw_example, save_mlflow_model, write_bundle

    # The champion comes back from its checkpoint in safe mode, as `kerashpo predict` and MLflow load it.
    step.now = "saving the model as .keras"
    model.save(scratch / "checkpoint.keras")
    step.now = "loading the saved model in safe mode (only built-in or registered layers, no Lambda)"
    with warnings.catch_warnings():  # an untrained model's optimizer has no state to restore
        warnings.simplefilter("ignore", UserWarning)
        model = keras.saving.load_model(scratch / "checkpoint.keras", safe_mode=True)
        if ensemble:
            from kerashpo.search.selection.ensemble import averaging_model
            from kerashpo.search.selection.linear import linear_architecture

            step.now = "combining two trials' models and the linear model into one (export.ensemble)"
            twin = keras.saving.load_model(scratch / "checkpoint.keras", safe_mode=True)
            members, names = [model, twin], ["trial_0", "trial_1"]
            linear = linear_architecture(spec, like=model)
            if linear is not None:
                members, names = [*members, linear], [*names, "linear"]
            averaged = averaging_model(members, [1 / len(members)] * len(members), names)
            step.now = "saving the ensemble and loading it in safe mode, as `kerashpo predict` loads it"
            averaged.save(scratch / "ensemble.keras")
            model = keras.saving.load_model(scratch / "ensemble.keras", safe_mode=True)
    step.now = "scoring raw rows as `kerashpo predict` reads them"
    schema = json.loads(json.dumps(schema))
    example = raw_example(rows, schema)
    _check_csv_round_trip(Champion(model, schema), example, scratch)
    step.now = "writing the export folder (.keras, SavedModel, schema)" if saved_model else \
        "writing the export folder (.keras, schema)"
    write_bundle(scratch / "export", model, schema, "# Model card\n", saved_model=saved_model)
    if mlflow_model:
        step.now = "saving the MLflow model and its signature"
        save_mlflow_model(scratch / "mlflow_model", model, schema, example)


def _check_csv_round_trip(champion: Any, example: Any, scratch: Path) -> None:
    """Rows written to a CSV with the original column names score as ``kerashpo predict`` reads them."""
    if champion.kind != "table":
        champion.scores(example)
        return
    from kerashpo.pipelines.data.loaders import read_table

    path = scratch / "rows.csv"
    example.to_csv(path, index=False)
    text = [item["column"] for item in champion.schema["inputs"] if item["kind"] == "categorical"]
    champion.predict(read_table(path, "csv", text, field="input"))


def _explain(step: str, exc: BaseException, dataset: Dataset) -> str:
    """One line: the step that failed, the error's first sentence and, for a table, the column it names."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))  # Keras colours its messages
    # Keras wraps a layer's error in "Exception encountered when calling ..." and lists every input after it.
    lines = [line.strip() for line in text.split("Arguments received by")[0].splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Exception encountered when calling"):
        lines = lines[1:]
    first = re.split(r"(?<=[.!?])\s", lines[0], maxsplit=1)[0][:300] if lines else ""
    column = _named_column(" ".join(lines), dataset)
    where = f" for column {column!r}" if column is not None else ""
    return (f"export check: {step} fails{where} ({type(exc).__name__}: {first}); the search would fail after its "
            "last trial, so nothing was run")


def _named_column(text: str, dataset: Dataset) -> str | None:
    """The source column whose input name (or own name) the message quotes, longest names first."""
    columns = dataset.columns or {}
    for column, name in sorted(columns.items(), key=lambda item: -len(item[1])):
        if re.search(rf"['\"]{re.escape(name)}['\"_]", text) or f"'{column}'" in text:
            return column
    return None
