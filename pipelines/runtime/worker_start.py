"""Imported once by the worker processes' fork server: Keras and its backend are loaded there, quietly, and every
worker is a fork of that process, so a worker starts without importing them anew, the longest part of a
fresh process's start (``benchmarks/startup.py``). Nothing here touches a device or starts the backend's runtime:
CUDA must first be initialised in the worker, after its environment (``Compute.worker_env``) is set.
"""

from __future__ import annotations

from kerashpo.pipelines.runtime.quiet import import_backend_modules

import_backend_modules()
