"""An ensemble of the best trials: those the validation rows cannot tell from the best, averaged.

The search keeps the best trials' models (``CheckpointStore``). A kept model joins
the ensemble when its mean loss per validation row exceeds the best model's by at
most ``TIE_STANDARD_ERRORS`` standard errors of the paired per-row difference: on
the rows the search had, it is as good as the best. The members are averaged with
equal weights. Picking one winner out of many on a small validation split is
partly the luck of that split (the winner's curse), and so is fitting weights
to it, as greedy ensemble selection (Caruana et al., 2004) does: it fits the rows
it is judged on, and on test does worse than the plain average of the tied
trials (``benchmarks/ensemble_rules.py``). On a large validation split the
standard errors are small and clearly worse trials stay out.
The linear model fitted exactly (``search.linear``) is a candidate too. No search
chose it, so its validation score is honest where the best trial's is the best of
many draws on the same rows: it is judged against the best with the margin that
the best of that many trials reaches by chance (``linear_margin``), and it is the
reference the trials are judged against when it is the best itself.
The shipped model is one Keras model with the members' raw inputs that adds
their outputs scaled by their weights: built-in layers only, so it loads in safe
mode, exports as a SavedModel and serves like a single champion.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kerashpo.spaces.choices import Direction, Task
from kerashpo.spaces.tasks import DEFAULT_OBJECTIVE

# About a 95% one-sided margin for one comparison; with 5 candidates it admits a trial whose loss is truly a
# little worse, which averaging tolerates better than it tolerates a lucky winner.
TIE_STANDARD_ERRORS = 2.0
_EPS = 1e-7

Score = Callable[[np.ndarray, np.ndarray], float]
RowLoss = Callable[[np.ndarray, np.ndarray], np.ndarray]


LINEAR = "linear"  # the linear model's name among the members (trials are "trial <number>")
ENSEMBLE_TAG = "shipped_ensemble"  # the parent run's tag holding the shipped ensemble (``Ensemble.to_json``)


@dataclass
class Ensemble:
    weights: dict[str, float]  # member ("trial <number>" or LINEAR) -> weight (equal, summing to 1), best first
    objective: str  # what the tie was judged on: the search's objective, or the task's default
    value: float  # the ensemble's validation objective
    single_value: float  # the best kept trial's, on the same predictions
    linear: str = ""  # the linear model's estimator, where it is a member
    validation: dict[str, float] = field(default_factory=dict)  # every score its predictions give (validation_scores)

    @property
    def kind(self) -> str:
        """What shipped, in a word or three: the linear model's estimator, or an average of several models."""
        return self.linear if list(self.weights) == [LINEAR] else f"ensemble of {len(self.weights)}"

    @property
    def _linear_model(self) -> str:
        return f"the {self.linear} fitted on the training split"

    def describe(self) -> str:
        if list(self.weights) == [LINEAR]:
            return f"{self._linear_model} (no trial is tied with it on validation {self.objective})"
        members = ", ".join(f"{member} x{weight:.2f}" for member, weight in self.weights.items())
        what = f"the models tied with the best on validation {self.objective}; {LINEAR}: {self._linear_model}" \
            if self.linear else f"the trials tied with the best on validation {self.objective}"
        return f"{self.kind} ({members}), {what}"

    def summary(self) -> str:
        """What shipped and its validation score beside the best single trial's: the line ``kerashpo run`` prints,
        and the report and the model card show."""
        return f"{self.describe()} ({self.objective} {self.value:.4f}; the best single trial {self.single_value:.4f})"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Ensemble:
        return cls(**json.loads(text))


def prediction_score(task: Task, objective: str) -> tuple[str, Score, Direction]:
    """The objective computed from (targets, predictions); an objective that needs more than predictions
    (a user's own metric, ``val_loss`` with its penalty) falls back to the task's default."""
    base = objective.removeprefix("val_")
    scores = _scores(task)
    if base not in scores:
        objective = DEFAULT_OBJECTIVE[task]
        base = objective.removeprefix("val_")
    score, direction = scores[base]
    return objective, score, direction


def validation_scores(task: Task, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Every score predictions give, named as the trials and the baseline report them on validation
    (``val_log_loss``, ``val_accuracy``...); AUC only where both classes are present."""
    return {f"val_{name}": score(y, p) for name, (score, _) in _scores(task).items()
            if name != "auc" or len(np.unique(y)) == 2}


def _scores(task: Task) -> dict[str, tuple[Score, Direction]]:
    if task is Task.REGRESSION:
        return {"rmse": (lambda y, p: float(np.sqrt(np.mean(_squared_error(y, p)))), Direction.MINIMIZE),
                "mae": (lambda y, p: float(np.mean(_absolute_error(y, p))), Direction.MINIMIZE)}
    return {"log_loss": (lambda y, p: float(np.mean(_row_log_loss(y, p))), Direction.MINIMIZE),
            "accuracy": (lambda y, p: 1.0 - float(np.mean(_misclassified(y, p))), Direction.MAXIMIZE),
            "auc": (_auc, Direction.MAXIMIZE)}


def row_loss(task: Task, objective: str) -> RowLoss:
    """Each row's loss (lower is better) whose mean or root mean square is ``objective``: log-loss, which also
    stands in for AUC (not a sum over rows), misclassification, squared or absolute error."""
    scored, _, _ = prediction_score(task, objective)
    losses: dict[str, RowLoss] = {"log_loss": _row_log_loss, "auc": _row_log_loss, "accuracy": _misclassified} \
        if task is not Task.REGRESSION else {"rmse": _squared_error, "mae": _absolute_error}
    return losses[scored.removeprefix("val_")]


def _probabilities(p: np.ndarray) -> np.ndarray:
    """Class probabilities (rows, classes) from a sigmoid column or a softmax."""
    p = np.clip(np.asarray(p, dtype="float64"), _EPS, 1 - _EPS)
    return np.concatenate([1 - p, p], axis=1) if p.shape[1] == 1 else p / p.sum(axis=1, keepdims=True)


def _row_log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return -np.log(_probabilities(p)[np.arange(len(y)), y.astype(int).reshape(-1)])


def _misclassified(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return (_probabilities(p).argmax(axis=1) != y.astype(int).reshape(-1)).astype("float64")


def _squared_error(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return (p.reshape(-1) - y.reshape(-1)) ** 2


def _absolute_error(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.abs(p.reshape(-1) - y.reshape(-1))


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y.reshape(-1), _probabilities(p)[:, 1]))


def tied_with_best(predictions: Sequence[np.ndarray], y: np.ndarray, loss: RowLoss,
                   margins: Sequence[float] | None = None) -> list[int]:
    """The models (indices, the best first) whose mean per-row loss exceeds the lowest one's by at most their
    margin (``TIE_STANDARD_ERRORS`` unless ``margins`` gives each its own) in standard errors of the paired
    per-row difference."""
    losses = [loss(y, p) for p in predictions]
    first = int(np.argmin([float(np.mean(row)) for row in losses]))
    tied = [first]
    for index, row in enumerate(losses):
        if index == first:
            continue
        difference = row - losses[first]
        spread = float(np.std(difference, ddof=1) / np.sqrt(len(difference))) if len(difference) > 1 else 0.0
        margin = TIE_STANDARD_ERRORS if margins is None else margins[index]
        if float(np.mean(difference)) <= margin * spread:
            tied.append(index)
    return tied


def linear_margin(searched: int) -> float:
    """The linear model's tie margin in standard errors, against the best of ``searched`` trials.

    On the rows that ranked them, the best of n equally good trials beats an unsearched model by up to the
    one-sided 5% Bonferroni bound over n comparisons by chance alone (2.9 standard errors for 25 trials,
    3.3 for 100); never tighter than the trials' own margin.
    """
    from statistics import NormalDist

    return max(TIE_STANDARD_ERRORS, NormalDist().inv_cdf(1 - 0.05 / max(searched, 1)))


def averaging_model(members: Sequence[Any], weights: Sequence[float], names: Sequence[str]) -> Any:
    """One model taking the members' raw inputs and returning the weighted sum of their outputs."""
    import keras

    template = members[0].input

    def fresh(tensor: Any) -> Any:
        return keras.Input(shape=tensor.shape[1:], dtype=tensor.dtype, name=tensor.name)

    inputs = {name: fresh(t) for name, t in template.items()} if isinstance(template, dict) else fresh(template)
    scaled = []
    for member, weight, name in zip(members, weights, names):
        # Renamed so that members built by the same builder (same layer names) nest side by side.
        nested = keras.Model(member.input, member.output, name=name)
        scaled.append(keras.layers.Rescaling(float(weight), name=f"{name}_weight", dtype="float32")(nested(inputs)))
    output = keras.layers.Add(name="ensemble", dtype="float32")(scaled) if len(scaled) > 1 else scaled[0]
    ensemble = keras.Model(inputs, output, name="ensemble")
    # A finished composition, not something to train on: frozen, its saved file holds no optimizer state, and
    # loading it (kerashpo predict, MLflow) warns of none.
    ensemble.trainable = False
    return ensemble


def select_ensemble(kept: Sequence[tuple[int, Any]], x_val: Any, y_val: np.ndarray, task: Task, objective: str,
                    linear: tuple[str, Any] | None = None, searched: int = 0) -> tuple[Ensemble, Any]:
    """The kept models ((trial number, model), best first) and the linear model ((estimator name, model), if
    any; ``searched`` trials were ranked) tied with the best on validation, averaged; the ensemble and its
    model (the one member itself when no other is tied with it)."""
    from kerashpo.search.models import model_inputs

    scored, score, _ = prediction_score(task, objective)
    inputs = model_inputs(x_val)
    names = [f"trial {number}" for number, _ in kept]
    models = [model for _, model in kept]
    margins = [TIE_STANDARD_ERRORS] * len(kept)
    if linear is not None:
        names.append(LINEAR)
        models.append(linear[1])
        margins.append(linear_margin(searched))
    predictions = [np.asarray(model.predict(inputs, verbose=0), dtype="float64") for model in models]
    loss = row_loss(task, scored)
    members = tied_with_best(predictions, y_val, loss, margins)
    weights = {names[i]: 1 / len(members) for i in members}
    averaged = np.mean([predictions[i] for i in members], axis=0)
    best_trial = min(range(len(kept)), key=lambda i: float(np.mean(loss(y_val, predictions[i]))))
    ensemble = Ensemble(weights, scored, score(y_val, averaged), single_value=score(y_val, predictions[best_trial]),
                        linear=linear[0] if linear is not None and LINEAR in weights else "",
                        validation=validation_scores(task, y_val, averaged))
    if len(members) == 1:
        return ensemble, models[members[0]]
    model = averaging_model([models[i] for i in members], list(weights.values()),
                            [names[i].replace(" ", "_") for i in members])
    return ensemble, model
