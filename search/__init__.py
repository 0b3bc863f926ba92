"""How a space is searched: drivers, the shared trial runner, tracking and the leaderboard.

Names are re-exported lazily so that importing ``search`` (for the CLI's help)
does not import TensorFlow, Optuna or MLflow.
"""

from __future__ import annotations

from kerashpo.spaces.lazy import lazy_exports

_EXPORTS = {
    "OptunaDriver": "kerashpo.search.drivers.optuna",
    "run_trial": "kerashpo.search.training.runner",
    "SpaceSource": "kerashpo.search.training.sources",
    "HyperModelSource": "kerashpo.search.training.sources",
    "FixedSampling": "kerashpo.search.training.sampling",
    "OptunaSampling": "kerashpo.search.training.sampling",
    "KerasTunerSampling": "kerashpo.search.training.sampling",
    "import_hypermodel": "kerashpo.search.training.sources",
    "TrialData": "kerashpo.search.training.trial_data",
    "TrainingSetup": "kerashpo.search.training.runner",
    "TrialOptions": "kerashpo.search.training.runner",
    "TrialResult": "kerashpo.search.results",
    "TrialState": "kerashpo.spaces.choices",
    "SearchJob": "kerashpo.search.executor",
    "SearchOutcome": "kerashpo.search.executor",
    "TrialEvent": "kerashpo.search.executor",
    "TrialExecutor": "kerashpo.search.executor",
    "CheckpointStore": "kerashpo.search.selection.checkpoints",
    "NullTracker": "kerashpo.search.tracking",
    "Tracker": "kerashpo.search.protocols",
    "SearchDriver": "kerashpo.search.protocols",
    "ModelSource": "kerashpo.search.protocols",
    "Sampling": "kerashpo.search.protocols",
    "MLflowTracker": "kerashpo.search.tracking",
    "SearchInfo": "kerashpo.search.tracking",
    "redact_url": "kerashpo.search.redaction",
    "format_leaderboard": "kerashpo.search.leaderboard",
    "find_search_run": "kerashpo.search.leaderboard",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
