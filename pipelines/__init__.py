"""The jobs users run: config, data, orchestration, export and the ``kerashpo`` CLI.

Public names are re-exported lazily so that ``kerashpo --help`` stays fast.
"""

from __future__ import annotations

from kerashpo.spaces.lazy import lazy_exports

_EXPORTS = {
    "PipelineConfig": "kerashpo.pipelines.config",
    "ConfigError": "kerashpo.pipelines.config",
    "load_config": "kerashpo.pipelines.config",
    "parse_config": "kerashpo.pipelines.config",
    "run_pipeline": "kerashpo.pipelines.run.pipeline",
    "RunReport": "kerashpo.pipelines.run.pipeline",
    "load_dataset": "kerashpo.pipelines.data.splits",
    "split_dataset": "kerashpo.pipelines.data.splits",
    "split_folds": "kerashpo.pipelines.data.splits",
    "DataError": "kerashpo.pipelines.data.splits",
    "export_model": "kerashpo.pipelines.ship.export",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
