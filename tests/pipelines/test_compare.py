"""`kerashpo compare`: the chosen models of several searches side by side, refused on unequal splits."""

from __future__ import annotations

from helpers import tracking_uri, write_pipeline
from mlflow import MlflowClient

from kerashpo.pipelines.cli import main
from kerashpo.pipelines.data.loaders import load_builtin
from kerashpo.pipelines.data.splits import split_dataset


def test_the_split_fingerprint_changes_with_the_seed_the_fractions_and_the_data():
    iris = load_builtin("iris")
    same = split_dataset(iris, 0.2, 0.2, seed=7).fingerprint
    assert same == split_dataset(iris, 0.2, 0.2, seed=7).fingerprint
    others = {split_dataset(iris, 0.2, 0.2, seed=8).fingerprint, split_dataset(iris, 0.25, 0.2, seed=7).fingerprint,
              split_dataset(load_builtin("wine"), 0.2, 0.2, seed=7).fingerprint}
    assert same not in others and len(others) == 3


def _search(directory, name: str, seed: int) -> str:
    config = write_pipeline(directory, name=name, dataset="iris", trials=1, max_epochs=2)
    assert main(["run", str(config), "--seed", str(seed)]) == 0
    client = MlflowClient(tracking_uri(directory))
    (parent,) = client.search_runs([client.get_experiment_by_name(name).experiment_id],
                                   "tags.`kerashpo.role` = 'search'")
    return parent.info.run_id


def test_compare_shows_searches_on_the_same_splits_and_refuses_other_splits_in_one_line(in_run_dir, capsys):
    first, same_splits, other_seed = (_search(in_run_dir, name, seed)
                                      for name, seed in (("first", 7), ("again", 7), ("reseeded", 8)))
    capsys.readouterr()

    assert main(["compare", first, same_splits, "--format", "csv"]) == 0
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert lines[0].split(",")[:6] == ["run", "experiment", "study", "driver", "objective", "validation"]
    assert "test_accuracy" in lines[0].split(",") and len(lines) == 3 and not out.err
    assert {line.split(",")[1] for line in lines[1:]} == {"first", "again"}
    client = MlflowClient(tracking_uri(in_run_dir))
    fingerprints = {client.get_run(r).data.tags["split_fingerprint"] for r in (first, same_splits, other_seed)}
    assert len(fingerprints) == 2
    # The baseline (same rows) carries the search's fingerprint.
    baseline = client.search_runs([client.get_run(first).info.experiment_id], "tags.`kerashpo.role` = 'baseline'")
    assert baseline[0].data.tags["split_fingerprint"] == client.get_run(first).data.tags["split_fingerprint"]

    assert main(["compare", first, other_seed]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different splits" in err[0] and "--allow-different-splits" in err[0], err
    assert all(f in err[0] for f in {client.get_run(r).data.tags["split_fingerprint"] for r in (first, other_seed)})

    assert main(["compare", first, other_seed, "--allow-different-splits"]) == 0
    out = capsys.readouterr()
    assert "not comparable" in out.err and "reseeded" in out.out

    trial = client.search_runs([client.get_run(first).info.experiment_id], "tags.`kerashpo.role` = 'trial'")[0]
    assert main(["compare", first, trial.info.run_id]) == 2
    assert "pass the parent run of a search or ablation" in capsys.readouterr().err
    assert main(["compare", first, "no-such-run"]) == 2
    assert "no run 'no-such-run'" in capsys.readouterr().err
