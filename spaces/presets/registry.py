"""Built-in presets by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kerashpo.spaces.errors import SpaceError
from kerashpo.spaces.preset import Preset
from kerashpo.spaces.presets.cnn import CNN
from kerashpo.spaces.presets.mlp import MLP
from kerashpo.spaces.presets.tabular.preset import TABULAR
from kerashpo.spaces.presets.transfer import TRANSFER
from kerashpo.spaces.space import load_space_file

PRESETS: dict[str, Preset] = {"mlp": MLP, "tabular": TABULAR, "cnn": CNN, "transfer": TRANSFER}


def custom_objects() -> dict[str, Any]:
    """What a checkpoint of a built-in network may hold beyond Keras's own objects (the tabular family's label
    smoothing), by registered name, for ``keras.saving.load_model``; imports Keras."""
    from kerashpo.spaces.presets.tabular.losses import PACKAGE, SmoothedSparseCategoricalCrossentropy

    return {f"{PACKAGE}>{SmoothedSparseCategoricalCrossentropy.__name__}": SmoothedSparseCategoricalCrossentropy}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise SpaceError(f"unknown space preset {name!r}; choose from {', '.join(PRESETS)} or give a .yaml file")
    return PRESETS[name]


def resolve_space(reference: str, base_dir: Path | None = None) -> Preset:
    """A preset name (``mlp``, ``cnn``) or a space file that narrows or extends one.

    A file without ``extends`` declares its own parameters for the ``mlp``
    builder; the builder's vocabulary still checks them.
    """
    if not reference.endswith((".yaml", ".yml")):
        return get_preset(reference)
    path = Path(reference)
    if base_dir is not None and not path.is_absolute() and not path.exists():
        path = base_dir / path
    base, space = load_space_file(path, {name: preset.space for name, preset in PRESETS.items()}, default="mlp")
    preset = PRESETS[base]
    return Preset(name=str(path), space=space, build=preset.build, fit_options=preset.fit_options,
                  data_kinds=preset.data_kinds, check_space=preset.check_space,
                  ensembles_by_default=preset.ensembles_by_default)
