"""What is searched: engine-neutral parameters, spaces, presets and model builders.

Nothing here knows Optuna, Keras Tuner or MLflow; Keras is imported only when a
model is built.
"""

from spaces.cnn import CNN, build_cnn, cnn_space
from spaces.data_spec import TASKS, CategoricalInput, DataSpec, ImageInput, NumericInput, Task
from spaces.errors import SpaceError, UserError
from spaces.mlp import MLP, build_mlp, mlp_space
from spaces.params import Bool, Categorical, Fixed, Float, Int, Param, Suggester
from spaces.preset import FitOptions, Preset
from spaces.presets import PRESETS, get_preset, resolve_space
from spaces.space import Space, load_space_file, space_from_dict
from spaces.tasks import DEFAULT_OBJECTIVE, METRIC_NAMES, objective_direction

__all__ = [
    "CNN", "DEFAULT_OBJECTIVE", "METRIC_NAMES", "MLP", "PRESETS", "TASKS",
    "Bool", "Categorical", "CategoricalInput", "DataSpec", "FitOptions", "Fixed", "Float", "ImageInput", "Int",
    "NumericInput", "Param", "Preset",
    "Space", "SpaceError", "Suggester", "Task", "UserError",
    "build_cnn", "build_mlp", "cnn_space", "get_preset", "load_space_file", "mlp_space", "objective_direction",
    "resolve_space", "space_from_dict",
]
