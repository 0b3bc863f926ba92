"""The variants an ablation trains from a champion's configuration, each saying what it sets.

The regularizer variants start from ``none`` (the champion with every
regularizer off) and switch one kind back on, so each row of the table shows
what that regularizer alone does to the champion's network; ``early_stopping``
and ``augmentation`` take the champion as found and switch one thing off.
A strength comes from the champion where it used that regularizer, otherwise
from ``DEFAULT_STRENGTH``; the ``sets`` text says which.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kerashpo.spaces import Space, UserError
from kerashpo.spaces.choices import AblationVariant

BUILT_IN = AblationVariant.values()
# What a regularizer gets when the champion did not use it: common starting points for small dense and conv nets.
DEFAULT_STRENGTH: dict[str, float] = {"dropout": 0.2, "l1": 1e-5, "l2": 1e-4}
# The image augmentations the cnn preset samples, each off.
AUGMENTATION_OFF: dict[str, Any] = {"flip": "none", "rotation": 0.0, "zoom": 0.0}
# The regularizers a builder may read, by the parameter that carries each.
KNOBS: dict[str, str] = {"dropout": "dropout", "batch_norm": "batch_norm", "l1": "l1", "l2": "l2"}
_LABELS = {"dropout": "dropout", "batch_norm": "batch norm", "l1": "L1", "l2": "L2", "augmentation": "augmentation"}


@dataclass(frozen=True)
class Variant:
    """One configuration to train several times: its full parameters and what it changes, in words."""

    name: str
    params: dict[str, Any]
    sets: str
    # False: trains the whole epoch budget and keeps the last epoch's weights (early stopping off).
    early_stopping: bool = True
    # The parameters a user's variant set itself (checked against the space).
    own: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Knobs:
    """What the champion's builder lets an ablation switch: its regularizers, and augmentation on image data."""

    regularizers: tuple[str, ...]
    augmentation: bool
    # Why the regularizer variants cannot run (a user's own build_model), or None.
    refusal: str | None = None
    # Regularizers the builder would ignore for this champion, and why (no hidden layer to act on).
    inert: dict[str, str] = field(default_factory=dict)

    def note(self) -> str | None:
        """What the table says about the variants left out because they would change nothing."""
        if not self.inert:
            return None
        reasons = sorted(set(self.inert.values()))
        return f"{', '.join(self.inert)} not trained ({'; '.join(reasons)})"


def knobs_for(space: Space | None, builder_reads: Iterable[str], image_data: bool, source_name: str,
              inert: Mapping[str, str] | None = None) -> Knobs:
    """The regularizers a space declares or its builder reads, less the ``inert`` ones (name: why the builder
    ignores it for this champion); none for a user's ``build_model``, whose parameters mean what the user's code
    makes of them."""
    if space is None:
        return Knobs((), False, refusal=(
            f"the model comes from build_model {source_name}, whose parameters are its own, so kerashpo cannot "
            "switch its regularizers; ablate it with champion, early_stopping and variants of your own "
            "(ablation.variants, by its hp names)"))
    known = set(space.names) | set(builder_reads)
    inert = {knob: why for knob, why in (inert or {}).items() if KNOBS[knob] in known}
    regularizers = tuple(knob for knob, param in KNOBS.items() if param in known and knob not in inert)
    augmentation = image_data and any(name in known for name in AUGMENTATION_OFF)
    return Knobs(regularizers, augmentation, inert=inert)


def _number(value: float) -> str:
    return f"{value:.3g}"


def _regularizers_off(champion: Mapping[str, Any], knobs: Knobs) -> dict[str, Any]:
    params = {k: v for k, v in champion.items() if k not in ("l1", "l2")}
    off = {"dropout": 0.0, "batch_norm": False, "l1_enabled": False, "l2_enabled": False}
    params.update({k: v for k, v in off.items() if k.removesuffix("_enabled") in knobs.regularizers})
    if knobs.augmentation:
        params.update(AUGMENTATION_OFF)
    return params


def _strength(champion: Mapping[str, Any], name: str) -> tuple[float, str]:
    """The champion's strength for a regularizer where it used one, else the default; and which it is."""
    value = float(champion.get(name) or 0.0)
    return (value, "champion's") if value > 0 else (DEFAULT_STRENGTH[name], "default")


def built_in_variants(champion: Mapping[str, Any], knobs: Knobs, max_epochs: int,
                      found: str = "as found") -> dict[str, Variant]:
    """Every built-in variant the champion's builder makes possible, by name, in the table's order."""
    variants = {"champion": Variant("champion", dict(champion), found)}
    if knobs.regularizers:
        off = _regularizers_off(champion, knobs)
        switched = [_LABELS[k] for k in knobs.regularizers] + (["augmentation"] if knobs.augmentation else [])
        variants["none"] = Variant("none", off, "no " + ", ".join(switched))
        strengths = {name: _strength(champion, name) for name in DEFAULT_STRENGTH}

        def on(*names: str) -> tuple[dict[str, Any], str]:
            params, said = dict(off), []
            for name in names:
                value, origin = strengths[name]
                params.update({name: value, f"{name}_enabled": True} if name != "dropout" else {name: value})
                said.append(f"{_LABELS[name]} {_number(value)} ({origin})")
            return params, " + ".join(said) + " only"

        for name, names in (("l1", ("l1",)), ("l2", ("l2",)), ("elastic_net", ("l1", "l2")), ("dropout", ("dropout",))):
            if all(n in knobs.regularizers for n in names):
                params, sets = on(*names)
                variants[name] = Variant(name, params, sets)
        if "batch_norm" in knobs.regularizers:
            variants["batch_norm"] = Variant("batch_norm", {**off, "batch_norm": True}, "batch norm only")
    variants["early_stopping"] = Variant("early_stopping", dict(champion),
                                         f"early stopping off: {max_epochs} epochs, last epoch's weights",
                                         early_stopping=False)
    if knobs.augmentation:
        used = ", ".join(f"{k} {v}" for k, v in champion.items() if k in AUGMENTATION_OFF
                         and v != AUGMENTATION_OFF[k]) or "none"
        variants["augmentation"] = Variant("augmentation", {**champion, **AUGMENTATION_OFF},
                                           f"augmentation off (champion's: {used})")
    return variants


def user_variants(declared: Mapping[str, Mapping[str, Any]], champion: Mapping[str, Any],
                  space: Space | None) -> dict[str, Variant]:
    """The config's own variants on the champion, each value checked against the space (or, for a user's
    ``build_model``, against the champion's own parameter names) before anything trains."""
    variants = {}
    for name, own in declared.items():
        where = f"ablation.variants.{name}"
        for param, value in own.items():
            _check_value(f"{where}.{param}", param, value, space, champion)
        params = {**champion, **own}
        if space is not None:  # what the new values switch off is inactive, as in a sampled trial
            params = {k: v for k, v in params.items() if k not in space or space[k].is_active(params)}
            for param in own:
                if param not in params:
                    needs = ", ".join(f"{k} in {list(v)}" for k, v in space[param].when.items())
                    raise UserError(f"{where}.{param}: is used only when {needs}; set that in the variant too")
        sets = ", ".join(f"{k} {_number(v) if isinstance(v, float) else v}" for k, v in own.items())
        variants[name] = Variant(name, params, sets, own=dict(own))
    return variants


def _check_value(where: str, param: str, value: Any, space: Space | None, champion: Mapping[str, Any]) -> None:
    if space is None:
        if param not in champion:
            raise UserError(f"{where}: the champion's build_model sampled no {param!r} "
                            f"(it sampled {', '.join(sorted(champion)) or 'nothing'})")
        return
    if param not in space:
        raise UserError(f"{where}: the space has no parameter {param!r} (it has {', '.join(space.names)})")
    declared = space[param]
    if not declared.admits(value):
        raise UserError(f"{where}: {value!r} is not in the space's {declared.describe()}")


def select(available: Mapping[str, Variant], requested: Sequence[str] | None, knobs: Knobs,
           image_data: bool) -> list[Variant]:
    """The variants to train, ``champion`` first (the reference of every comparison); all available by default.

    A requested variant the champion's builder or data cannot have is refused in one line, saying why.
    """
    if not requested:
        return list(available.values())
    chosen = ["champion"]
    for name in requested:
        if name in chosen:
            continue
        if name not in available:
            raise UserError(f"--variants {name}: {_why_not(name, knobs, image_data, available)}")
        chosen.append(name)
    return [available[name] for name in chosen]


def _why_not(name: str, knobs: Knobs, image_data: bool, available: Mapping[str, Variant]) -> str:
    if name == "augmentation":
        return ("only for image data trained with augmentation (the cnn space)" if image_data
                else "only for image data; this dataset is tabular")
    if name in BUILT_IN and knobs.refusal:
        return knobs.refusal
    if name in knobs.inert:
        return f"it would change nothing: {knobs.inert[name]}"
    if name in BUILT_IN:
        return "the champion's space and builder have no such regularizer"
    return f"unknown variant; choose from {', '.join(available)}"
