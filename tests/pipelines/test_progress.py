"""The progress line's ETA: the sooner of the trial budget and ``budget.timeout``, saying which."""

from __future__ import annotations

import io
import pickle

from rich.console import Console

from kerashpo.pipelines.progress import ProgressDisplay, eta
from kerashpo.search.executor import TrialEvent
from kerashpo.spaces.choices import TrialState


def event(finished: int, total: int, elapsed: float, this_search: int | None = None) -> TrialEvent:
    return TrialEvent(number=finished - 1, objective="val_log_loss", state=TrialState.COMPLETE, value=0.5,
                      finished=finished, total=total, best_value=0.4, best_number=0, n_pruned=0, n_failed=0,
                      elapsed=elapsed,
                      finished_this_search=finished if this_search is None else this_search)


def shown(display_timeout: float | None, trial: TrialEvent) -> str:
    out = io.StringIO()
    ProgressDisplay(Console(file=out, width=300, color_system=None), timeout=display_timeout)(trial)
    return out.getvalue()


def test_a_time_budget_that_ends_first_gives_the_eta():
    # The reported case: capped at 150 s with 200 trials, 91 s in after 10 trials.
    trial = event(finished=10, total=200, elapsed=91.0)
    assert eta(trial, timeout=150.0) == (59.0, "timeout")
    assert "elapsed 1:31 eta 0:59 (timeout)" in shown(150.0, trial)


def test_a_trial_budget_that_ends_first_gives_the_eta():
    trial = event(finished=10, total=20, elapsed=100.0)  # 10 more at 10 s each: 100 s, within an hour's budget
    assert eta(trial, timeout=3600.0) == (100.0, "trials")
    assert "eta 1:40 (trials)" in shown(3600.0, trial)


def test_without_a_timeout_the_eta_is_the_trial_budget_unlabelled():
    trial = event(finished=10, total=200, elapsed=91.0)
    assert eta(trial) == (91.0 / 10 * 190, "trials")
    line = shown(None, trial)
    assert "eta 28:49" in line and "(trials)" not in line and "(timeout)" not in line


def test_past_the_timeout_the_search_is_ending():
    trial = event(finished=12, total=200, elapsed=160.0)  # the trial running at the deadline just finished
    assert eta(trial, timeout=150.0) == (0.0, "timeout")
    assert "eta 0:00 (timeout)" in shown(150.0, trial)


def test_the_pace_is_this_searchs_own_on_a_resumed_study():
    # 50 trials came from an earlier run; this one finished 5 in 50 s: 45 left at 10 s, or 250 s of budget.
    trial = event(finished=55, total=100, elapsed=50.0, this_search=5)
    assert eta(trial) == (450.0, "trials")
    assert eta(trial, timeout=300.0) == (250.0, "timeout")


def test_the_timeout_travels_to_worker_processes():
    display = pickle.loads(pickle.dumps(ProgressDisplay(timeout=150.0, open_ended=True)))
    assert display.timeout == 150.0 and display.open_ended
    assert isinstance(display.console, Console)


def test_when_the_time_alone_decides_the_line_counts_trials_without_a_total():
    out = io.StringIO()
    ProgressDisplay(Console(file=out, width=300, color_system=None), timeout=60.0, open_ended=True)(
        event(finished=7, total=100_000, elapsed=30.0))
    assert out.getvalue().startswith("[7] trial 6 ") and "eta 0:30 (timeout)" in out.getvalue()


def test_a_time_budget_without_a_trial_count_runs_until_the_time_is_up():
    from kerashpo.pipelines.config import DEFAULT_TRIALS, parse_config

    def budget(**values):
        return parse_config({"name": "b", "dataset": {"name": "iris"}, "budget": values}).budget

    assert budget().trial_cap == DEFAULT_TRIALS and not budget().time_decides
    assert budget(timeout=60).time_decides and budget(timeout=60).trial_cap > 10_000
    assert budget(timeout=60, trials=5).trial_cap == 5 and not budget(timeout=60, trials=5).time_decides
