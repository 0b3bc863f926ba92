"""The end of a run: evaluate the champion once on the test split, log, register, export.

An export folder holds ``model.keras`` (raw inputs in, safe to load),
``saved_model/`` (TensorFlow SavedModel with a ``serve`` signature),
``schema.json`` (inputs, task, class names: what ``kerashpo predict`` reads)
and ``model_card.md``. The MLflow model carries the same Keras file and schema
under both the ``keras`` flavor and a ``python_function`` flavor that takes
raw rows (``pipelines/serving.py``, copied into the model).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerashpo.pipelines.serving import MODEL_FILE, SCHEMA_FILE, Champion
from kerashpo.search.redaction import redact_url
from kerashpo.search.tracking import using_tracking_uri
from kerashpo.spaces import UserError
from kerashpo.spaces.choices import Direction

log = logging.getLogger("kerashpo.export")

ALIAS = "champion"
CARD = "model_card.md"
SAVED_MODEL = "saved_model"
MLFLOW_MODEL = "model"  # artifact path of the MLflow model on the search run
SERVING_MODULE = "kerashpo_serving"


@dataclass
class ExportReport:
    directory: Path
    test_metrics: dict[str, float]
    registered_version: str | None = None
    champion_moved: bool = False
    ensemble: str | None = None  # what was shipped instead of the champion alone (export.ensemble)
    ensemble_value: float | None = None  # that ensemble's validation value of the run's objective
    with_linear: bool = False  # the linear model fitted exactly is one of its members (or all of it)
    notices: list[str] = field(default_factory=list)  # references better than it on validation, one line each

    @property
    def model_path(self) -> Path:
        return self.directory / MODEL_FILE

    @property
    def card_path(self) -> Path:
        return self.directory / CARD


def evaluate_once(model: Any, x_test: Any, y_test: Any, spec: Any) -> dict[str, float]:
    """The only place the test split is used.

    A model its HyperModel trained in its own loop comes uncompiled: it is
    compiled (nothing trains) with the task's loss and metrics, its outputs read
    as the task's head gives them (probabilities for classes).
    """
    from kerashpo.search.models import encode_targets, model_inputs
    from kerashpo.spaces.tasks import loss_and_metrics

    if getattr(model, "optimizer", None) is None:
        loss, metrics = loss_and_metrics(spec.task)
        model.compile(loss=loss, metrics=metrics)
    # Once, eagerly and in large batches: tracing a test step costs more than the single pass it would serve.
    # Means over rows do not depend on the batch size.
    compiled_eagerly, model.run_eagerly = model.run_eagerly, True
    try:
        results = model.evaluate(model_inputs(x_test), encode_targets(model, y_test, spec), batch_size=1024,
                                 verbose=0, return_dict=True)
    finally:
        model.run_eagerly = compiled_eagerly
    return {f"test_{name}": float(value) for name, value in results.items()}


def check_destination(directory: Path, force: bool) -> None:
    """An export goes into a directory that is new, empty, or replaced on purpose (``--force``)."""
    if directory.exists() and not directory.is_dir():
        raise UserError(f"{directory}: exists and is a file; give a directory for the export")
    if directory.exists() and any(directory.iterdir()) and not force:
        raise UserError(f"{directory}: already holds files; pass --force to replace them")


def write_atomically(directory: Path, fill: Callable[[Path], None], force: bool = True) -> None:
    """``fill(staging)`` writes the files; they replace ``directory`` only once all are written.

    A failure leaves nothing half-written: neither a partial folder nor a
    damaged earlier export.
    """
    check_destination(directory, force)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    try:
        fill(staging)
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def save_keras_file(model: Any, path: Path) -> None:
    """The ``.keras`` file as a process without kerashpo loads it: a model trained with a loss of kerashpo's
    own (label smoothing over classes), or an ensemble of such, ships as a copy without its training state."""
    import keras

    from kerashpo.spaces.presets.tabular.losses import carries_own_loss

    if any(carries_own_loss(part) for part in (model, *model.layers)):
        copy = keras.Model.from_config(model.get_config())  # the architecture alone, not compiled
        copy.set_weights(model.get_weights())
        model = copy
    model.save(path)


def write_bundle(directory: Path, model: Any, schema: dict[str, Any], card: str, force: bool = True,
                 saved_model: bool = True) -> None:
    """The export folder's files (the SavedModel unless ``export.formats`` leaves it out), written together
    or not at all."""

    def fill(staging: Path) -> None:
        save_keras_file(model, staging / MODEL_FILE)
        if saved_model:
            export_saved_model(model, staging / SAVED_MODEL, schema)
        (staging / SCHEMA_FILE).write_text(json.dumps(schema, indent=2))
        (staging / CARD).write_text(card)

    write_atomically(directory, fill, force)


def export_saved_model(model: Any, path: Path, schema: dict[str, Any] | None = None) -> None:
    """A SavedModel whose ``serve`` signature runs the model in inference mode.

    ``model.export`` traces a plain ``model(x)``, in which Keras's random layers
    (augmentation in a user's build function) stay active. A table model's
    ``serve`` takes a dict keyed by the source columns as the training file names
    them; the flat serving signature (TF Serving) names each tensor by its input
    name in ``schema.json``, since TensorFlow allows few characters there.
    """
    import keras
    import tensorflow as tf

    def spec(tensor: Any) -> Any:
        return tf.TensorSpec(tensor.shape, tensor.dtype, name=tensor.name)

    try:
        inputs = model.input
    except AttributeError:  # a Sequential built without an Input layer: Keras infers the signature
        with contextlib.redirect_stdout(io.StringIO()):
            model.export(str(path), format="tf_saved_model", verbose=False)
        return
    archive = keras.export.ExportArchive()
    archive.track(model)
    columns = table_columns(schema, inputs)
    if columns:
        signature: Any = {column: spec(tensor) for column, (_, tensor) in columns.items()}

        def serve(feed: Any) -> Any:  # a dict by source column
            named = {name: feed[column] for column, (name, _) in columns.items()}
            # A one-column table's model takes its tensor bare.
            return model(named if isinstance(inputs, dict) else next(iter(named.values())), training=False)
    else:
        signature = {name: spec(t) for name, t in inputs.items()} if isinstance(inputs, dict) else spec(inputs)

        def serve(feed: Any) -> Any:
            return model(feed, training=False)
    archive.add_endpoint("serve", serve, input_signature=[signature])
    archive.write_out(str(path), verbose=False)


def table_columns(schema: dict[str, Any] | None, inputs: Any) -> dict[str, tuple[str, Any]]:
    """A table model's source column -> (input name, input tensor); empty unless the schema covers every input."""
    if not schema or schema.get("kind") != "table":
        return {}
    tensors = inputs if isinstance(inputs, dict) else {inputs.name: inputs}
    columns = {item["column"]: (item["name"], tensors.get(item["name"])) for item in schema["inputs"]}
    covered = {name for name, tensor in columns.values() if tensor is not None}
    return columns if covered == set(tensors) and len(covered) == len(columns) else {}


def raw_example(x_rows: Any, schema: dict[str, Any]) -> Any:
    """Rows as a client sends them: a DataFrame of the source columns, typed as in the training file, for
    tables; an array otherwise."""
    if schema["kind"] != "table":
        import numpy as np

        # As the model takes them: a uint8 signature would refuse pixel values sent as JSON numbers.
        return np.asarray(x_rows, dtype="float32")
    import pandas as pd

    columns = {}
    for item in schema["inputs"]:
        values = x_rows[item["name"]][:, 0]
        kind = item.get("dtype", "string")
        columns[item["column"]] = (values == "True" if kind == "boolean" else values.astype(int) if kind == "long"
                                   else values.astype(float) if kind == "double" else values.astype(str))
    return pd.DataFrame(columns)


def mlflow_signature(champion: Champion, example: Any) -> Any:
    """Table columns typed as in the training file and all optional (the model fills missing values); a feature
    array as unnamed ``double`` columns; images as the tensor the model takes."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, Schema

    with warnings.catch_warnings():  # the hint about integer columns: ours are typed as in the training file
        warnings.simplefilter("ignore", UserWarning)
        outputs = infer_signature(example, champion.predict(example))
    if champion.kind == "table":
        inputs = Schema([ColSpec(item.get("dtype", "string"), item["column"], required=False)
                         for item in champion.schema["inputs"]])
    elif champion.kind == "array":
        # Not a float32 tensor: MLflow enforces a tensor's dtype exactly and would refuse the float64 arrays and
        # DataFrames numpy and pandas make by default. Unnamed double columns take float32, float64 and integers,
        # as arrays, DataFrames or JSON; the model casts them to float32 (serving.Champion.inputs).
        inputs = Schema([ColSpec("double") for _ in champion.schema["inputs"][0]["columns"]])
    else:
        return outputs
    return ModelSignature(inputs=inputs, outputs=outputs.outputs)


def backend_requirements() -> list[str]:
    """The pinned packages of the backend Keras runs on (the one that trained the model; it serves it too)."""
    import importlib.metadata

    import keras

    packages = {"tensorflow": ["tensorflow"], "jax": ["jax", "jaxlib"], "torch": ["torch"]}[keras.backend.backend()]
    return [f"{name}=={importlib.metadata.version(name)}" for name in packages]


def save_mlflow_model(path: Path, model: Any, schema: dict[str, Any], example: Any) -> None:
    """An MLflow model with the ``keras`` flavor and a raw-input ``python_function`` flavor."""
    import keras
    import mlflow
    from mlflow.models import Model

    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "model"  # MLflow copies it to data/model
        data.mkdir()
        save_keras_file(model, data / MODEL_FILE)
        (data / SCHEMA_FILE).write_text(json.dumps(schema, indent=2))
        (data / "keras_module.txt").write_text("keras")
        code = Path(scratch) / f"{SERVING_MODULE}.py"
        shutil.copyfile(Path(__file__).parent.parent / "serving.py", code)
        champion = Champion(model, schema)
        mlflow.pyfunc.save_model(
            str(path), loader_module=SERVING_MODULE, data_path=str(data), code_paths=[str(code)],
            signature=mlflow_signature(champion, example), input_example=example,
            pip_requirements=[*backend_requirements(), f"keras=={keras.__version__}", "pandas", "pillow"],
        )
    # The keras flavor reads data/model/model.keras: mlflow.keras.load_model works on the same file, on the
    # backend that trained it.
    mlmodel = Model.load(str(path / "MLmodel"))
    mlmodel.add_flavor("keras", data="data/model", keras_backend=keras.backend.backend(),
                       keras_version=keras.__version__, save_exported_model=False)
    mlmodel.save(str(path / "MLmodel"))


def log_and_register(*, tracking_uri: str, run_id: str, model: Any, schema: dict[str, Any], example: Any,
                     name: str, register: bool, version_tags: dict[str, str],
                     direction: Direction) -> tuple[str | None, bool]:
    """Log the MLflow model on the search run and register it; move ``champion`` if it is better.

    Returns (registered version, whether the alias moved). Tracking errors are
    reported, never raised: the exported files are on disk either way.
    """
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / MLFLOW_MODEL
            save_mlflow_model(path, model, schema, example)
            client.log_artifacts(run_id, str(path), MLFLOW_MODEL)
        if not register:
            return None, False
        # register_model prints "Successfully registered ..."; the run's summary reports the version.
        with using_tracking_uri(tracking_uri), contextlib.redirect_stderr(io.StringIO()):
            version = mlflow.register_model(f"runs:/{run_id}/{MLFLOW_MODEL}", name, tags=version_tags).version
        return str(version), _maybe_move_alias(client, name, str(version), version_tags, direction)
    except Exception as exc:  # the model is exported on disk either way
        log.warning("tracking: could not log or register the model (%s: %s)", type(exc).__name__,
                    str(exc).splitlines()[0] if str(exc) else "")
        return None, False


def _maybe_move_alias(client: Any, name: str, version: str, tags: dict[str, str], direction: Direction) -> bool:
    """Point ``champion`` at the new version unless the current champion is better on the same objective."""
    try:
        current = client.get_model_version_by_alias(name, ALIAS)
    except Exception:
        current = None
    if current is not None and current.tags.get("objective") == tags["objective"]:
        old, new = float(current.tags["val_value"]), float(tags["val_value"])
        if direction.better(old, new):
            return False
    client.set_registered_model_alias(name, ALIAS, version)
    return True


def download_model(tracking_uri: str, uri: str, destination: Path) -> Path:
    """A ``models:/`` or ``runs:/`` URI's MLflow model in ``destination``; one clear line if there is none."""
    import mlflow

    try:
        with using_tracking_uri(tracking_uri), contextlib.redirect_stderr(io.StringIO()):
            return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(destination)))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{uri}: no such model in {redact_url(tracking_uri)} ({first[:200]})") from None


def export_model(tracking_uri: str, uri: str, destination: Path, card_run_id: str | None,
                 force: bool = False) -> Path:
    """``kerashpo export``: the model at ``uri`` as an export folder (all four formats)."""
    import mlflow

    check_destination(destination, force)  # before the download, not only when writing
    with tempfile.TemporaryDirectory() as scratch:
        champion = Champion.load(download_model(tracking_uri, uri, Path(scratch)))
        card = f"# Model card\n\n{uri}: no card was logged.\n"
        if card_run_id is not None:
            with contextlib.suppress(Exception), using_tracking_uri(tracking_uri):
                card = Path(mlflow.artifacts.download_artifacts(run_id=card_run_id, artifact_path=CARD,
                                                                dst_path=scratch)).read_text()
        write_bundle(destination, champion.model, champion.schema, card, force=force)
    return destination
