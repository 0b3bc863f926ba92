"""Keep the best few trial models on disk, not all of them."""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

from kerashpo.spaces.choices import Direction


class CheckpointStore:
    """``<dir>/trial-NNNNN.keras`` plus a ``.json`` sidecar holding its objective.

    Each trial writes only its own files, so workers sharing the folder do not
    need a common index; a model is saved only if it ranks among the best
    ``keep`` so far, which keeps per-trial disk work small. Rankings count only
    the trials the caller names as complete: a worker killed between saving a
    model and its driver recording the trial leaves files that must neither
    stand for a finished trial nor push a finished one's model out.
    """

    def __init__(self, directory: str | Path, keep: int, direction: Direction):
        self.directory = Path(directory)
        self.keep = keep
        self.direction = direction

    def path(self, trial_number: int) -> Path:
        return self.directory / f"trial-{trial_number:05d}.keras"

    def ranked(self, among: Collection[int] | None = None) -> list[tuple[int, float]]:
        """(trial number, objective) of the stored models, best first; ``among`` limits them to those trials."""
        entries = []
        for sidecar in self.directory.glob("trial-*.json"):
            try:
                meta = json.loads(sidecar.read_text())
            except (OSError, ValueError):
                continue
            if (among is None or meta["trial"] in among) and self.path(meta["trial"]).exists():
                entries.append((int(meta["trial"]), float(meta["value"])))
        return sorted(entries, key=lambda e: (self.direction.best_first(e[1]), e[0]))

    def offer(self, trial_number: int, value: float, model: Any, among: Collection[int]) -> bool:
        """Save the model if it ranks among the best ``keep`` of the complete trials ``among``."""
        if self.keep <= 0:
            return False
        ranked = self.ranked(among)
        if len(ranked) >= self.keep:
            worst = ranked[self.keep - 1][1]
            if not self.direction.better(value, worst):
                return False
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(trial_number)
        partial = target.with_suffix(".partial.keras")
        model.save(partial)
        os.replace(partial, target)
        # The sidecar appears whole or not at all, so another worker's ranking never reads half of it.
        sidecar = target.with_suffix(".json")
        partial_sidecar = sidecar.with_name(sidecar.name + ".partial")
        partial_sidecar.write_text(json.dumps({"trial": trial_number, "value": value}))
        os.replace(partial_sidecar, sidecar)
        return True

    def drop_displaced(self, among: Collection[int]) -> None:
        """Delete the models of complete trials ``among`` that rank below the best ``keep``."""
        for number, _ in self.ranked(among)[self.keep:]:
            self.path(number).with_suffix(".json").unlink(missing_ok=True)
            self.path(number).unlink(missing_ok=True)

    def stored(self, trial_number: int) -> Path | None:
        """The trial's model, if it is kept here (another host's worker keeps its own)."""
        path = self.path(trial_number)
        return path if path.exists() and path.with_suffix(".json").exists() else None
