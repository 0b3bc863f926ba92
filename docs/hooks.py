"""MkDocs hooks (mkdocs.yml: ``hooks``): the pages written from the code at build time.

- ``config-reference.md``: its ``<!-- config-reference -->`` line becomes a table of every key of a pipeline
  config, read from the pydantic models of ``kerashpo.pipelines.config`` (``model_fields``: type, allowed values,
  bounds, default, description). A key added to the config is in the next build; one without
  ``Field(description=...)`` is a warning, which fails ``mkdocs build --strict``.
- ``python-api.md``: its ``<!-- python-api -->`` line becomes one mkdocstrings block per name of
  ``kerashpo.__all__``, from the table behind it (``kerashpo._EXPORTS``: the name, and where it is defined).

Griffe (mkdocstrings' reader) finds a package by its folder's name, and the repository root is the package
``kerashpo`` under another name: ``on_config`` gives it a scratch folder in which ``kerashpo/`` holds links to the
package's own files.
"""

from __future__ import annotations

import html
import inspect
import logging
import re
import shutil
import tempfile
import types
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from mkdocs.plugins import event_priority

REFERENCE_MARKER = "<!-- config-reference -->"
API_MARKER = "<!-- python-api -->"
# What setuptools installs as kerashpo (pyproject.toml: [tool.setuptools]).
PACKAGE_FILES = ("__init__.py", "py.typed", "spaces", "search", "pipelines")

log = logging.getLogger("mkdocs.plugins.kerashpo")
_scratch: list[Path] = []


@event_priority(100)  # before mkdocstrings reads its handler's options
def on_config(config: Any) -> Any:
    root = Path(config.config_file_path).resolve().parent
    scratch = Path(tempfile.mkdtemp(prefix="kerashpo-griffe-"))
    _scratch.append(scratch)
    (scratch / "kerashpo").mkdir()
    for name in PACKAGE_FILES:
        (scratch / "kerashpo" / name).symlink_to(root / name)
    handlers = config.plugins["mkdocstrings"].config["handlers"]
    python = handlers.setdefault("python", {})
    python["paths"] = [str(scratch), *python.get("paths", [])]
    return config


def on_shutdown() -> None:
    while _scratch:
        shutil.rmtree(_scratch.pop(), ignore_errors=True)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if REFERENCE_MARKER in markdown:
        markdown = markdown.replace(REFERENCE_MARKER, config_reference())
    if API_MARKER in markdown:
        markdown = markdown.replace(API_MARKER, python_api())
    return markdown


# --- The config reference --------------------------------------------------------------------------------------


def config_reference() -> str:
    """Markdown for every key of a pipeline config: the top level, then each section, nested ones after it."""
    from kerashpo.pipelines.config import PipelineConfig

    return "\n".join(_section(PipelineConfig, key="", title="Top level", intro=""))


def _section(model: type, key: str, title: str, intro: str) -> list[str]:
    anchor = _anchor(key or "top-level")
    lines = [f"## {title} {{#{anchor}}}", ""]
    doc = inspect.cleandoc(model.__dict__.get("__doc__") or "")  # its own, not one it inherits
    for text in (intro, doc):
        if text:
            lines += [_text(text), ""]
    lines += ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
    nested: list[tuple[type, str, str]] = []
    for name, field in model.model_fields.items():
        if field.exclude:  # set by the code, never read from a file (PipelineConfig.source)
            continue
        dotted = f"{key}.{name}" if key else name
        kind = _type(field.annotation)
        sub, suffix = _nested_model(field.annotation)
        if sub is not None:
            nested.append((sub, dotted + suffix, field.description or ""))
            kind += f", see [`{dotted + suffix}`](#{_anchor(dotted + suffix)})"
        bounds = _bounds(field.metadata)
        if bounds:
            kind += f"; {bounds}"
        if not field.description:
            log.warning(f"config reference: {dotted} has no description; give it Field(description=...) in "
                        "pipelines/config.py")
        cells = (f"`{dotted}`", kind, _default(field), _text(field.description or ""))
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    lines.append("")
    for sub, sub_key, description in nested:
        lines += _section(sub, sub_key, f"`{sub_key}`", description)
    return lines


def _nested_model(annotation: Any) -> tuple[type | None, str]:
    """The config section a field holds, and how its keys continue: ``x.`` (a mapping), ``x[].`` (a list of
    mappings), ``x.<key>.`` (a mapping of names to mappings)."""
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        found = [_nested_model(arg) for arg in args if arg is not type(None)]
        return next(((model, suffix) for model, suffix in found if model is not None), (None, ""))
    if origin is list and args:
        model, suffix = _nested_model(args[0])
        return (model, "[]" + suffix) if model is not None else (None, "")
    if origin is dict and len(args) == 2:
        model, suffix = _nested_model(args[1])
        return (model, ".<key>" + suffix) if model is not None else (None, "")
    return None, ""


_NAMES = {int: "integer", float: "number", str: "string", bool: "boolean", Path: "path", Any: "any value"}


def _type(annotation: Any) -> str:
    from pydantic import BaseModel

    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        text = " or ".join(_type(arg) for arg in args if arg is not type(None))
        return text + " or `null`" if type(None) in args else text
    if origin is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in args)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "one of " + ", ".join(f"`{member.value}`" for member in annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    if origin is list:
        return f"list of {_type(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {_type(args[0])} to {_type(args[1])}" if args else "mapping"
    if origin is tuple:
        return "[" + ", ".join(_type(arg) for arg in args) + "]"
    return _NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _bounds(metadata: list[Any]) -> str:
    words = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    parts = []
    for item in metadata:
        for attribute, word in words.items():
            value = getattr(item, attribute, None)
            if value is not None:
                parts.append(f"{word} {value}")
        pattern = getattr(item, "pattern", None)
        if pattern:
            parts.append(f"matching `{pattern}`")
    return ", ".join(parts)


def _default(field: Any) -> str:
    from pydantic import BaseModel
    from pydantic_core import PydanticUndefined

    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "see below"
    return f"`{_yaml(value)}`"


def _yaml(value: Any) -> str:
    """A default as it would be written in the YAML file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_yaml(item)}" for key, item in value.items()) + "}"
    return str(value)


def _text(text: str) -> str:
    """Docstring or description text as Markdown on one line: a <name> outside code stays text, not an HTML tag."""
    parts = re.split(r"(`+[^`]*`+)", " ".join(text.split()))
    return "".join(part if part.startswith("`") else html.escape(part, quote=False) for part in parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _anchor(key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")


# --- The Python API ---------------------------------------------------------------------------------------------


def python_api() -> str:
    """One mkdocstrings block per public name, in the order kerashpo's table lists them, under the name users
    write (``kerashpo.run``) rather than where it is defined (``kerashpo.pipelines.run.pipeline.run_pipeline``)."""
    import kerashpo

    blocks = []
    for name, (module, attribute) in kerashpo._EXPORTS.items():
        blocks += [f"::: {module}.{attribute}", "    options:", f"      heading: kerashpo.{name}",
                   f"      toc_label: kerashpo.{name}", ""]
    return "\n".join(blocks)
