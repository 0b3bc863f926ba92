"""A loaded dataset and the checks every loader applies to its target (a leaf: loaders and splitting both use it)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from kerashpo.spaces import UserError
from kerashpo.spaces.choices import Task


class DataError(UserError):
    """Data that cannot be tuned on as given."""


@dataclass
class Dataset:
    name: str
    x: Any  # an array (rows, columns) or (rows, height, width, channels), or a dict of (rows, 1) columns
    y: np.ndarray
    task: Task
    n_classes: int | None
    feature_names: list[str]
    class_names: list[str] | None = None
    # Tables: the model's input name for each source column, and the column's type as a client sends it
    # (MLflow's names: long, double, boolean, string).
    columns: dict[str, str] | None = None
    column_types: dict[str, str] | None = None

    @property
    def kind(self) -> str:
        if isinstance(self.x, dict):
            return "table"
        return "image" if self.x.ndim == 4 else "array"

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for column in (self.x.values() if isinstance(self.x, dict) else [self.x]):
            data = "\x1f".join(map(str, column.ravel())).encode() if column.dtype == object else column
            digest.update(np.ascontiguousarray(data).tobytes() if not isinstance(data, bytes) else data)
        digest.update(np.ascontiguousarray(self.y).tobytes())
        return digest.hexdigest()[:16]


def dataset_from_arrays(name: str, x: Any, y: Any, task: Task | None = None, class_names: list[str] | None = None,
                        feature_names: list[str] | None = None) -> Dataset:
    """Numeric features (rows, columns), or images (rows, height, width[, channels]), and a target."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim not in (2, 4):
        raise DataError(f"dataset {name}: features have shape {x.shape}; give (rows, columns) for tables or "
                        "(rows, height, width[, channels]) for images")
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"dataset {name}: features hold {x.dtype} values; give numbers")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"dataset {name}: the target has shape {y.shape}; give one label or value per row "
                        "(for one-hot labels, y.argmax(axis=1))")
    if len(x) != len(y):
        raise DataError(f"dataset {name}: {len(x)} rows of features but {len(y)} targets")
    if x.dtype != np.uint8:
        x = x.astype("float32")
    features = feature_names or ([f"x{i}" for i in range(x.shape[1])] if x.ndim == 2 else ["image"])
    return with_target(name, x, y, task, features, class_names=class_names)


def with_target(name: str, x: Any, y: np.ndarray, task: Task | None, feature_names: list[str],
                columns: dict[str, str] | None = None, class_names: list[str] | None = None,
                target: str = "the target") -> Dataset:
    """Check the target, infer the task (``task`` None), and encode classes as 0..k-1 (names kept, sorted)."""
    import pandas as pd

    if len(y) == 0:
        raise DataError(f"dataset {name}: has no rows")
    missing = int(pd.isna(y).sum())
    if missing:
        raise DataError(f"dataset {name}: {target} is missing in {missing} row(s); drop or fill those rows")
    numeric = np.issubdtype(y.dtype, np.number) or np.issubdtype(y.dtype, np.bool_)
    if numeric and not np.all(np.isfinite(y.astype("float64"))):
        raise DataError(f"dataset {name}: {target} holds infinite values; drop or fill those rows")
    if task is None:
        task = infer_task(y) if numeric else Task.BINARY if len(np.unique(y.astype(str))) == 2 else Task.MULTICLASS
    if task is Task.REGRESSION:
        if not numeric:
            example = next((v for v in y if not _is_number(v)), None)
            if example is not None:
                raise DataError(f"dataset {name}: task regression needs a numeric target, but {target} holds "
                                f"{example!r}; fix the column or set task: binary or multiclass")
            y = y.astype("float64")  # numbers written as text, e.g. a column read as categorical
            if not np.all(np.isfinite(y)):
                raise DataError(f"dataset {name}: {target} holds infinite or NaN values written as text; drop or "
                                "fill those rows")
        return Dataset(name, x, y.astype("float32"), task, None, feature_names, None, columns)
    classes, codes = np.unique(y if numeric else y.astype(str), return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"dataset {name}: {target} has a single class ({classes[0].item()!r}); a classifier needs two")
    if task is Task.BINARY and len(classes) != 2:
        raise DataError(f"dataset {name}: task binary needs exactly 2 classes, found {len(classes)}")
    names = class_names if class_names and len(class_names) == len(classes) else [str(c) for c in classes]
    return Dataset(name, x, codes.astype("int64"), task, len(classes), feature_names, names, columns)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def infer_task(y: np.ndarray) -> Task:
    """Integer labels with few distinct values are classes; anything else is regression."""
    values = np.unique(y)
    integral = np.issubdtype(y.dtype, np.integer) or np.all(np.mod(values, 1) == 0)
    if integral and len(values) <= max(20, int(0.05 * len(y))):
        return Task.BINARY if len(values) == 2 else Task.MULTICLASS
    return Task.REGRESSION
