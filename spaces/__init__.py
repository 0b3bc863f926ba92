"""What is searched: engine-neutral parameters, spaces, presets and model builders.

Nothing here knows Optuna, Keras Tuner or MLflow; Keras is imported only when a
model is built. Names are re-exported lazily, so that importing one module of
``spaces`` (the CLI's choices) loads neither NumPy nor a preset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kerashpo.spaces.lazy import lazy_exports

_EXPORTS = {
    "Backend": "kerashpo.spaces.choices",
    "Direction": "kerashpo.spaces.choices",
    "Driver": "kerashpo.spaces.choices",
    "Pruner": "kerashpo.spaces.choices",
    "Sampler": "kerashpo.spaces.choices",
    "Task": "kerashpo.spaces.choices",
    "TrialState": "kerashpo.spaces.choices",
    "Tuner": "kerashpo.spaces.choices",
    "TASKS": "kerashpo.spaces.data_spec",
    "CategoricalInput": "kerashpo.spaces.data_spec",
    "DataSpec": "kerashpo.spaces.data_spec",
    "ImageInput": "kerashpo.spaces.data_spec",
    "NumericInput": "kerashpo.spaces.data_spec",
    "SpaceError": "kerashpo.spaces.errors",
    "UserError": "kerashpo.spaces.errors",
    "Bool": "kerashpo.spaces.params",
    "Categorical": "kerashpo.spaces.params",
    "Fixed": "kerashpo.spaces.params",
    "Float": "kerashpo.spaces.params",
    "Int": "kerashpo.spaces.params",
    "Param": "kerashpo.spaces.params",
    "Suggester": "kerashpo.spaces.params",
    "FitOptions": "kerashpo.spaces.preset",
    "Preset": "kerashpo.spaces.preset",
    "CNN": "kerashpo.spaces.presets.cnn",
    "build_cnn": "kerashpo.spaces.presets.cnn",
    "cnn_space": "kerashpo.spaces.presets.cnn",
    "MLP": "kerashpo.spaces.presets.mlp",
    "build_mlp": "kerashpo.spaces.presets.mlp",
    "mlp_space": "kerashpo.spaces.presets.mlp",
    "PRESETS": "kerashpo.spaces.presets.registry",
    "get_preset": "kerashpo.spaces.presets.registry",
    "resolve_space": "kerashpo.spaces.presets.registry",
    "TRANSFER": "kerashpo.spaces.presets.transfer",
    "build_transfer": "kerashpo.spaces.presets.transfer",
    "transfer_space": "kerashpo.spaces.presets.transfer",
    "Space": "kerashpo.spaces.space",
    "load_space_file": "kerashpo.spaces.space",
    "space_from_dict": "kerashpo.spaces.space",
    "DEFAULT_OBJECTIVE": "kerashpo.spaces.tasks",
    "METRIC_NAMES": "kerashpo.spaces.tasks",
    "objective_direction": "kerashpo.spaces.tasks",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # the checker reads each name's type here; at run time it is imported on first use
    from kerashpo.spaces.choices import Backend, Direction, Driver, Pruner, Sampler, Task, TrialState, Tuner
    from kerashpo.spaces.data_spec import TASKS, CategoricalInput, DataSpec, ImageInput, NumericInput
    from kerashpo.spaces.errors import SpaceError, UserError
    from kerashpo.spaces.params import Bool, Categorical, Fixed, Float, Int, Param, Suggester
    from kerashpo.spaces.preset import FitOptions, Preset
    from kerashpo.spaces.presets.cnn import CNN, build_cnn, cnn_space
    from kerashpo.spaces.presets.mlp import MLP, build_mlp, mlp_space
    from kerashpo.spaces.presets.registry import PRESETS, get_preset, resolve_space
    from kerashpo.spaces.presets.transfer import TRANSFER, build_transfer, transfer_space
    from kerashpo.spaces.space import Space, load_space_file, space_from_dict
    from kerashpo.spaces.tasks import DEFAULT_OBJECTIVE, METRIC_NAMES, objective_direction
else:
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
