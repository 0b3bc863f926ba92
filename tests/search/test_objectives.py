"""Several objectives (`objectives: [...]`): a Pareto front, a leaderboard that marks it, a figure of it, and the
model the pick rule chooses exported."""

from __future__ import annotations

import textwrap

import keras
import optuna
import pytest
from helpers import tracking_uri
from mlflow import MlflowClient

from kerashpo.pipelines.cli import main
from kerashpo.search.leaderboard import leaderboard
from kerashpo.search.selection.pareto import PickRule, dominates, pareto_front
from kerashpo.spaces.choices import Direction, Pick

MIN, MAX = Direction.MINIMIZE, Direction.MAXIMIZE
POINTS = {0: (0.100, 9000.0), 1: (0.1005, 3000.0), 2: (0.30, 600.0), 3: (0.35, 700.0), 4: (0.12, 9500.0)}


def test_the_front_holds_the_trials_nothing_dominates_and_each_rule_picks_from_it():
    assert dominates((0.1, 5), (0.2, 5), [MIN, MIN]) and not dominates((0.1, 5), (0.1, 5), [MIN, MIN])
    assert dominates((0.9, 5), (0.8, 4), [MAX, MAX]) and not dominates((0.9, 5), (0.8, 4), [MAX, MIN])
    assert pareto_front(POINTS, [MIN, MIN]) == {0, 1, 2}
    # Within 1% of the best loss (0.100 -> up to 0.101): trial 1 is smaller than trial 0.
    assert PickRule().pick(POINTS, [MIN, MIN]) == 1
    assert PickRule(tolerance=0.0).pick(POINTS, [MIN, MIN]) == 0
    assert PickRule(tolerance=5.0).pick(POINTS, [MIN, MIN]) == 2
    assert PickRule(Pick.BEST_FIRST).pick(POINTS, [MIN, MIN]) == 0
    assert PickRule(Pick.TRIAL, trial=3).pick(POINTS, [MIN, MIN]) == 3
    # A trial that did not complete is known only after the search: the default pick ships, with a warning.
    assert PickRule(Pick.TRIAL, trial=7).pick(POINTS, [MIN, MIN]) == PickRule().pick(POINTS, [MIN, MIN])


@pytest.mark.slow
def test_a_two_objective_search_writes_its_front_and_exports_the_model_the_rule_picks(in_run_dir):
    (in_run_dir / "space.yaml").write_text(textwrap.dedent("""\
        extends: mlp
        params:
          n_layers: {type: int, low: 0, high: 2}
          units_*: {type: int, low: 8, high: 64, log: true}
          batch_size: [128]
    """))
    (in_run_dir / "front.yaml").write_text(textwrap.dedent("""\
        name: front
        dataset: {name: digits}
        space: space.yaml
        objectives: [{metric: val_log_loss}, {metric: n_params}]
        optuna: {sampler: random}
        budget: {trials: 6, max_epochs: 3, patience: 3}
        seed: 11
        export: {formats: [keras], pick: {rule: smallest_within, tolerance: 0.5}}
    """))
    assert main(["run", "front.yaml"]) == 0

    board = leaderboard(tracking_uri(in_run_dir), experiment="front")
    # The first objective is the "objective" column (printed under its name), the second beside it.
    assert list(board.columns[:5]) == ["trial", "state", "pareto", "objective", "n_params"]
    trials = board[board["state"] != "BASELINE"]
    # Optuna cannot prune several objectives: every trial trained; the front is what dominance says.
    assert set(trials["state"]) == {"COMPLETE"} and len(trials) == 6
    points = {int(t): (float(v), float(n)) for t, v, n in zip(trials["trial"], trials["objective"],
                                                               trials["n_params"])}
    assert {int(t) for t in trials.loc[trials["pareto"], "trial"]} == pareto_front(points, [MIN, MIN])
    chosen = PickRule(tolerance=0.5).pick(points, [MIN, MIN])
    study = optuna.load_study(study_name="front", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(in_run_dir / "mlruns" / "optuna.journal"))))
    assert len(study.directions) == 2 and study.metric_names == ["val_log_loss", "n_params"]
    client = MlflowClient(tracking_uri(in_run_dir))
    parent = client.get_run(board.attrs["parent_run_id"])
    assert parent.data.tags["best_trial"] == str(chosen)
    shipped = keras.saving.load_model(in_run_dir / "mlruns" / "exports" / "front" / "model.keras")
    assert shipped.count_params() == points[chosen][1]
    card = (in_run_dir / "mlruns" / "exports" / "front" / "model_card.md").read_text()
    assert "picked from their Pareto front by smallest_within" in card
    front_rows = card.split("## Pareto front", 1)[1].strip().splitlines()[2:]
    assert sorted(int(row.split("|")[1]) for row in front_rows) == sorted(pareto_front(points, [MIN, MIN]))
    figures = {a.path for a in client.list_artifacts(parent.info.run_id, "figures")}
    assert {"figures/pareto_front.png", "figures/pareto_front.html"} <= figures


@pytest.mark.slow
def test_pruning_primary_prunes_a_clearly_worse_trial_of_a_two_objective_search_on_its_first_objective(tmp_path):
    import dataclasses

    from test_drivers import QUALITY, job_for, journal

    from kerashpo.search import NullTracker, OptunaDriver
    from kerashpo.search.drivers.optuna import PRIMARY_SUFFIX
    from kerashpo.search.selection.pareto import Objective

    study = optuna.create_study(study_name="twin", storage=journal(tmp_path), directions=["minimize", "minimize"])
    for quality in ("good", "bad"):
        study.enqueue_trial({"quality": quality})
    job = dataclasses.replace(
        job_for(tmp_path, "twin", n_trials=2, max_epochs=4, preset=QUALITY, objective="val_loss", patience=4,
                dataset="digits"),
        objectives=(Objective("val_loss", MIN), Objective("n_params", MIN)))
    driver = OptunaDriver(sampler="random", pruner="successive_halving", storage=str(tmp_path / "study.journal"),
                          pruning="primary")
    outcome = driver.optimize(job, NullTracker())

    trials = optuna.load_study(study_name="twin", storage=journal(tmp_path)).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "PRUNED"] and outcome.n_pruned == 1
    assert len(trials[0].values) == 2 and trials[0].values[1] > 0  # the number of parameters
    # The first objective's reports went to the twin study, where the pruner judged them.
    twin = optuna.load_study(study_name=f"twin{PRIMARY_SUFFIX}", storage=journal(tmp_path)).trials
    assert [t.state.name for t in twin] == ["COMPLETE", "PRUNED"]
    assert len(twin[1].intermediate_values) < 4 and not trials[1].intermediate_values
    assert twin[0].value == pytest.approx(trials[0].values[0]) and outcome.best_number == 0
