"""Imported once by the worker processes' fork server: TensorFlow and Keras are loaded there, quietly, and every
worker is a fork of that process, so a worker starts in about a second instead of importing TensorFlow anew
(7-12 s on 2 cores). Nothing here touches a device or starts TensorFlow's runtime: CUDA must first be
initialised in the worker, after its environment (``Compute.worker_env``) is set.
"""

from __future__ import annotations

from kerashpo.pipelines.runtime.quiet import import_tensorflow_modules

import_tensorflow_modules()
