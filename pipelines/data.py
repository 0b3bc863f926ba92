"""Datasets: loaded once per run, split once (seeded), statistics from the training split only."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from spaces import DataSpec, UserError

from pipelines.config import PipelineConfig


class DataError(UserError):
    """Data that cannot be tuned on as given."""


@dataclass
class Dataset:
    name: str
    x: np.ndarray
    y: np.ndarray
    task: str
    n_classes: int | None
    feature_names: list[str]
    class_names: list[str] | None = None

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(self.x).tobytes())
        digest.update(np.ascontiguousarray(self.y).tobytes())
        return digest.hexdigest()[:16]


@dataclass
class Splits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "validation": len(self.y_val), "test": len(self.y_test)}


def _sklearn_loader(name: str) -> Any:
    import sklearn.datasets as datasets

    return getattr(datasets, f"load_{name}")


def load_dataset(config: PipelineConfig) -> Dataset:
    """A built-in scikit-learn dataset (bundled with scikit-learn, no download)."""
    name = config.dataset.name
    bunch = _sklearn_loader(name)()
    x = np.asarray(bunch.data, dtype="float32")
    y = np.asarray(bunch.target)
    task = infer_task(y) if config.task == "auto" else config.task
    check_target(y, task, name)
    n_classes = None
    if task != "regression":
        y = y.astype("int64")
        n_classes = int(y.max()) + 1
    else:
        y = y.astype("float32")
    classes = [str(c) for c in getattr(bunch, "target_names", [])] or None
    features = [str(f) for f in getattr(bunch, "feature_names", [])] or [f"x{i}" for i in range(x.shape[1])]
    return Dataset(name, x, y, task, n_classes, features, classes if task != "regression" else None)


def infer_task(y: np.ndarray) -> str:
    """Integer labels with few distinct values are classes; anything else is regression."""
    values = np.unique(y)
    integral = np.issubdtype(y.dtype, np.integer) or np.all(np.mod(values, 1) == 0)
    if integral and len(values) <= max(20, int(0.05 * len(y))):
        return "binary" if len(values) == 2 else "multiclass"
    return "regression"


def check_target(y: np.ndarray, task: str, name: str) -> None:
    if len(y) == 0:
        raise DataError(f"dataset {name}: has no rows")
    if np.issubdtype(y.dtype, np.number) and not np.all(np.isfinite(y)):
        raise DataError(f"dataset {name}: the target holds NaN or infinite values; drop or fill those rows")
    if task == "binary" and len(np.unique(y)) != 2:
        raise DataError(f"dataset {name}: task binary needs exactly 2 classes, found {len(np.unique(y))}")


def split_dataset(dataset: Dataset, validation: float, test: float, seed: int) -> Splits:
    """Train/validation/test, stratified by class for classification, seeded."""
    from sklearn.model_selection import train_test_split

    stratify = dataset.y if dataset.task != "regression" else None
    if stratify is not None:
        counts = np.bincount(stratify)
        smallest = int(counts[counts > 0].min())
        if smallest < 3:
            raise DataError(f"dataset {dataset.name}: a class has {smallest} sample(s); "
                            "each class needs at least 3 to appear in train, validation and test")
    x_rest, x_test, y_rest, y_test = train_test_split(
        dataset.x, dataset.y, test_size=test, random_state=seed, stratify=stratify
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=validation / (1.0 - test), random_state=seed,
        stratify=y_rest if stratify is not None else None,
    )
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test)


def data_spec(dataset: Dataset, splits: Splits) -> DataSpec:
    """Normalisation (and, for regression, target scaling) fitted on the training split alone."""
    target_mean, target_std = 0.0, 1.0
    if dataset.task == "regression":
        target_mean = float(np.mean(splits.y_train))
        target_std = float(np.std(splits.y_train)) or 1.0
    return DataSpec(
        input_shape=tuple(splits.x_train.shape[1:]),
        task=dataset.task,  # type: ignore[arg-type]
        n_classes=dataset.n_classes,
        feature_mean=splits.x_train.mean(axis=0),
        feature_variance=splits.x_train.var(axis=0),
        target_mean=target_mean,
        target_std=target_std,
    )
