"""The jobs users run: config, data, orchestration, export and the ``kerashpo`` CLI.

Public names are re-exported lazily so that ``kerashpo --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PipelineConfig": "pipelines.config",
    "ConfigError": "pipelines.config",
    "load_config": "pipelines.config",
    "parse_config": "pipelines.config",
    "run_pipeline": "pipelines.run",
    "RunReport": "pipelines.run",
    "load_dataset": "pipelines.data",
    "split_dataset": "pipelines.data",
    "DataError": "pipelines.data",
    "export_registered": "pipelines.export",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pipelines' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
