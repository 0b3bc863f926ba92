"""The training budget in a unit that means the same on every dataset: examples seen.

Epochs do not: on a 100-row split one epoch of batch 32 is four gradient steps,
on 50,000 rows it is 1,500. Pruning rungs and the work a trial must do before
it is judged are counted in examples seen, so a small table and a large one
are judged alike: on a large table the first rungs fall inside the first epoch,
and a trial is scored on the validation split there, so a bad configuration
costs seconds, not an epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# No trial is compared with others before it has seen this many examples.
MIN_EXAMPLES_JUDGED = 512
# Below this many validation rows, one row moves accuracy by over half a point: pruners wait for more trials
# per rung, and cross-validation would rank better.
SMALL_VALIDATION = 200
# Below this, no pruner can rank anything: pruning is off.
UNRANKABLE_VALIDATION = 40
# Trials that must complete before any is pruned, on a small validation split.
SMALL_VALIDATION_BOOTSTRAP = 3
# Rungs grow by this factor (Hyperband's and successive halving's reduction factor).
RUNG_FACTOR = 3
# An epoch of at least this many times MIN_EXAMPLES_JUDGED is judged inside: on 40,000 training rows at the
# rungs of 512, 1,536, 4,608 and 13,824 examples, each a pass over the validation split.
EPOCHS_JUDGED_INSIDE = 8


def startup_trials(expected: float) -> int:
    """A sampler's random start-up: a third of the trials the budget is expected to run, 3 to 10, so a short
    search still gets to model and a long one explores first."""
    return min(10, max(3, int(expected) // 3))


@dataclass(frozen=True)
class Budget:
    """A search's budget per trial, in examples seen."""

    examples_per_epoch: int
    max_epochs: int
    validation_rows: int  # of one fold when cross-validating
    folds: int = 1

    @property
    def unit(self) -> str:
        """What a pruner's steps count: examples seen, or folds done when cross-validating (``runner``)."""
        return "folds" if self.folds > 1 else "examples"

    @property
    def first_rung(self) -> int:
        return 1 if self.folds > 1 else self.min_examples

    @property
    def last_rung(self) -> int:
        return self.folds if self.folds > 1 else self.max_examples

    @property
    def min_epochs_judged(self) -> int:
        return max(1, math.ceil(MIN_EXAMPLES_JUDGED / max(1, self.examples_per_epoch)))

    @property
    def judged_inside_epochs(self) -> bool:
        return self.folds == 1 and self.examples_per_epoch >= EPOCHS_JUDGED_INSIDE * MIN_EXAMPLES_JUDGED

    @property
    def min_examples(self) -> int:
        """The first rung: ``MIN_EXAMPLES_JUDGED`` examples inside a large epoch, else whole epochs of at least
        that many."""
        if self.judged_inside_epochs:
            return MIN_EXAMPLES_JUDGED
        return min(self.min_epochs_judged, self.max_epochs) * self.examples_per_epoch

    def rungs_inside_first_epoch(self) -> tuple[int, ...]:
        """The rungs (examples seen) that fall before the first epoch ends: where a trial is scored mid-epoch."""
        if not self.judged_inside_epochs:
            return ()
        rungs, rung = [], self.min_examples
        while rung < self.examples_per_epoch:
            rungs.append(rung)
            rung *= RUNG_FACTOR
        return tuple(rungs)

    @property
    def max_examples(self) -> int:
        return self.max_epochs * self.examples_per_epoch

    @property
    def can_prune(self) -> bool:
        return self.validation_rows >= UNRANKABLE_VALIDATION and (
            self.folds > 1 or self.min_epochs_judged < self.max_epochs)

    @property
    def small_validation(self) -> bool:
        return self.validation_rows < SMALL_VALIDATION

    def examples(self, epochs: int) -> int:
        """Examples seen after ``epochs`` epochs: the step pruners are told."""
        return epochs * self.examples_per_epoch

    def notes(self) -> list[str]:
        """What a user should know before the search starts (one line each)."""
        if not self.can_prune:
            return [f"pruning is off: {self.validation_rows} validation rows cannot rank trials"
                    if self.validation_rows < UNRANKABLE_VALIDATION else
                    f"pruning is off: max_epochs {self.max_epochs} leaves no rung after the first "
                    f"{self.min_epochs_judged} epochs ({MIN_EXAMPLES_JUDGED} examples) a trial must train"]
        if self.small_validation:
            advice = ("" if self.folds > 1 else
                      "; cross-validation (split.folds) would rank configurations more reliably")
            return [f"only {self.validation_rows} validation rows{' per fold' if self.folds > 1 else ''}: no "
                    f"trial is pruned before {SMALL_VALIDATION_BOOTSTRAP} trials have completed{advice}"]
        return []
