"""The live progress display of ``kerashpo run``: one line per finished trial."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from kerashpo.spaces.choices import TrialState

if TYPE_CHECKING:
    from kerashpo.search.executor import TrialEvent

_STYLE = {TrialState.COMPLETE: "green", TrialState.PRUNED: "yellow", TrialState.FAILED: "red"}


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


def eta(event: TrialEvent, timeout: float | None = None) -> tuple[float, str]:
    """Seconds until the search ends, and what ends it: the trial budget, or ``budget.timeout``.

    The trial budget's end is extrapolated from this search's pace; the timeout
    (seconds since the search started, like ``event.elapsed``) stops new trials,
    so whichever comes sooner ends the search.
    """
    remaining = max(event.total - event.finished, 0)
    done = event.finished_this_search
    by_trials = event.elapsed / done * remaining if done > 0 else 0.0
    if timeout is not None and remaining > 0:
        by_time = max(timeout - event.elapsed, 0.0)
        if by_time < by_trials or done == 0:
            return by_time, "timeout"
    return by_trials, "trials"


class ProgressDisplay:
    """Trial k of n, its state and value, best so far, pruned and failed counts, elapsed, ETA.

    ``timeout``: the search's ``budget.timeout`` in seconds, if any; the ETA is
    then the sooner of the trial budget and the time left, and says which.
    ``open_ended``: the time alone decides (no trial count): no total is shown.
    """

    def __init__(self, console: Console | None = None, timeout: float | None = None, open_ended: bool = False):
        self.console = console or Console(highlight=False)
        self.timeout = timeout
        self.open_ended = open_ended

    def __getstate__(self) -> dict:
        # Sent to a fresh search process, which prints to the same terminal with a console of its own.
        return {"timeout": self.timeout, "open_ended": self.open_ended}

    def __setstate__(self, state: dict) -> None:
        self.console = Console(highlight=False)
        self.timeout = state.get("timeout")
        self.open_ended = state.get("open_ended", False)

    def __call__(self, event: TrialEvent) -> None:
        self.console.print(self.line(event), soft_wrap=True)

    def line(self, event: TrialEvent) -> str:
        """The display's line for one finished trial (rich markup)."""
        seconds, bound = eta(event, self.timeout)
        # Without a timeout only the trial budget can end the search: the reason would say nothing.
        reason = f" ({bound})" if self.timeout is not None else ""
        value = f"{event.value:.4f}" if event.value is not None else "-"
        best = f"{event.best_value:.4f} (trial {event.best_number})" if event.best_value is not None else "-"
        count = f"{event.finished}" if self.open_ended else f"{event.finished:>{len(str(event.total))}}/{event.total}"
        line = (
            f"[{count}] trial {event.number:<3} "
            f"[{_STYLE.get(event.state, 'white')}]{event.state:<8}[/] {event.objective}={value}  "
            f"best {best}  pruned {event.n_pruned} failed {event.n_failed}  "
            f"elapsed {_clock(event.elapsed)} eta {_clock(seconds)}{escape(reason)}"
        )
        if event.error:
            line += f"\n    [red]{escape(_first_line(event.error))}[/]"
        if event.infeasible:
            line += f"\n    [yellow]infeasible: {escape(_first_line(event.infeasible))}[/]"
        if event.stopped_at_deadline:
            line += "\n    [yellow]stopped in flight by budget.timeout: it counts with its best epoch so far[/]"
        return line


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else text
