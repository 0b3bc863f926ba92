"""Score raw inputs with an exported champion: ``kerashpo predict`` and the MLflow model's pyfunc.

This module imports nothing of kerashpo: it is copied into every logged MLflow
model (``code/``), so ``mlflow models serve`` and ``mlflow.pyfunc.load_model``
work wherever Keras and the backend that trained the model are installed.

A champion is a ``model.keras`` file and ``schema.json`` beside it: the model's
inputs and the source columns they come from, the task, the class names, and
the Keras backend that trained it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA_FILE = "schema.json"
MODEL_FILE = "model.keras"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_PIL_MODES = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}


class InputError(ValueError):
    """Inputs that do not fit the model: reported in one line."""


def find_model_files(directory: Path) -> tuple[Path, Path]:
    """``model.keras`` and ``schema.json`` in an export folder, or in an MLflow model's ``data/model/`` folder."""
    for folder in (directory, directory / "data" / "model"):
        if (folder / MODEL_FILE).is_file() and (folder / SCHEMA_FILE).is_file():
            return folder / MODEL_FILE, folder / SCHEMA_FILE
    raise InputError(f"{directory}: holds no {MODEL_FILE} with a {SCHEMA_FILE}; give a folder written by "
                     "`kerashpo export` or `kerashpo run`, or a models:/ or runs:/ URI")


def prefer_trained_backend(directory: str | Path) -> None:
    """Before Keras starts: run it on the backend that trained the model in ``directory`` where that backend is
    installed, unless ``KERAS_BACKEND`` says otherwise (a machine without TensorFlow loads a JAX model as is)."""
    if "KERAS_BACKEND" in os.environ or "keras" in sys.modules:
        return
    try:
        backend = json.loads(find_model_files(Path(directory))[1].read_text()).get("backend")
    except (InputError, OSError, ValueError):
        return
    if backend in ("tensorflow", "jax", "torch") and importlib.util.find_spec(backend) is not None:
        os.environ["KERAS_BACKEND"] = backend


class Champion:
    """A loaded model and its schema; ``predict`` takes raw rows, arrays or images."""

    def __init__(self, model: Any, schema: dict[str, Any]):
        self.model, self.schema = model, schema

    @classmethod
    def load(cls, directory: str | Path) -> Champion:
        prefer_trained_backend(directory)
        import keras

        model_path, schema_path = find_model_files(Path(directory))
        # safe_mode: a model file may carry no code of its own; only built-in layers load. Scoring needs no
        # optimizer, and restoring a trained one's state is what Keras warns about when it cannot.
        model = keras.saving.load_model(model_path, safe_mode=True, compile=False)
        return cls(model, json.loads(schema_path.read_text()))

    @property
    def kind(self) -> str:
        return self.schema["kind"]

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Predictions as a DataFrame: ``prediction`` (class label or value) and one probability per class."""
        return self.frame(self.scores(data))

    def scores(self, data: Any) -> np.ndarray:
        """The model's raw output (probabilities or values) for raw ``data``."""
        return np.asarray(self.model.predict(self.inputs(data), verbose=0))

    def inputs(self, data: Any) -> Any:
        """Raw data (DataFrame, dict of columns, array) as the model's inputs, checked against the schema."""
        import pandas as pd

        if isinstance(data, dict) and self.kind != "table":
            data = next(iter(data.values())) if len(data) == 1 else data
        if self.kind == "table":
            frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
            return table_tensors(frame, self.schema)
        if isinstance(data, pd.DataFrame):
            if self.kind == "image":
                raise InputError("this model takes images: send a tensor (rows, height, width, channels)")
            # Columns 0, 1, ...: an array as MLflow hands it over (or a frame built from one) is taken by position.
            positional = list(data.columns) == list(range(data.shape[1]))
            frame = data if positional else _checked_columns(data, self.schema)[self.schema["inputs"][0]["columns"]]
            data = frame.to_numpy(dtype="float32")
        array = np.asarray(data)
        expected = tuple(self.schema["inputs"][0]["shape"])
        if self.kind == "image" and array.ndim == len(expected):  # (rows, height, width) for one channel
            array = array[..., np.newaxis]
        if array.shape[1:] != expected:
            what = "images of (height, width, channels)" if self.kind == "image" else "rows of"
            raise InputError(f"inputs have shape {array.shape[1:]}; the model takes {what} {expected}")
        return array.astype("float32") if array.dtype != np.uint8 else array

    def frame(self, scores: np.ndarray) -> Any:
        import pandas as pd

        task, names = self.schema["task"], self.schema.get("class_names")
        if task == "regression":
            return pd.DataFrame({"prediction": scores[:, 0]})
        probabilities = np.concatenate([1.0 - scores, scores], axis=1) if task == "binary" else scores
        result = pd.DataFrame({"prediction": np.asarray(names, dtype=object)[probabilities.argmax(axis=1)]})
        for index, name in enumerate(names or []):
            result[f"probability_{name}"] = probabilities[:, index]
        return result


def column_values(column: Any, categorical: bool) -> np.ndarray:
    """One raw column as a (rows, 1) model input: text for categories (missing -> ""), float32 numbers (NaN kept).

    Training (``pipelines.loaders``) and scoring both convert through here, so a
    value reaches the model the same way in both.
    """
    import pandas as pd

    if categorical:
        return column.astype(object).where(column.notna(), "").astype(str).to_numpy(dtype=object).reshape(-1, 1)
    try:
        return pd.to_numeric(column).to_numpy(dtype="float32", na_value=np.nan).reshape(-1, 1)
    except (TypeError, ValueError):
        raise InputError(f"column {column.name!r} should hold numbers") from None


def table_tensors(frame: Any, schema: dict[str, Any]) -> dict[str, Any]:
    """One (rows, 1) array per model input, from the columns the schema names; text as string tensors (only
    TensorFlow takes them, and only then is it imported)."""
    frame = _checked_columns(frame, schema)
    tensors: dict[str, Any] = {}
    for item in schema["inputs"]:
        values = column_values(frame[item["column"]], item["kind"] == "categorical")
        if values.dtype == object:
            import tensorflow as tf

            values = tf.constant(values.astype(str))
        tensors[item["name"]] = values
    return tensors


def _checked_columns(frame: Any, schema: dict[str, Any]) -> Any:
    """The frame, once it has every column the model takes and none it does not know."""
    expected = [c for item in schema["inputs"] for c in item.get("columns", [item.get("column")]) if c]
    present = [str(c) for c in frame.columns]
    missing = [c for c in expected if c not in present]
    known = set(expected) | set(schema.get("ignored_columns", []))
    extra = [c for c in present if c not in known]
    if missing:
        raise InputError(f"missing column(s) {column_list(missing)}; the model takes {column_list(expected)}")
    if extra:
        raise InputError(f"unknown column(s) {column_list(extra)}; drop them (the model takes "
                         f"{column_list(expected)})")
    return frame.set_axis(present, axis=1)


def column_list(names: list[str]) -> str:
    """Column names for a one-line message: a name with a line break or control character is quoted, escaped."""
    return ", ".join(name if name.isprintable() else repr(name) for name in names)


def decode_image(path: Path, color_mode: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """One image file as uint8 (height, width, channels), in ``color_mode``, resized to ``size`` if given."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            image = opened.convert(_PIL_MODES[color_mode])
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"cannot read image {path} ({type(exc).__name__}); remove or replace it") from None
    if size is not None:
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[..., np.newaxis] if array.ndim == 2 else array


def read_images(paths: list[Path], schema: dict[str, Any]) -> np.ndarray:
    """Image files decoded as the model was trained: same colour mode, resized only if training resized."""
    item = schema["inputs"][0]
    height, width, channels = item["shape"]
    mode = item.get("color_mode") or {1: "grayscale", 3: "rgb", 4: "rgba"}[channels]
    images = []
    for path in paths:
        image = decode_image(path, mode, (height, width) if item.get("resize") else None)
        if image.shape[:2] != (height, width):
            raise InputError(f"image {path} is {image.shape[0]}x{image.shape[1]} (height x width); the model takes "
                             f"{height}x{width}")
        images.append(image)
    return np.stack(images)


def image_files(folder: Path) -> list[Path]:
    """Every image under ``folder``, sub-folders included, in a stable order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _load_pyfunc(path: str) -> Champion:
    """MLflow's ``python_function`` loader: ``path`` is the model's ``data`` folder."""
    return Champion.load(path)
