"""Passwords out of URLs before they reach a log, a tag or a display."""

from __future__ import annotations

from typing import overload
from urllib.parse import urlsplit, urlunsplit

__all__ = ["redact_url"]


@overload
def redact_url(url: str) -> str: ...


@overload
def redact_url(url: None) -> None: ...


def redact_url(url: str | None) -> str | None:
    """The URL with any password replaced by ``***``, for logs, tags and displays."""
    if not url or "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))
