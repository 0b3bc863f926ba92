"""How a space is searched: drivers, the shared trial runner, tracking and the leaderboard.

Names are re-exported lazily so that importing ``search`` (for the CLI's help)
does not import TensorFlow, Optuna or MLflow.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "OptunaDriver": "kerashpo.search.optuna_driver",
    "run_trial": "kerashpo.search.runner",
    "SpaceSource": "kerashpo.search.sources",
    "HyperModelSource": "kerashpo.search.sources",
    "FixedSampling": "kerashpo.search.sources",
    "OptunaSampling": "kerashpo.search.sources",
    "KerasTunerSampling": "kerashpo.search.sources",
    "import_hypermodel": "kerashpo.search.sources",
    "TrialData": "kerashpo.search.trial_data",
    "TrainingSetup": "kerashpo.search.runner",
    "TrialResult": "kerashpo.search.results",
    "COMPLETE": "kerashpo.search.results",
    "PRUNED": "kerashpo.search.results",
    "FAILED": "kerashpo.search.results",
    "SearchJob": "kerashpo.search.trials",
    "SearchOutcome": "kerashpo.search.trials",
    "TrialEvent": "kerashpo.search.trials",
    "TrialExecutor": "kerashpo.search.trials",
    "CheckpointStore": "kerashpo.search.checkpoints",
    "NullTracker": "kerashpo.search.tracking",
    "Tracker": "kerashpo.search.protocols",
    "Driver": "kerashpo.search.protocols",
    "ModelSource": "kerashpo.search.protocols",
    "Sampling": "kerashpo.search.protocols",
    "MLflowTracker": "kerashpo.search.tracking",
    "SearchInfo": "kerashpo.search.tracking",
    "redact_url": "kerashpo.search.tracking",
    "leaderboard": "kerashpo.search.ranking",
    "format_leaderboard": "kerashpo.search.ranking",
    "find_search_run": "kerashpo.search.ranking",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'search' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
