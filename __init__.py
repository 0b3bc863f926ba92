"""kerashpo: hyperparameter search for Keras models with Optuna or Keras Tuner, every trial in MLflow.

The repository root is this package: ``spaces/`` (what is searched), ``search/``
(how) and ``pipelines/`` (the jobs users run) install as ``kerashpo.spaces``,
``kerashpo.search`` and ``kerashpo.pipelines``. Names are resolved lazily, so
``import kerashpo`` (and ``kerashpo --help``) imports neither TensorFlow, Optuna
nor MLflow until a name that needs them is used.

The common case is one call::

    import kerashpo
    report = kerashpo.run("pipelines/digits.yaml")

and every piece can be swapped: pass a ``kerashpo.Space``/``kerashpo.Preset``
or your own ``build_model(hp)`` as ``source``, a driver, or read the results
with ``kerashpo.leaderboard``.
"""

from __future__ import annotations

from kerashpo.spaces.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    # The job: run a pipeline config (path, dict or PipelineConfig) end to end.
    "run": ("kerashpo.pipelines.run.pipeline", "run_pipeline"),
    "RunReport": ("kerashpo.pipelines.run.pipeline", "RunReport"),
    "PipelineConfig": ("kerashpo.pipelines.config", "PipelineConfig"),
    "load_config": ("kerashpo.pipelines.config", "load_config"),
    "parse_config": ("kerashpo.pipelines.config", "parse_config"),
    # What is searched.
    "Space": ("kerashpo.spaces.space", "Space"),
    "Int": ("kerashpo.spaces.params", "Int"),
    "Float": ("kerashpo.spaces.params", "Float"),
    "Categorical": ("kerashpo.spaces.params", "Categorical"),
    "Bool": ("kerashpo.spaces.params", "Bool"),
    "Fixed": ("kerashpo.spaces.params", "Fixed"),
    "Preset": ("kerashpo.spaces.preset", "Preset"),
    "DataSpec": ("kerashpo.spaces.data_spec", "DataSpec"),
    "get_preset": ("kerashpo.spaces.presets.registry", "get_preset"),
    "load_space_file": ("kerashpo.spaces.space", "load_space_file"),
    # How it is searched.
    "OptunaDriver": ("kerashpo.search.drivers.optuna", "OptunaDriver"),
    "KerasTunerDriver": ("kerashpo.search.drivers.keras_tuner", "KerasTunerDriver"),
    "MLflowTracker": ("kerashpo.search.tracking", "MLflowTracker"),
    "leaderboard": ("kerashpo.search.leaderboard", "leaderboard"),
    "Constraint": ("kerashpo.search.selection.constraints", "Constraint"),
    "Objective": ("kerashpo.search.selection.pareto", "Objective"),
    "PickRule": ("kerashpo.search.selection.pareto", "PickRule"),
    "format_leaderboard": ("kerashpo.search.leaderboard", "format_leaderboard"),
    # Shipping the champion.
    "export_model": ("kerashpo.pipelines.ship.export", "export_model"),
    "Champion": ("kerashpo.pipelines.serving", "Champion"),
    "UserError": ("kerashpo.spaces.errors", "UserError"),
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
