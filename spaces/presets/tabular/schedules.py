"""A dropout schedule for ``fit``: Keras holds a dropout rate fixed inside the compiled training step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras


class DropoutScheduler(keras.callbacks.Callback):
    """At each epoch's start, every ``Dropout`` layer's rate is its first rate times ``factor(epoch)``.

    The rate is a constant of the compiled training step, so a change recompiles it; ``dropout_factor`` moves
    in a few steps for that reason. The first rates come back when training ends.
    """

    def __init__(self, factor: Callable[[int], float]):
        super().__init__()
        self.factor = factor
        self._first: dict[int, float] = {}
        self._current = 1.0

    def _dropouts(self) -> list[Any]:
        return [layer for layer in self.model._flatten_layers() if isinstance(layer, keras.layers.Dropout)]

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._first = {id(layer): float(layer.rate) for layer in self._dropouts()}
        self._current = 1.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        factor = float(self.factor(epoch))
        if factor == self._current:
            return
        self._current = factor
        self._set(factor)
        self.model.make_train_function(force=True)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._set(1.0)

    def _set(self, factor: float) -> None:
        for layer in self._dropouts():
            layer.rate = self._first.get(id(layer), float(layer.rate)) * factor
