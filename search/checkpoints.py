"""Keep the best few trial models on disk, not all of them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kerashpo.spaces.choices import Direction


class CheckpointStore:
    """``<dir>/trial-NNNNN.keras`` plus a ``.json`` sidecar holding its objective.

    Each trial writes only its own files, so workers sharing the folder do not
    need a common index; a model is saved only if it ranks among the best
    ``keep`` so far, which keeps per-trial disk work small.
    """

    def __init__(self, directory: str | Path, keep: int, direction: str):
        self.directory = Path(directory)
        self.keep = keep
        self.direction = Direction(direction)

    def path(self, trial_number: int) -> Path:
        return self.directory / f"trial-{trial_number:05d}.keras"

    def ranked(self) -> list[tuple[int, float]]:
        """(trial number, objective) of the stored models, best first."""
        entries = []
        for sidecar in self.directory.glob("trial-*.json"):
            try:
                meta = json.loads(sidecar.read_text())
            except (OSError, ValueError):
                continue
            if self.path(meta["trial"]).exists():
                entries.append((int(meta["trial"]), float(meta["value"])))
        return sorted(entries, key=lambda e: (self.direction.best_first(e[1]), e[0]))

    def offer(self, trial_number: int, value: float, model: Any) -> bool:
        """Save the model if it ranks among the best ``keep``; drop the ones it displaces."""
        if self.keep <= 0:
            return False
        ranked = self.ranked()
        if len(ranked) >= self.keep:
            worst = ranked[self.keep - 1][1]
            if not self.direction.better(value, worst):
                return False
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(trial_number)
        partial = target.with_suffix(".partial.keras")
        model.save(partial)
        os.replace(partial, target)
        target.with_suffix(".json").write_text(json.dumps({"trial": trial_number, "value": value}))
        for number, _ in self.ranked()[self.keep:]:
            self.path(number).unlink(missing_ok=True)
            self.path(number).with_suffix(".json").unlink(missing_ok=True)
        return True

    def best(self) -> tuple[int, float, Path] | None:
        ranked = self.ranked()
        if not ranked:
            return None
        number, value = ranked[0]
        return number, value, self.path(number)
