"""Readers for every dataset a config can name: built-in sets, CSV, Parquet, NPZ and image folders.

Each reader turns a user's file into a ``Dataset`` or raises one ``DataError``
line naming the file, the field or the value and what would fix it.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kerashpo.pipelines.config import DatasetConfig
from kerashpo.pipelines.data.dataset import (
    DataError,
    Dataset,
    dataset_from_arrays,
    with_target,
)
from kerashpo.pipelines.serving import (
    IMAGE_SUFFIXES,
    InputError,
    column_list,
    column_values,
    decode_image,
)
from kerashpo.spaces.choices import Task
from kerashpo.spaces.presets.inputs import reserved_input_name

# Input names longer than this are cut (a column name can be a sentence); the schema keeps the whole name.
INPUT_NAME_LENGTH = 64
# TensorFlow passes a SavedModel signature's arguments as keywords to its function objects' methods
# (``get_concrete_function(self, *args, **kwargs)``): an argument named like one of those methods' own
# parameters would reach them twice.
TF_FUNCTION_PARAMETERS = frozenset({"self"})


def load_builtin(name: str, task: Task | None = None) -> Dataset:
    """A scikit-learn bundled dataset (no download); ``digits_images`` is digits as 8x8 images."""
    import sklearn.datasets as datasets

    bunch = getattr(datasets, f"load_{name.removesuffix('_images')}")()
    names = [str(c) for c in getattr(bunch, "target_names", [])] or None
    if name == "digits_images":
        return dataset_from_arrays(name, np.asarray(bunch.images, dtype="float32"), bunch.target, task, names)
    features = [str(f) for f in getattr(bunch, "feature_names", [])] or None
    return dataset_from_arrays(name, bunch.data, bunch.target, task, names, features)


def load_path(path: Path, spec: DatasetConfig, task: Task | None) -> Dataset:
    if spec.format == "images":
        return load_image_folder(path, spec.image_size, spec.color_mode, task)
    if spec.format == "npz":
        return load_npz(path, spec.x_key, spec.y_key, task)
    frame = read_table(path, spec.format, spec.categorical)
    return dataset_from_frame(path.name, frame, spec.target, spec.drop, spec.categorical, task)


def read_table(path: Path, file_format: str | None, categorical: Sequence[str] = (),
               field: str = "dataset.path") -> Any:
    """A CSV or Parquet file as a DataFrame; columns named in ``categorical`` are read as text.

    ``field`` names what the user gave, in errors.
    """
    import pandas as pd

    if path.is_dir():
        raise DataError(f"{field}: {path} is a folder; give a {file_format} file, or set format: images")
    try:
        if file_format == "parquet":
            return pd.read_parquet(path)
        # Category columns read as text keep their codes exactly ("007" stays "007").
        return pd.read_csv(path, dtype={name: str for name in categorical})
    except pd.errors.EmptyDataError:
        raise DataError(f"{field}: {path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{field}: {path} cannot be read as {file_format} ({first})") from None


def dataset_from_frame(name: str, frame: Any, target: str | None, drop: Sequence[str] = (),
                       categorical: Sequence[str] = (), task: Task | None = None) -> Dataset:
    """A table: one model input per column; text, boolean and listed columns are categories."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"dataset {name}: expected a pandas DataFrame or (x, y) arrays, got {type(frame).__name__}")
    columns = [str(c) for c in frame.columns]
    # A DataFrame or Parquet file may repeat a name (or hold 0 and "0"): one of the columns would be lost.
    repeated = [(c, n) for c, n in Counter(columns).items() if n > 1]
    if repeated:
        raise DataError(f"dataset {name}: column {repeated[0][0]!r} appears {repeated[0][1]} times; give each "
                        "column its own name")
    frame = frame.set_axis(columns, axis=1)
    if not target:
        raise DataError(f"dataset {name}: set dataset.target to the column to predict "
                        f"(columns: {_listing(columns)})")
    for field, names in (("target", [target]), ("drop", drop), ("categorical", categorical)):
        unknown = [n for n in names if n not in columns]
        if unknown:
            raise DataError(f"dataset.{field}: no column {unknown[0]!r} in {name}; its columns are "
                            f"{_listing(columns)}")
    if len(frame) == 0:
        raise DataError(f"dataset {name}: has no rows")
    features = frame.drop(columns=[target, *drop])
    if features.shape[1] == 0:
        raise DataError(f"dataset {name}: no feature columns are left besides the target {target!r}")
    x, input_names = table_inputs(features, categorical, name)
    dataset = with_target(name, x, frame[target].to_numpy(), task, list(features.columns), columns=input_names,
                          target=f"column {target!r}")
    dataset.column_types = {str(c): _client_type(features[c]) for c in features.columns}
    return dataset


def _client_type(series: Any) -> str:
    """A column's type as clients send it (MLflow's names), so a served model accepts rows like the training file."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "long"
    return "double" if pd.api.types.is_numeric_dtype(series) else "string"


def table_inputs(frame: Any, categorical: Any = (), name: str = "table") -> tuple[dict[str, np.ndarray],
                                                                                    dict[str, str]]:
    """Model inputs from raw columns (``serving.column_values``): text, boolean and listed columns are categories.

    Returns the inputs and the input name of each column.
    """
    import pandas as pd

    inputs: dict[str, np.ndarray] = {}
    names: dict[str, str] = {}
    for column in frame.columns:
        key = input_name(str(column), names.values())
        names[str(column)] = key
        series = frame[column]
        as_category = (column in categorical or not pd.api.types.is_numeric_dtype(series)
                       or pd.api.types.is_bool_dtype(series))
        try:
            values = column_values(series, as_category)
        except InputError as exc:
            raise DataError(f"{name}: {exc}") from None
        if not as_category and np.isinf(values).any():
            raise DataError(f"{name}: column {column!r} holds infinite values; replace them or drop the column")
        if not as_category and np.isnan(values).all():
            raise DataError(f"{name}: column {column!r} has no values; drop it with dataset.drop")
        inputs[key] = values
    return inputs, names


def input_name(column: str, taken: Any) -> str:
    """A model input name for a column: ASCII letters, digits and _, starting with a letter, unique.

    TensorFlow refuses other characters in layer scopes and SavedModel signatures
    (``é``, spaces, ``$``) and names a signature cannot take as arguments
    (``signature_argument_clash``: ``True``, ``self``), and Keras refuses an input
    named like one of the builders' layers. The
    column's own name stays what clients send; the schema maps one to the other.
    Accents are dropped (``é col`` -> ``e_col``), long names cut short, and names
    that meet after that get ``_2``, ``_3``... (compared ignoring case, so no two
    differ in case alone).
    """
    ascii_text = unicodedata.normalize("NFKD", column).encode("ascii", "ignore").decode()
    base = re.sub(r"[^A-Za-z0-9_]+", "_", ascii_text).strip("_")[:INPUT_NAME_LENGTH].rstrip("_") or "column"
    if not base[0].isalpha():
        base = f"c_{base}"
    if reserved_input_name(base) or signature_argument_clash(base):
        base = f"{base}_input"
    used = {name.lower() for name in taken}
    candidate, n = base, 1
    while candidate.lower() in used or reserved_input_name(candidate):
        n += 1
        candidate = f"{base}_{n}"
    return candidate


def signature_argument_clash(name: str) -> bool:
    """Whether a SavedModel signature cannot take an argument of this name: a Python keyword, or a parameter
    of the TensorFlow methods the signature's arguments are passed to by keyword."""
    return keyword.iskeyword(name) or name in TF_FUNCTION_PARAMETERS


def _listing(names: list[str], limit: int = 12) -> str:
    shown = column_list(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def load_npz(path: Path, x_key: str, y_key: str, task: Task | None) -> Dataset:
    """Features under ``x_key`` (a table of numbers or images) and the target under ``y_key``."""
    # np.load returns a bare array for a .npy file and tries pickle on anything else; neither is an archive.
    if not zipfile.is_zipfile(path):
        raise DataError(f"dataset.path: {path} is not an .npz archive; save the arrays with "
                        f"numpy.savez(path, {x_key}=features, {y_key}=target)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.keys())
            missing = [k for k in (x_key, y_key) if k not in keys]
            if missing:
                field = "x_key" if missing[0] == x_key else "y_key"
                raise DataError(f"dataset.{field}: {path} has no array {missing[0]!r}; it holds "
                                f"{', '.join(keys) or 'nothing'}")
            x, y = archive[x_key], archive[y_key]
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"dataset.path: {path} is not a readable .npz file ({exc})") from None
    except ValueError as exc:  # object arrays need pickle, which is never allowed
        raise DataError(f"dataset.path: {path} holds object arrays ({exc}); save numeric arrays") from None
    return dataset_from_arrays(path.name, x, y, task)


def load_image_folder(path: Path, size: tuple[int, int] | None, color_mode: str, task: Task | None) -> Dataset:
    """One sub-folder per class; every image decoded once, resized to ``size`` (height, width) if given."""
    if not path.is_dir():
        raise DataError(f"dataset.path: {path} is not a folder; an image dataset is a folder with one "
                        "sub-folder per class")
    classes = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise DataError(f"dataset.path: {path} needs one sub-folder of images per class, at least 2; found "
                        f"{len(classes)}{' (' + classes[0].name + ')' if classes else ''}")
    images: list[np.ndarray] = []
    labels: list[str] = []
    files: list[Path] = []
    for folder in classes:
        found = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise DataError(f"dataset.path: class folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        for file in found:
            try:
                image = decode_image(file, color_mode, size)
            except InputError as exc:
                raise DataError(f"dataset.path: {exc}") from None
            if images and image.shape != images[0].shape:
                raise DataError(f"dataset.path: images differ in size ({files[0]} is {images[0].shape[1]}x"
                                f"{images[0].shape[0]}, {file} is {image.shape[1]}x{image.shape[0]}); set "
                                "dataset.image_size: [height, width]")
            images.append(image)
            files.append(file)
            labels.append(folder.name)
    return dataset_from_arrays(path.name, np.stack(images), np.asarray(labels), task)
