"""What is searched: engine-neutral parameters, spaces, presets and model builders.

Nothing here knows Optuna, Keras Tuner or MLflow; Keras is imported only when a
model is built.
"""

from kerashpo.spaces.choices import Backend, Direction, Driver, Pruner, Sampler, Task, Tuner
from kerashpo.spaces.data_spec import (
    TASKS,
    CategoricalInput,
    DataSpec,
    ImageInput,
    NumericInput,
)
from kerashpo.spaces.errors import SpaceError, UserError
from kerashpo.spaces.params import (
    Bool,
    Categorical,
    Fixed,
    Float,
    Int,
    Param,
    Suggester,
)
from kerashpo.spaces.preset import FitOptions, Preset
from kerashpo.spaces.presets.cnn import CNN, build_cnn, cnn_space
from kerashpo.spaces.presets.mlp import MLP, build_mlp, mlp_space
from kerashpo.spaces.presets.registry import PRESETS, get_preset, resolve_space
from kerashpo.spaces.presets.transfer import TRANSFER, build_transfer, transfer_space
from kerashpo.spaces.space import Space, load_space_file, space_from_dict
from kerashpo.spaces.tasks import DEFAULT_OBJECTIVE, METRIC_NAMES, objective_direction

__all__ = [
    "CNN", "DEFAULT_OBJECTIVE", "METRIC_NAMES", "MLP", "PRESETS", "TASKS", "TRANSFER",
    "Backend", "Bool", "Categorical", "CategoricalInput", "DataSpec", "Direction", "Driver", "FitOptions", "Fixed",
    "Float", "ImageInput", "Int",
    "NumericInput", "Param", "Preset", "Pruner", "Sampler", "Tuner",
    "Space", "SpaceError", "Suggester", "Task", "UserError",
    "build_cnn", "build_mlp", "cnn_space", "get_preset", "load_space_file", "mlp_space", "objective_direction",
    "resolve_space", "space_from_dict", "build_transfer", "transfer_space",
]
