"""The jobs users run: config, data, orchestration, export and the ``kerashpo`` CLI.

Public names are re-exported lazily so that ``kerashpo --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PipelineConfig": "kerashpo.pipelines.config",
    "ConfigError": "kerashpo.pipelines.config",
    "load_config": "kerashpo.pipelines.config",
    "parse_config": "kerashpo.pipelines.config",
    "run_pipeline": "kerashpo.pipelines.run",
    "RunReport": "kerashpo.pipelines.run",
    "load_dataset": "kerashpo.pipelines.data",
    "split_dataset": "kerashpo.pipelines.data",
    "split_folds": "kerashpo.pipelines.data",
    "DataError": "kerashpo.pipelines.data",
    "export_registered": "kerashpo.pipelines.export",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pipelines' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
