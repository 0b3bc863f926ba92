"""The ablation table's figures: each variant against the champion seed by seed (a paired t-test), its mean and
spread over the seeds that completed. Built from hand-made runs: no training (test_ablation.py runs `kerashpo ablate`
whole)."""

from __future__ import annotations

import math

import pytest
from scipy.stats import ttest_rel

from kerashpo.pipelines.ablation.table import SeedRun, paired_difference, readable, summarise
from kerashpo.pipelines.ablation.variants import Variant
from kerashpo.spaces.choices import TrialState


def run(variant: str, seed: int, value: float | None, state: TrialState = TrialState.COMPLETE) -> SeedRun:
    return SeedRun(variant=variant, seed=seed, state=state, value=value, gap=None if value is None else value / 10,
                   epoch=3, epochs_run=5, n_params=100, seconds=1.0)


CHAMPION = [run("champion", 0, 0.30), run("champion", 1, 0.32), run("champion", 2, 0.31)]
# Seed 2 failed and seed 3 has no champion run: only seeds 0 and 1 pair up.
NO_L2 = [run("no_l2", 0, 0.35), run("no_l2", 1, 0.38), run("no_l2", 2, None, TrialState.FAILED), run("no_l2", 3, 0.2)]


def test_a_variant_is_compared_with_the_champion_on_the_seeds_both_completed():
    diff, p_value = paired_difference(NO_L2, CHAMPION)
    assert diff == pytest.approx((0.05 + 0.06) / 2)
    assert p_value == pytest.approx(ttest_rel([0.35, 0.38], [0.30, 0.32]).pvalue)


@pytest.mark.parametrize("variant, why", [
    ([run("v", 0, 0.4)], "one pair: no spread to test"),
    ([run("v", 0, 0.35), run("v", 1, 0.37)], "the same difference on every seed"),
    ([run("v", 5, 0.4), run("v", 6, 0.4)], "no seed in common"),
])
def test_without_two_differing_pairs_there_is_no_p_value(variant, why):
    diff, p_value = paired_difference(variant, CHAMPION)
    assert math.isnan(p_value), why
    assert math.isnan(diff) if why == "no seed in common" else diff == pytest.approx(variant[0].value - 0.30), why


def test_the_summary_counts_completed_seeds_and_reads_as_mean_plus_minus_std():
    variants = [Variant("champion", {}, "-"), Variant("no_l2", {"l2_enabled": False}, "l2_enabled=False")]
    frame = summarise(variants, CHAMPION + NO_L2, "val_log_loss")
    champion, no_l2 = frame.to_dict("records")
    assert (champion["runs"], no_l2["runs"]) == ("3/3", "3/4")
    assert champion["diff_vs_champion"] == 0.0 and math.isnan(champion["p_value"])
    assert no_l2["val_log_loss_mean"] == pytest.approx((0.35 + 0.38 + 0.2) / 3)
    assert no_l2["diff_vs_champion"] == pytest.approx(0.055)
    shown = readable(frame).to_dict("records")
    assert shown[0]["vs champion"] == "-" and shown[1]["vs champion"] == "+0.0550"
    assert shown[0]["val_log_loss"] == "0.3100 ± 0.0100"
