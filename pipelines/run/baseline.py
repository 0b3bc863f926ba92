"""The reference models every search is judged against, fitted by scikit-learn on the same splits.

The linear model (every run): logistic regression for classes, ``RidgeCV`` for
regression, on the same preprocessing the networks get (missing numbers filled
with the training mean, standardised; categories one-hot with unknown ones
ignored; pixels flattened and scaled). Gradient boosting (runs on tables):
``HistGradientBoosting`` with its defaults, on the raw numbers (it takes missing
values) and text columns as categories, the answer a user would otherwise pick.
Both are fitted on the training split alone. Their scores use the metric names
the trials report (``val_log_loss``, ``val_accuracy``, ``val_rmse``...), so the
leaderboard and the summary compare like with like.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kerashpo.pipelines.data.dataset import Dataset
from kerashpo.pipelines.data.splits import Splits, train_and_validation
from kerashpo.search.selection.linear import linear_estimator
from kerashpo.spaces.choices import Reference, Task

# HistGradientBoosting's bins: a categorical column has at most this many values.
MAX_CATEGORIES = 255


@dataclass
class Baseline:
    """A fitted reference model and its scores; ``test`` stays empty until the one final evaluation."""

    name: str
    model: Any
    task: Task
    validation: dict[str, float]
    test: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    reference: Reference = Reference.LINEAR

    def score(self, x: Any, y: np.ndarray, prefix: str) -> dict[str, float]:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):  # as when it was fitted
            return _scores(self.model, _frame(x), y, self.task, prefix)

    def predict(self, x: Any) -> np.ndarray:
        """Probabilities of each class (rows, classes), or the predicted values."""
        from threadpoolctl import threadpool_limits

        frame = _frame(x)
        with threadpool_limits(limits=1):
            return self.model.predict(frame) if self.task is Task.REGRESSION else self.model.predict_proba(frame)

    def evaluate_test(self, x_test: Any, y_test: np.ndarray) -> dict[str, float]:
        """Read with the champion's final evaluation, once."""
        self.test = self.score(x_test, y_test, "test_")
        return self.test


def references_for(dataset: Dataset, chosen: bool | list[Reference] = True) -> tuple[Reference, ...]:
    """The references a run on ``dataset`` fits (the config's ``baseline``): by default gradient boosting beside
    the linear model on tables; gradient boosting never on images."""
    wanted = list(Reference) if chosen is True else [] if chosen is False else list(chosen)
    return tuple(r for r in Reference if r in wanted
                 and not (r is Reference.GRADIENT_BOOSTING and dataset.kind == "image"))


def fit_baseline(dataset: Dataset, splits: Splits, seed: int, reference: Reference = Reference.LINEAR) -> Baseline:
    """The ``reference`` model, fitted on train and scored on validation.

    With folds it is scored as the trials are, by the mean over the folds of a model
    fitted on each fold's training part; the model kept for the test is fitted, as
    the champion is refit, on every non-test row.
    """
    import time

    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    # One BLAS and one OpenMP thread: on these small tables their threads, beside TensorFlow's, cost more than they
    # save, and gradient boosting's OpenMP threads, where processes share the cores, wait on each other for seconds.
    with threadpool_limits(limits=1):
        if not splits.folds:
            baseline = _fitted(dataset, splits.x_train, splits.y_train, seed, reference)
            baseline.validation = baseline.score(splits.x_val, splits.y_val, "val_")
        else:
            scores = []
            for fold in splits.folds:
                fitted = _fitted(dataset, fold.x_train, fold.y_train, seed, reference)
                scores.append(fitted.score(fold.x_val, fold.y_val, "val_"))
            every = train_and_validation(splits)
            baseline = _fitted(dataset, every.x_train, every.y_train, seed, reference)
            baseline.validation = {name: float(np.mean([s[name] for s in scores])) for name in scores[0]}
    baseline.seconds = time.perf_counter() - started
    return baseline


def _fitted(dataset: Dataset, x: Any, y: np.ndarray, seed: int, reference: Reference) -> Baseline:
    from sklearn.pipeline import make_pipeline

    x_train = _frame(x)
    if reference is Reference.GRADIENT_BOOSTING:
        estimator, name = _gradient_boosting(dataset.task, seed)
        codes, categorical = _category_codes(x_train)
        model = make_pipeline(codes, estimator.set_params(categorical_features=categorical or None))
    else:
        estimator, name = linear_estimator(dataset.task, seed)
        model = make_pipeline(_preprocessing(x_train), estimator)
    model.fit(x_train, y)
    return Baseline(name, model, dataset.task, {}, reference=reference)


def _gradient_boosting(task: Task, seed: int) -> tuple[Any, str]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    if task is Task.REGRESSION:
        return HistGradientBoostingRegressor(random_state=seed), "HistGradientBoostingRegressor"
    return HistGradientBoostingClassifier(random_state=seed), "HistGradientBoostingClassifier"


def _category_codes(x_train: Any) -> tuple[Any, list[str]]:
    """Numbers as they are (gradient boosting takes missing values); text columns as codes, a value unseen in
    training as missing. Also the text columns gradient boosting can split as categories (at most
    ``MAX_CATEGORIES`` values); codes of wider ones are split as numbers."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OrdinalEncoder

    if not hasattr(x_train, "columns"):
        return "passthrough", []
    from pandas.api.types import is_numeric_dtype

    text = [c for c in x_train.columns if not is_numeric_dtype(x_train[c])]
    codes = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan)
    transformer = ColumnTransformer([("text", codes, text)], remainder="passthrough",
                                    verbose_feature_names_out=False).set_output(transform="pandas")
    return transformer, [c for c in text if x_train[c].nunique() <= MAX_CATEGORIES]


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


# Resamples of the validation rows behind a paired difference's standard error.
BOOTSTRAP = 200


def paired_difference(task: Task, objective: str, y: np.ndarray, shipped: np.ndarray,
                      reference: np.ndarray) -> tuple[float, float] | None:
    """``objective`` of the reference's predictions minus the shipped model's on the same rows, and its standard
    error over bootstrap resamples of the rows; None for an objective it cannot recompute from predictions.

    Predictions are a model's outputs: a probability per class, or a binary head's one probability, or values.
    """
    from sklearn.metrics import roc_auc_score

    metric = objective.removeprefix("val_")
    y = np.asarray(y).reshape(-1)
    rows = np.random.default_rng(0).integers(0, len(y), size=(BOOTSTRAP, len(y)))
    if task is Task.REGRESSION:
        if metric not in ("rmse", "mae"):
            return None
        errors = [np.asarray(p, dtype="float64").reshape(len(y), -1)[:, 0] - y for p in (reference, shipped)]
        if metric == "mae":
            ref_loss, ship_loss = (np.abs(e) for e in errors)
            samples = ref_loss[rows].mean(axis=1) - ship_loss[rows].mean(axis=1)
            return float(ref_loss.mean() - ship_loss.mean()), float(samples.std())
        ref_sq, ship_sq = (e ** 2 for e in errors)
        samples = np.sqrt(ref_sq[rows].mean(axis=1)) - np.sqrt(ship_sq[rows].mean(axis=1))
        return float(np.sqrt(ref_sq.mean()) - np.sqrt(ship_sq.mean())), float(samples.std())
    ref_p, ship_p = (_class_probabilities(p, len(y)) for p in (reference, shipped))
    labels = y.astype(int)
    if metric in ("log_loss", "accuracy"):
        def per_row(p: np.ndarray) -> np.ndarray:
            if metric == "accuracy":
                return (p.argmax(axis=1) == labels).astype("float64")
            return -np.log(np.clip(p[np.arange(len(labels)), labels], 1e-15, 1.0))

        ref_row, ship_row = per_row(ref_p), per_row(ship_p)
        samples = ref_row[rows].mean(axis=1) - ship_row[rows].mean(axis=1)
        return float(ref_row.mean() - ship_row.mean()), float(samples.std())
    if metric == "auc" and task is Task.BINARY and len(np.unique(labels)) == 2:
        def auc(p: np.ndarray, take: np.ndarray) -> float:
            return float(roc_auc_score(labels[take], p[take, 1])) if len(np.unique(labels[take])) == 2 else np.nan

        every = np.arange(len(labels))
        samples = np.array([auc(ref_p, r) - auc(ship_p, r) for r in rows])
        return auc(ref_p, every) - auc(ship_p, every), float(np.nanstd(samples))
    return None


def _class_probabilities(outputs: np.ndarray, n: int) -> np.ndarray:
    """A probability per class from a model's outputs (a binary head's single column becomes two)."""
    p = np.asarray(outputs, dtype="float64").reshape(n, -1)
    return np.column_stack([1.0 - p[:, 0], p[:, 0]]) if p.shape[1] == 1 else p
