"""Datasets: loaded once per run, split once (seeded), statistics from the training split only.

Three shapes of features reach the model: an array of numeric columns (the
built-in sets, 2-D NPZ files), images (image folders, 3-D/4-D NPZ files,
``digits_images``), and tables (CSV, Parquet, DataFrames) with one input per
column so that numeric and string columns can be mixed.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerashpo.pipelines.config import PipelineConfig
from kerashpo.pipelines.data import loaders
from kerashpo.pipelines.data.dataset import DataError, Dataset, dataset_from_arrays
from kerashpo.spaces import (
    CategoricalInput,
    DataSpec,
    ImageInput,
    NumericInput,
)
from kerashpo.spaces.choices import Task
from kerashpo.spaces.data_spec import QUANTILE_LEVELS


@dataclass
class Splits:
    x_train: Any
    y_train: np.ndarray
    x_val: Any
    y_val: np.ndarray
    x_test: Any
    y_test: np.ndarray
    # The data and the row numbers of each part: two runs compare fairly only on equal fingerprints.
    fingerprint: str = ""
    # Cross-validation: every fold (same test rows); the train and validation parts above are the first fold's.
    folds: tuple[Splits, ...] = ()

    def sizes(self) -> dict[str, int]:
        sizes = {"train": len(self.y_train), "validation": len(self.y_val), "test": len(self.y_test)}
        return {**sizes, "folds": len(self.folds)} if self.folds else sizes


def take(x: Any, rows: Any) -> Any:
    """Rows of an array or of every column of a table."""
    return {name: column[rows] for name, column in x.items()} if isinstance(x, dict) else x[rows]


def load_dataset(config: PipelineConfig, base_dir: Path | None = None, data: Any = None) -> Dataset:
    """The dataset the config names, or ``data`` given from Python (a DataFrame, or ``(x, y)`` arrays).

    Relative paths are looked up beside the config (``base_dir``).
    """
    spec = config.dataset
    if data is not None:
        if isinstance(data, tuple) and len(data) == 2:
            return dataset_from_arrays(spec.label, *data, task=config.named_task)
        return loaders.dataset_from_frame(spec.label, data, spec.target, spec.drop, spec.categorical,
                                          config.named_task)
    if spec.name:
        return loaders.load_builtin(spec.name, config.named_task)
    if not spec.path:
        raise DataError("dataset: give name (a built-in dataset) or path (a CSV, Parquet or NPZ file, or an "
                        "image folder)")
    path = Path(spec.path).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.exists():
        raise DataError(f"dataset.path: {path} not found")
    return loaders.load_path(path, spec, config.named_task)


def split_rows(dataset: Dataset, validation: float, test: float, seed: int) -> tuple[np.ndarray, ...]:
    """Row numbers of train, validation and test: stratified by class for classification, seeded.

    Rows are the dataset's rows in file order, so a client can pick the test rows
    out of the original file.
    """
    from sklearn.model_selection import train_test_split

    stratify = dataset.y if dataset.task is not Task.REGRESSION else None
    rows = np.arange(len(dataset.y))
    _check_classes(dataset, _rows_needed(validation, test), f"with validation {validation} and test {test}")
    if len(rows) * min(validation, test) < 1 or len(rows) * (1 - validation - test) < 1:
        raise DataError(f"dataset {dataset.name}: {len(rows)} rows are too few to split into train, validation "
                        "and test")
    try:
        rest, test_rows = train_test_split(rows, test_size=test, random_state=seed, stratify=stratify)
        train_rows, val_rows = train_test_split(
            rest, test_size=validation / (1.0 - test), random_state=seed,
            stratify=stratify[rest] if stratify is not None else None,
        )
    except ValueError as exc:  # e.g. a split smaller than the number of classes
        raise DataError(f"dataset {dataset.name}: cannot split {len(rows)} rows ({exc})") from None
    return train_rows, val_rows, test_rows


def _check_classes(dataset: Dataset, needed: int, setting: str) -> None:
    """Every class has the rows stratified splitting needs to put one in each part."""
    if dataset.task is Task.REGRESSION:
        return
    counts = np.bincount(dataset.y)
    smallest = int(np.argmin(np.where(counts > 0, counts, counts.max() + 1)))
    if counts[smallest] < needed:
        label = dataset.class_names[smallest] if dataset.class_names else smallest
        raise DataError(f"dataset {dataset.name}: class {label!r} has {counts[smallest]} sample(s); {setting} "
                        f"each class needs at least {needed}")


def split_folds(dataset: Dataset, folds: int, test: float, seed: int, repeats: int = 1) -> Splits:
    """Test rows held out once (stratified, seeded), the rest in ``folds`` folds, ``repeats`` times reshuffled.

    Folds are stratified by class for classification and the same for every trial
    of a search; the fingerprint covers the test rows and every fold's parts.
    """
    from sklearn.model_selection import RepeatedKFold, RepeatedStratifiedKFold, train_test_split

    classify = dataset.task is not Task.REGRESSION
    rows = np.arange(len(dataset.y))
    _check_classes(dataset, max(3, int(np.ceil(1 / test)), int(np.ceil(folds / (1 - test)))),
                   f"with {folds} folds and test {test}")
    if len(rows) * test < 1 or len(rows) * (1 - test) < 2 * folds:
        raise DataError(f"dataset {dataset.name}: {len(rows)} rows are too few for a test split and {folds} folds")
    try:
        rest, test_rows = train_test_split(rows, test_size=test, random_state=seed,
                                           stratify=dataset.y if classify else None)
        splitter = (RepeatedStratifiedKFold if classify else RepeatedKFold)(
            n_splits=folds, n_repeats=repeats, random_state=seed)
        parts = [(rest[train], rest[val]) for train, val in splitter.split(rest, dataset.y[rest])]
    except ValueError as exc:
        raise DataError(f"dataset {dataset.name}: cannot split {len(rows)} rows into {folds} folds ({exc})") from None
    x, y = dataset.x, dataset.y
    fingerprint = split_fingerprint(dataset.fingerprint(), [test_rows, *(r for part in parts for r in part)])
    x_test, y_test = take(x, test_rows), y[test_rows]
    each = tuple(Splits(take(x, train), y[train], take(x, val), y[val], x_test, y_test, fingerprint)
                 for train, val in parts)
    first = each[0]
    return Splits(first.x_train, first.y_train, first.x_val, first.y_val, x_test, y_test, fingerprint, folds=each)


def split_for(dataset: Dataset, split: Any, seed: int) -> Splits:
    """The splits a config's ``split`` section asks for: one validation split, or folds."""
    if split.cross_validates:
        return split_folds(dataset, split.folds, split.test, seed, split.repeats)
    return split_dataset(dataset, split.validation, split.test, seed)


def split_dataset(dataset: Dataset, validation: float, test: float, seed: int) -> Splits:
    """Train/validation/test, stratified by class for classification, seeded."""
    train, val, test_rows = split_rows(dataset, validation, test, seed)
    x, y = dataset.x, dataset.y
    return Splits(take(x, train), y[train], take(x, val), y[val], take(x, test_rows), y[test_rows],
                  fingerprint=split_fingerprint(dataset.fingerprint(), [train, val, test_rows]))


def split_fingerprint(data_fingerprint: str, parts: Sequence[np.ndarray]) -> str:
    """A hash of the data and of the row numbers in each part, in order."""
    digest = hashlib.sha256(data_fingerprint.encode())
    for rows in parts:
        digest.update(b"\x1e" + np.ascontiguousarray(rows, dtype=np.int64).tobytes())
    return digest.hexdigest()[:16]


def _rows_needed(validation: float, test: float) -> int:
    """Samples a class needs so that stratified splitting puts one in each split."""
    smallest_share = min(validation, test, 1.0 - validation - test)
    return max(3, int(np.ceil(1.0 / smallest_share)))


def data_spec(dataset: Dataset, splits: Splits) -> DataSpec:
    """The model's inputs, with normalisation, imputation, vocabularies and target scaling fitted on train alone."""
    target_mean, target_std = 0.0, 1.0
    if dataset.task is Task.REGRESSION:
        target_mean = float(np.mean(splits.y_train))
        target_std = float(np.std(splits.y_train)) or 1.0
    x = splits.x_train
    if dataset.kind == "image":
        # Full intensity as the training images show it: 255 for most files, 16 for digits.
        scale = float(np.max(x)) or 1.0
        inputs: tuple[Any, ...] = (ImageInput("image", tuple(x.shape[1:]), scale),)
    elif dataset.kind == "table":
        inputs = tuple(CategoricalInput(name, vocabulary(column)) if column.dtype == object
                       else _numeric_input(name, column) for name, column in x.items())
    else:
        inputs = (_numeric_input("features", x),)
    return DataSpec(inputs=inputs, task=dataset.task, n_classes=dataset.n_classes,
                    target_mean=target_mean, target_std=target_std, named_inputs=dataset.kind == "table")


def _numeric_input(name: str, x: np.ndarray) -> NumericInput:
    """Mean and variance of the values present in train.

    A column constant (or missing) in train gets variance 1: Keras divides by
    max(std, 1e-7), so a value unseen in train would otherwise reach the
    network multiplied by 10^7 (digits has such border pixels).
    """
    present = np.isfinite(x)
    count = present.sum(axis=0)
    values = np.where(present, x, 0.0)
    mean = values.sum(axis=0) / np.maximum(count, 1)
    variance = (np.where(present, x - mean, 0.0) ** 2).sum(axis=0) / np.maximum(count, 1)
    variance = np.where(variance > 0, variance, 1.0)
    flat = np.asarray(x, dtype="float64").reshape(len(x), -1)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column missing in every training row
        quantiles = np.nanquantile(np.where(np.isfinite(flat), flat, np.nan), QUANTILE_LEVELS, axis=0)
    quantiles = np.where(np.isfinite(quantiles), quantiles, np.ravel(mean)[None, :])
    return NumericInput(name, mean.astype("float32"), variance.astype("float32"), quantiles.astype("float32"))


def vocabulary(column: np.ndarray) -> tuple[str, ...]:
    """The categories of a string column, most frequent first (ties by value)."""
    values, counts = np.unique(column.astype(str).ravel(), return_counts=True)
    order = sorted(range(len(values)), key=lambda i: (-counts[i], values[i]))
    return tuple(str(values[i]) for i in order)


def concat_rows(a: Any, b: Any) -> Any:
    """Rows of ``a`` then ``b``: arrays, or tables column by column."""
    if isinstance(a, dict):
        return {name: np.concatenate([a[name], b[name]]) for name in a}
    return np.concatenate([a, b])


def train_and_validation(splits: Splits) -> Splits:
    """Train and validation as one training split (for a refit); the test split is unchanged."""
    x, y = concat_rows(splits.x_train, splits.x_val), np.concatenate([splits.y_train, splits.y_val])
    return Splits(x, y, take(splits.x_val, slice(0, 0)), splits.y_val[:0], splits.x_test, splits.y_test,
                  fingerprint=splits.fingerprint)


def model_schema(dataset: Dataset, spec: DataSpec, source: Any) -> dict[str, Any]:
    """What a client sends and gets back: the model's inputs by source column, the task, the class names.

    ``source`` is the config's dataset section (colour mode, resizing, the
    target and dropped columns that a client's file may still hold).
    """
    inputs: list[dict[str, Any]]
    ignored: list[str] = []
    if dataset.kind == "table":
        kinds = {item.name: "categorical" if isinstance(item, CategoricalInput) else "numeric" for item in spec.inputs}
        types = dataset.column_types or {}
        inputs = [{"name": name, "column": column, "kind": kinds[name], "dtype": types.get(column, "string")}
                  for column, name in (dataset.columns or {}).items()]
        ignored = [c for c in (source.target, *source.drop) if c]
    elif dataset.kind == "image" and spec.image is not None:
        from_folder = source.format == "images"
        inputs = [{"name": "image", "kind": "image", "shape": list(spec.image.shape),
                   "color_mode": source.color_mode if from_folder else None,
                   "resize": bool(from_folder and source.image_size)}]
    else:
        inputs = [{"name": "features", "kind": "numeric", "columns": list(dataset.feature_names),
                   "shape": [len(dataset.feature_names)]}]
    return {"kind": dataset.kind, "task": dataset.task, "class_names": dataset.class_names, "target": source.target,
            "ignored_columns": ignored, "inputs": inputs}
