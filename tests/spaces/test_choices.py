"""Choices users name are defined once, in ``spaces/choices.py``, and carried as enums everywhere else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import kerashpo
from kerashpo.spaces.choices import Direction, TrialState

PACKAGE = Path(kerashpo.__file__).parent
CHOICES = PACKAGE / "spaces" / "choices.py"
# The words of trial states and directions, quoted: written anywhere but choices.py, they bypass the enums.
WORDS = re.compile(r"""(["'])(COMPLETE|PRUNED|FAILED|RUNNING|BASELINE|maximize|minimize)\1""")


def package_sources() -> list[Path]:
    """The package's own modules: the root ``__init__`` and the three layers (not tests, benchmarks or docs)."""
    return [PACKAGE / "__init__.py"] + sorted(
        path for layer in ("spaces", "search", "pipelines") for path in (PACKAGE / layer).rglob("*.py"))


def test_state_and_direction_words_live_in_choices_only() -> None:
    found = [f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
             for path in package_sources() if path != CHOICES
             for number, line in enumerate(path.read_text().splitlines(), 1) if WORDS.search(line)]
    assert not found, "state or direction words outside spaces/choices.py; use TrialState or Direction:\n" + \
        "\n".join(found)


@pytest.mark.parametrize("state", list(TrialState))
def test_a_state_reads_back_from_its_stored_word(state: TrialState) -> None:
    # MLflow tags and Optuna hold the word; the enum compares equal to it and converts back.
    assert TrialState(str(state)) is state and state == state.value


def test_direction_words_are_optunas() -> None:
    assert Direction.values() == ("minimize", "maximize")
