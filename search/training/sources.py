"""What a trial trains: a source, and the ``fit`` it trains with.

A *source* is either a declared space with its builder (``SpaceSource``) or a
user's Keras Tuner style ``build_model(hp)`` / ``keras_tuner.HyperModel``
(``HyperModelSource``). Either builds from a *sampling* (``sampling.py``), one
engine's view of one trial, so every source runs under every engine.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from kerashpo.search.models import check_model
from kerashpo.search.protocols import ModelSource, Sampling
from kerashpo.search.training.memory import clear_session
from kerashpo.search.training.modules import load_module, load_reference
from kerashpo.search.training.sampling import model_params
from kerashpo.search.training.validation import ScoresInsideEpochs, Validation, validation_batch_size
from kerashpo.spaces import DataSpec, FitOptions, Preset, Space, UserError
from kerashpo.spaces.choices import Direction
from kerashpo.spaces.preset import FineTune, default_fit_options

if TYPE_CHECKING:
    import keras
    import keras_tuner

    from kerashpo.search.training.trial_data import TrialData

    # A user's Keras Tuner style model: a function ``build_model(hp)``, a ``HyperModel``, or its class.
    UserModel: TypeAlias = (Callable[[keras_tuner.HyperParameters], keras.Model] | keras_tuner.HyperModel
                            | type[keras_tuner.HyperModel])

__all__ = ["HyperModelSource", "SpaceSource", "as_source", "build_training_state", "fit_batches", "fit_defaults",
           "import_hypermodel"]


def fit_batches(model: keras.Model, data: TrialData, *, batch_size: int, seed: int, validate: bool = True,
                augmentation: keras.Layer | None = None, fine_tune: FineTune | None = None,
                **kwargs: Any) -> keras.callbacks.History | None:
    """``model.fit`` over the search's cached ``tf.data`` pipelines; shuffling is theirs, seeded. With
    ``fine_tune``, two calls: the epochs (and the callbacks watching them) run on across both.

    The validation split is scored by a ``Validation`` callback (large batches, eager until tracing pays)."""
    epochs = kwargs.pop("epochs", 1)
    callbacks = list(kwargs.pop("callbacks", None) or [])
    if validate:
        validation = Validation(data.batches("val", model, validation_batch_size(data.x_val, batch_size)))
        callbacks.insert(0, validation)
        for callback in callbacks:
            if isinstance(callback, ScoresInsideEpochs):
                callback.score_with(validation)

    def fit(**more: Any) -> keras.callbacks.History:
        return model.fit(data.batches("train", model, batch_size, seed, augmentation), shuffle=False,
                         callbacks=callbacks, **kwargs, **more)

    build_training_state(model, *data.first_rows(model))
    if fine_tune is not None and fine_tune.start_epoch < epochs:
        fit(epochs=fine_tune.start_epoch)
        if model.stop_training:
            return None
        fine_tune.prepare(model)  # recompiled: a new optimizer and new metrics
        build_training_state(model, *data.first_rows(model))
        kwargs["initial_epoch"] = fine_tune.start_epoch
    return fit(epochs=epochs)


def build_training_state(model: keras.Model, x: Any, y: Any) -> None:
    """Create a compiled model's loss, metric and optimizer variables now, eagerly, on a few rows.

    Without a distribution strategy, Keras on TensorFlow creates them inside the first trace of the training
    step, and ``tf.function`` then traces that step a second time, much of a short trial's fixed cost
    (``benchmarks/overhead.py``). The rows' metric updates are reset; ``fit`` starts from zero.
    """
    predicted = model(x, training=False)
    model.compute_loss(x, y, predicted)
    model.compute_metrics(x, y, predicted, sample_weight=None)
    model.reset_metrics()
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def as_source(thing: ModelSource | Preset | UserModel) -> ModelSource:
    """A Preset, a build function or a HyperModel as a source; a source stays as it is."""
    if isinstance(thing, ModelSource):
        return thing
    if isinstance(thing, Preset):
        return SpaceSource(thing)
    return HyperModelSource(thing)


class SpaceSource:
    """A declared space and the preset builder that reads its values."""

    trains_itself = False  # the runner's fit trains it

    def __init__(self, preset: Preset):
        self.preset = preset
        self.name = preset.name
        self.space = preset.space

    def check(self) -> None:
        """Declared spaces were validated when they were made."""

    @property
    def first_trials(self) -> list[dict[str, Any]]:
        """Configurations to try before the sampler starts (the preset's simple models)."""
        return self.preset.first_trials()

    def build(self, sampling: Sampling, spec: DataSpec) -> tuple[dict[str, Any], keras.Model]:
        params = sampling.sample_space(self.preset.space)
        model = self.preset.build(dict(params), spec)
        check_model(model)
        return params, model

    def fit_options(self, params: dict[str, Any], max_epochs: int, monitor: str,
                    direction: Direction) -> FitOptions:
        return self.preset.fit_options(dict(params), max_epochs, monitor, direction)

    def fit(self, sampling: Sampling, model: keras.Model, data: TrialData, *, batch_size: int, seed: int,
            validate: bool = True, augmentation: keras.Layer | None = None, fine_tune: FineTune | None = None,
            **kwargs: Any) -> keras.callbacks.History | None:
        return fit_batches(model, data, batch_size=batch_size, seed=seed, validate=validate,
                           augmentation=augmentation, fine_tune=fine_tune, **kwargs)


class HyperModelSource:
    """A user's ``build_model(hp)`` or ``keras_tuner.HyperModel``, unchanged, under any engine.

    A HyperModel that overrides ``fit(hp, model, *args, **kwargs)`` gets, as
    under Keras Tuner, the training arrays, ``validation_data`` and
    ``callbacks``; what else kerashpo would pass to ``model.fit`` (epochs, batch
    size, verbosity) is a default that the user's own arguments override, and
    kerashpo's callbacks are added to the user's. Such a fit may train the model
    itself (an uncompiled model, its own loop sending ``on_epoch_end`` logs) and
    return a ``History``, a number (the objective) or a dict of metrics.
    ``batch_size`` in ``hp`` is applied otherwise.
    """

    space: Space | None = None  # a build function declares its space as it runs
    preset: Preset | None = None  # the user's code builds the model
    first_trials: list[dict[str, Any]] = []  # it declares no simple model to try first

    def __init__(self, hypermodel: UserModel, name: str | None = None):
        if inspect.isclass(hypermodel):
            hypermodel = hypermodel()
        if not callable(hypermodel) and not hasattr(hypermodel, "build"):
            raise UserError(f"{name or hypermodel!r} is neither a function build_model(hp) nor a HyperModel")
        self.hypermodel = hypermodel
        self.name: str = name or str(getattr(hypermodel, "__name__", type(hypermodel).__name__))
        self._build = hypermodel.build if hasattr(hypermodel, "build") else hypermodel
        self._custom_fit = _overrides_fit(hypermodel)
        self.origin: tuple[str, Path] | None = None  # (module:attribute, file) when loaded by path

    def __getstate__(self) -> dict[str, Any]:
        # A module loaded from a file by path is not importable by name in a fresh (spawned) process:
        # such a source travels as its reference and path and is loaded again there.
        if self.origin is None:
            return self.__dict__
        return {"origin": self.origin}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "hypermodel" in state:
            self.__dict__.update(state)
            return
        reference, path = state["origin"]
        module_name, _, attribute = reference.partition(":")
        module = sys.modules.get(module_name)
        if module is None or getattr(module, "__file__", None) != str(path):
            module = load_module(module_name, path)
        HyperModelSource.__init__(self, getattr(module, attribute), name=reference)
        self.origin = state["origin"]

    def build(self, sampling: Sampling, spec: DataSpec) -> tuple[dict[str, Any], keras.Model]:
        model = self._build(sampling.hp)
        check_model(model, compiled=not self._custom_fit)
        return model_params(sampling.hp.values), model

    @property
    def trains_itself(self) -> bool:
        """Its own ``fit`` decides how the model trains and which metrics it reports."""
        return self._custom_fit

    def fit_options(self, params: dict[str, Any], max_epochs: int, monitor: str,
                    direction: Direction) -> FitOptions:
        return default_fit_options(params, max_epochs, monitor, direction)

    def check(self) -> None:
        """Build once with Keras Tuner's defaults: a function that cannot make a compiled model is a user error."""
        import keras_tuner

        try:
            try:
                model = self._build(keras_tuner.HyperParameters())
            except Exception as exc:
                raise UserError(f"build_model {self.name}: failed with default values: "
                                f"{type(exc).__name__}: {exc}") from None
            try:
                check_model(model, compiled=not self._custom_fit)
            except TypeError as exc:
                raise UserError(f"build_model {self.name}: {exc}") from None
        finally:
            clear_session()

    def fit(self, sampling: Sampling, model: keras.Model, data: TrialData, *, batch_size: int, seed: int,
            validate: bool = True, augmentation: keras.Layer | None = None, **kwargs: Any) -> object:
        if self._custom_fit:
            # A user's fit(hp, model, x, y, ...) may choose its own batch size: it gets arrays.
            x, y = data.arrays("train", model)
            validation = data.arrays("val", model) if validate else None
            callbacks = kwargs.pop("callbacks", [])
            defaults = {"batch_size": batch_size, **kwargs}
            with fit_defaults(model, defaults, callbacks):
                return self.hypermodel.fit(sampling.hp, model, x, y, validation_data=validation,
                                           callbacks=callbacks)
        return fit_batches(model, data, batch_size=batch_size, seed=seed, validate=validate,
                           augmentation=augmentation, **kwargs)


@contextlib.contextmanager
def fit_defaults(model: keras.Model, defaults: dict[str, Any],
                 callbacks: list[keras.callbacks.Callback]) -> Iterator[None]:
    """While the block runs, ``model.fit`` takes ``defaults`` for what its caller leaves out, and ``callbacks``.

    A user's ``fit`` that passes ``epochs=`` or ``batch_size=`` itself wins; the
    search's callbacks (early stopping, pruning, the epoch budget) join the
    user's own, so the budget holds whatever the user's code sets.
    """
    original = model.fit

    def fit(*args: Any, **kwargs: Any) -> Any:
        inputs = args[0] if args else kwargs.get("x")
        for name, value in defaults.items():
            if name != "batch_size" or _is_array_like(inputs):  # datasets and generators batch themselves
                kwargs.setdefault(name, value)
        own = list(kwargs.get("callbacks") or [])
        kwargs["callbacks"] = own + [c for c in callbacks if c not in own]
        return original(*args, **kwargs)

    model.fit = fit
    try:
        yield
    finally:
        del model.fit


def _is_array_like(x: Any) -> bool:
    return x is None or isinstance(x, (list, tuple, dict)) or hasattr(x, "shape")


def _overrides_fit(hypermodel: object) -> bool:
    fit = getattr(type(hypermodel), "fit", None)
    if fit is None:
        return False
    try:
        import keras_tuner

        return fit is not keras_tuner.HyperModel.fit
    except ImportError:  # pragma: no cover - keras-tuner is a dependency
        return True


def import_hypermodel(reference: str, search_path: Path | None = None) -> HyperModelSource:
    """``module:function`` (or ``module:HyperModelClass``) as a source.

    A module file beside the config (``search_path``) is loaded by its path and
    nothing is added to ``sys.path``, so it cannot shadow the user's other
    modules; otherwise the module is imported from ``sys.path`` (PYTHONPATH).
    """
    target, path = load_reference(reference, search_path)
    source = HyperModelSource(target, name=reference)
    if path is not None:
        source.origin = (reference, path)
    return source
