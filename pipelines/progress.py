"""The live progress display of ``kerashpo run``: one line per finished trial."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

_STYLE = {"COMPLETE": "green", "PRUNED": "yellow", "FAILED": "red"}


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


class ProgressDisplay:
    """Trial k of n, its state and value, best so far, pruned and failed counts, elapsed, ETA."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(highlight=False)

    def __getstate__(self) -> dict:
        # Sent to a fresh search process, which prints to the same terminal with a console of its own.
        return {}

    def __setstate__(self, state: dict) -> None:
        self.console = Console(highlight=False)

    def __call__(self, event: Any) -> None:
        remaining = max(event.total - event.finished, 0)
        done = event.finished_this_search
        eta = event.elapsed / done * remaining if done > 0 else 0.0
        value = f"{event.value:.4f}" if event.value is not None else "-"
        best = f"{event.best_value:.4f} (trial {event.best_number})" if event.best_value is not None else "-"
        width = len(str(event.total))
        line = (
            f"[{event.finished:>{width}}/{event.total}] trial {event.number:<3} "
            f"[{_STYLE.get(event.state, 'white')}]{event.state:<8}[/] {event.objective}={value}  "
            f"best {best}  pruned {event.n_pruned} failed {event.n_failed}  "
            f"elapsed {_clock(event.elapsed)} eta {_clock(eta)}"
        )
        if event.error:
            line += f"\n    [red]{escape(_first_line(event.error))}[/]"
        self.console.print(line, soft_wrap=True)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else text
