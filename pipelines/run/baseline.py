"""The simple model every search is judged against: scikit-learn's linear model on the same splits.

Logistic regression for classes, ``RidgeCV`` for regression, on the same
preprocessing the networks get (missing numbers filled with the training mean,
standardised; categories one-hot with unknown ones ignored; pixels flattened
and scaled), fitted on the training split alone. Its scores use the metric
names the trials report (``val_log_loss``, ``val_accuracy``, ``val_rmse``...),
so the leaderboard and the summary compare like with like.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kerashpo.pipelines.data.dataset import Dataset
from kerashpo.pipelines.data.splits import Splits, train_and_validation
from kerashpo.search.selection.linear import linear_estimator
from kerashpo.spaces.choices import Task


@dataclass
class Baseline:
    """A fitted linear model and its scores; ``test`` stays empty until the one final evaluation."""

    name: str
    model: Any
    task: Task
    validation: dict[str, float]
    test: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def score(self, x: Any, y: np.ndarray, prefix: str) -> dict[str, float]:
        return _scores(self.model, _frame(x), y, self.task, prefix)

    def evaluate_test(self, x_test: Any, y_test: np.ndarray) -> dict[str, float]:
        """Read with the champion's final evaluation, once."""
        self.test = self.score(x_test, y_test, "test_")
        return self.test


def fit_baseline(dataset: Dataset, splits: Splits, seed: int) -> Baseline:
    """The linear reference, fitted on train and scored on validation.

    With folds it is scored as the trials are, by the mean over the folds of a model
    fitted on each fold's training part; the model kept for the test is fitted, as
    the champion is refit, on every non-test row.
    """
    import time

    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    # One BLAS thread: on these small matrices OpenBLAS's threads, beside TensorFlow's, cost more than they save.
    with threadpool_limits(limits=1, user_api="blas"):
        if not splits.folds:
            baseline = _fitted(dataset, splits.x_train, splits.y_train, seed)
            baseline.validation = baseline.score(splits.x_val, splits.y_val, "val_")
        else:
            scores = []
            for fold in splits.folds:
                scores.append(_fitted(dataset, fold.x_train, fold.y_train, seed).score(fold.x_val, fold.y_val, "val_"))
            every = train_and_validation(splits)
            baseline = _fitted(dataset, every.x_train, every.y_train, seed)
            baseline.validation = {name: float(np.mean([s[name] for s in scores])) for name in scores[0]}
    baseline.seconds = time.perf_counter() - started
    return baseline


def _fitted(dataset: Dataset, x: Any, y: np.ndarray, seed: int) -> Baseline:
    from sklearn.pipeline import make_pipeline

    x_train = _frame(x)
    estimator, name = linear_estimator(dataset.task, seed)
    model = make_pipeline(_preprocessing(x_train), estimator)
    model.fit(x_train, y)
    return Baseline(name, model, dataset.task, {})


def _frame(x: Any) -> Any:
    """Tables as a DataFrame of their columns; arrays and images as a 2-D float matrix."""
    import pandas as pd

    if isinstance(x, dict):
        return pd.DataFrame({name: np.asarray(column).reshape(len(column), -1)[:, 0] for name, column in x.items()})
    x = np.asarray(x)
    return x.reshape(len(x), -1).astype("float64")


def _preprocessing(x_train: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = make_pipeline(SimpleImputer(strategy="mean", keep_empty_features=True), StandardScaler())
    if not hasattr(x_train, "columns"):
        return numeric
    from pandas.api.types import is_numeric_dtype

    text = [c for c in x_train.columns if not is_numeric_dtype(x_train[c])]
    numbers = [c for c in x_train.columns if c not in text]
    categories = make_pipeline(SimpleImputer(strategy="constant", fill_value="<missing>"),
                               OneHotEncoder(handle_unknown="ignore"))
    return ColumnTransformer([("numeric", numeric, numbers), ("categorical", categories, text)])


def _scores(model: Any, x: Any, y: np.ndarray, task: Task, prefix: str) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, log_loss, mean_absolute_error, roc_auc_score

    if task is Task.REGRESSION:
        predicted = model.predict(x)
        return {f"{prefix}rmse": float(np.sqrt(np.mean((predicted - y) ** 2))),
                f"{prefix}mae": float(mean_absolute_error(y, predicted))}
    probabilities = model.predict_proba(x)
    classes = model.classes_
    scores = {f"{prefix}log_loss": float(log_loss(y, probabilities, labels=classes)),
              f"{prefix}accuracy": float(accuracy_score(y, classes[np.argmax(probabilities, axis=1)]))}
    if task is Task.BINARY and len(np.unique(y)) == 2:
        scores[f"{prefix}auc"] = float(roc_auc_score(y, probabilities[:, 1]))
    return scores
