"""How a space is searched: drivers, the shared trial runner, tracking and the leaderboard.

Names are re-exported lazily so that importing ``search`` (for the CLI's help)
does not import TensorFlow, Optuna or MLflow.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "OptunaDriver": "search.optuna_driver",
    "SAMPLERS": "search.optuna_driver",
    "PRUNERS": "search.optuna_driver",
    "run_trial": "search.runner",
    "SpaceSource": "search.sources",
    "HyperModelSource": "search.sources",
    "FixedSampling": "search.sources",
    "OptunaSampling": "search.sources",
    "KerasTunerSampling": "search.sources",
    "import_hypermodel": "search.sources",
    "TrialData": "search.runner",
    "TrainingSetup": "search.runner",
    "TrialResult": "search.results",
    "COMPLETE": "search.results",
    "PRUNED": "search.results",
    "FAILED": "search.results",
    "SearchJob": "search.trials",
    "SearchOutcome": "search.trials",
    "TrialEvent": "search.trials",
    "TrialExecutor": "search.trials",
    "CheckpointStore": "search.checkpoints",
    "Tracker": "search.tracking",
    "MLflowTracker": "search.tracking",
    "SearchInfo": "search.tracking",
    "redact_url": "search.tracking",
    "leaderboard": "search.ranking",
    "format_leaderboard": "search.ranking",
    "find_search_run": "search.ranking",
    "FORMATS": "search.ranking",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'search' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
