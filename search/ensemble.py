"""An ensemble of the best trials: greedy selection on validation predictions (Caruana et al., 2004).

The search keeps the best trials' models (``CheckpointStore``). Selection starts
empty and, for a fixed number of rounds, adds (with replacement) the kept model
whose addition gives the averaged validation predictions the best objective; the
round with the best value decides the weights (how often each model was added).
It can only match or beat the single best model on validation, and averaging
softens the winner's curse of picking one model on one small validation split.
The shipped model is one Keras model with the members' raw inputs that adds
their outputs scaled by their weights: built-in layers only, so it loads in safe
mode, exports as a SavedModel and serves like a single champion.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kerashpo.spaces.choices import Direction
from kerashpo.spaces.tasks import DEFAULT_OBJECTIVE

# Enough for weights in steps of 1/20, as in Caruana et al.; a round costs one scoring per kept model.
ROUNDS = 20
_EPS = 1e-7

Score = Callable[[np.ndarray, np.ndarray], float]


@dataclass
class Ensemble:
    weights: dict[int, float]  # trial number -> weight (sums to 1), heaviest first
    objective: str  # what the selection scored: the search's objective, or the task's default
    value: float  # the ensemble's validation objective
    single_value: float  # the best single kept model's, on the same predictions

    def describe(self) -> str:
        members = ", ".join(f"trial {number} x{weight:.2f}" for number, weight in self.weights.items())
        return f"ensemble of {len(self.weights)} ({members}), selected on validation {self.objective}"


def prediction_score(task: str, objective: str) -> tuple[str, Score, Direction]:
    """The objective computed from (targets, predictions); an objective that needs more than predictions
    (a user's own metric, ``val_loss`` with its penalty) falls back to the task's default."""
    base = objective.removeprefix("val_")
    scores: dict[str, tuple[Score, Direction]] = {
        "log_loss": (_log_loss, Direction.MINIMIZE),
        "accuracy": (_accuracy, Direction.MAXIMIZE),
        "auc": (_auc, Direction.MAXIMIZE),
    } if task != "regression" else {
        "rmse": (lambda y, p: float(np.sqrt(np.mean((p.reshape(-1) - y.reshape(-1)) ** 2))), Direction.MINIMIZE),
        "mae": (lambda y, p: float(np.mean(np.abs(p.reshape(-1) - y.reshape(-1)))), Direction.MINIMIZE),
    }
    if base not in scores:
        objective = DEFAULT_OBJECTIVE[task]
        base = objective.removeprefix("val_")
    score, direction = scores[base]
    return objective, score, direction


def _probabilities(p: np.ndarray) -> np.ndarray:
    """Class probabilities (rows, classes) from a sigmoid column or a softmax."""
    p = np.clip(np.asarray(p, dtype="float64"), _EPS, 1 - _EPS)
    return np.concatenate([1 - p, p], axis=1) if p.shape[1] == 1 else p / p.sum(axis=1, keepdims=True)


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    probabilities = _probabilities(p)
    return float(-np.mean(np.log(probabilities[np.arange(len(y)), y.astype(int).reshape(-1)])))


def _accuracy(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(_probabilities(p).argmax(axis=1) == y.astype(int).reshape(-1)))


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y.reshape(-1), _probabilities(p)[:, 1]))


def greedy_counts(predictions: Sequence[np.ndarray], y: np.ndarray, score: Score, direction: Direction,
                  rounds: int = ROUNDS) -> tuple[list[int], float]:
    """How often each model is in the best ensemble found, and that ensemble's value (ties: fewer rounds)."""
    counts = [0] * len(predictions)
    total = np.zeros_like(np.asarray(predictions[0], dtype="float64"))
    best_counts, best_value = list(counts), None
    for step in range(1, rounds + 1):
        values = [score(y, (total + p) / step) for p in predictions]
        chosen = min(range(len(values)), key=lambda i: (direction.best_first(values[i]), i))
        counts[chosen] += 1
        total = total + predictions[chosen]
        if best_value is None or direction.better(values[chosen], best_value):
            best_counts, best_value = list(counts), values[chosen]
    assert best_value is not None
    return best_counts, best_value


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


def select_ensemble(kept: Sequence[tuple[int, Any]], x_val: Any, y_val: np.ndarray, task: str,
                    objective: str) -> tuple[Ensemble, Any]:
    """Greedy selection over ``kept`` ((trial number, model), best first); the ensemble and its model (the
    single best model itself when selection keeps it alone)."""
    from kerashpo.search.models import model_inputs

    scored, score, direction = prediction_score(task, objective)
    inputs = model_inputs(x_val)
    predictions = [np.asarray(model.predict(inputs, verbose=0), dtype="float64") for _, model in kept]
    counts, value = greedy_counts(predictions, y_val, score, direction)
    chosen = sorted((i for i, c in enumerate(counts) if c), key=lambda i: (-counts[i], i))
    weights = {kept[i][0]: counts[i] / sum(counts) for i in chosen}
    ensemble = Ensemble(weights, scored, value, single_value=min(
        (score(y_val, p) for p in predictions), key=direction.best_first))
    if len(chosen) == 1:
        return ensemble, kept[chosen[0]][1]
    model = averaging_model([kept[i][1] for i in chosen], list(weights.values()),
                            [f"trial_{kept[i][0]}" for i in chosen])
    return ensemble, model
