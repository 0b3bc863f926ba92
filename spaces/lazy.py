"""A package's public names, each imported from its module on first use: importing the package imports none of
them, so ``kerashpo --help`` loads neither TensorFlow, Optuna nor MLflow (the model of Optuna's ``_LazyImport``)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str | tuple[str, str]], namespace: dict[str, Any]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The package's ``__getattr__`` and ``__dir__``. ``exports`` maps each public name to the module that defines
    it, or to a module and the name there; ``namespace`` is the package's ``globals()``, where a name once
    imported stays."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        target = exports[name]
        module, attribute = (target, name) if isinstance(target, str) else target
        value = getattr(importlib.import_module(module), attribute)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
