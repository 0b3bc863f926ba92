"""A user's module: found beside the config or on ``sys.path``, and loaded without touching ``sys.path``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from kerashpo.spaces import UserError

__all__ = ["load_module", "load_reference", "module_file"]


def load_reference(reference: str, search_path: Path | None = None) -> tuple[Any, Path | None]:
    """What ``module:function`` (or ``module:HyperModelClass``) names, and the module's file where it was found
    under ``search_path`` (None where it was imported from ``sys.path``)."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise UserError(f"build_model: {reference!r} should look like 'module:function'")
    path = module_file(module_name, search_path)
    module = load_module(module_name, path)
    if not hasattr(module, attribute):
        raise UserError(f"build_model: module {module_name!r} has no attribute {attribute!r}")
    target = getattr(module, attribute)
    if not (callable(target) or hasattr(target, "build")):
        raise UserError(f"build_model: {reference} is not callable; give a function build_model(hp) or a HyperModel")
    return target, path


def module_file(module_name: str, search_path: Path | None) -> Path | None:
    """``module_name``'s file under ``search_path`` (a module or a package), or None."""
    if search_path is None:
        return None
    base = search_path.joinpath(*module_name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.resolve()
    return None


def load_module(module_name: str, path: Path | None) -> ModuleType:
    try:
        if path is None:
            return importlib.import_module(module_name)
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        # Registered under its own name (pickle finds its functions by it), but never put on sys.path.
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        return module
    except ImportError as exc:
        raise UserError(f"build_model: cannot import module {module_name!r} ({exc}); "
                        "put it beside the config or on PYTHONPATH") from None
    except Exception as exc:
        raise UserError(f"build_model: importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
