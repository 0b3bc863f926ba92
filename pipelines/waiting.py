"""Waiting for something outside this process (a server's start, another process's end) by asking again."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float | None, *, every: float, what: str) -> T:
    """Call ``condition`` every ``every`` seconds until it returns something true, and return that; after
    ``timeout`` seconds (None: never) raise ``TimeoutError`` naming ``what``. What ``condition`` raises stops the
    wait."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(every)
