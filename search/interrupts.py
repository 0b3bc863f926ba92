"""Ctrl-C at safe points: training stops at the next batch, never inside a storage or tracking write."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

_stop = threading.Event()


def stop_requested() -> bool:
    return _stop.is_set()


def _on_interrupt(signum: int, frame: Any) -> None:
    if _stop.is_set():  # a second Ctrl-C: stop now
        raise KeyboardInterrupt
    _stop.set()


@contextlib.contextmanager
def interrupts_at_safe_points() -> Iterator[None]:
    """Ctrl-C stops training at the next batch and raises ``KeyboardInterrupt`` once fit has returned.

    Raised anywhere else, the interrupt could land inside a storage write (the
    Optuna journal's lock release turns it into a ``FileNotFoundError``) or
    inside a tracking call. A second Ctrl-C interrupts at once.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _stop.clear()
    previous = signal.signal(signal.SIGINT, _on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _stop.clear()


def raise_if_stop_requested() -> None:
    if _stop.is_set():
        raise KeyboardInterrupt
