"""wait_until: the one polling loop of the package and its tests."""

import time

import pytest

from kerashpo.pipelines.waiting import wait_until


def test_returns_what_the_condition_returned_once_true():
    answers = iter([None, 0, "ready"])
    assert wait_until(lambda: next(answers), 5, every=0.01, what="the answer") == "ready"


def test_a_condition_never_true_fails_naming_what_it_waited_for():
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"^the server: not within 0.05 s$"):
        wait_until(lambda: False, 0.05, every=0.01, what="the server")
    assert time.monotonic() - started < 1


def test_what_the_condition_raises_ends_the_wait():
    def dead() -> bool:
        raise RuntimeError("the process stopped")

    with pytest.raises(RuntimeError, match="the process stopped"):
        wait_until(dead, None, every=0.01, what="the process")
