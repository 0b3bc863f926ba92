"""Ctrl-C at safe points: training stops at the next batch, never inside a storage or tracking write."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any, NoReturn

_stop = threading.Event()
# Held through storage writes that must not be cut in two by a worker exiting from another thread.
_writing = threading.Lock()


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


@contextlib.contextmanager
def uncut() -> Iterator[None]:
    """Storage writes that belong together (asking for a trial and tagging it with its worker; failing a lost
    trial and queueing it again): ``exit_at_safe_point`` waits for them to end."""
    with _writing:
        yield


def exit_at_safe_point(code: int) -> NoReturn:
    """``os._exit`` from any thread, never inside an ``uncut`` section (and none starts after)."""
    _writing.acquire()
    os._exit(code)
