"""`kerashpo ablate`: the champion of a finished search retrained as variants on the search's own splits.

One tiny iris search (module fixture) is ablated by the tests that need a search. Its space fixes dropout,
batch norm and L2 on, so the champion surely has regularizers to switch off.

How the tests prove the test rows are never read without ``--test``: the split is wrapped so that the test
rows' features and targets are replaced, after the split fingerprint is computed from the row numbers, by a
stand-in that records every way of reading them (length, indexing, conversion to an array, any attribute);
any other use (arithmetic, iteration by protocol) raises. Without ``--test`` nothing is recorded; with it, the
same stand-in records the one evaluation, so the instrument is shown to see reads.
"""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import copy_store, tracking_uri
from mlflow import MlflowClient

from kerashpo.pipelines.ablation.variants import (
    DEFAULT_STRENGTH,
    Knobs,
    built_in_variants,
    knobs_for,
    select,
    user_variants,
)
from kerashpo.pipelines.cli import main
from kerashpo.pipelines.review.champion import typed_value
from kerashpo.spaces import UserError
from kerashpo.spaces.presets.mlp import MLP

pytestmark = pytest.mark.xdist_group("ablation")  # one worker runs the module and builds its search once

SPACE = textwrap.dedent("""\
    extends: mlp
    params:
      n_layers: {type: int, low: 1, high: 2}
      units_*: {type: int, low: 8, high: 32, log: true}
      dropout: {type: float, low: 0.1, high: 0.3}
      batch_norm: true
      l1_enabled: false
      l2_enabled: true
      learning_rate: {type: float, low: 0.003, high: 0.03, log: true}
      batch_size: [32]
""")
CONFIG = textwrap.dedent("""\
    name: ablated
    dataset: {name: iris}
    space: space.yaml
    optuna: {sampler: random, pruner: none}
    budget: {trials: 1, max_epochs: 3, patience: 2}
    report: false
    seed: 7
    export: {formats: [keras]}
""")
TABULAR_VARIANTS = ["champion", "none", "l1", "l2", "elastic_net", "dropout", "batch_norm", "early_stopping"]


@pytest.fixture(scope="module")
def searched(tmp_path_factory, empty_mlflow_db) -> Path:
    """A folder where one tiny search of ``ablated.yaml`` has finished."""
    from helpers import chdir

    directory = copy_store(empty_mlflow_db, tmp_path_factory.mktemp("ablation"))
    (directory / "space.yaml").write_text(SPACE)
    (directory / "ablated.yaml").write_text(CONFIG)
    with chdir(directory):
        assert main(["run", "ablated.yaml"]) == 0
    return directory


class Watched:
    """Stands in for the test rows and records every read of them."""

    def __init__(self, rows, reads: list[str]):
        self._rows, self._reads = rows, reads

    def __getattr__(self, name):
        self._reads.append(f".{name}")
        return getattr(self._rows, name)

    def __len__(self):
        self._reads.append("len")
        return len(self._rows)

    def __getitem__(self, key):
        self._reads.append("[]")
        return self._rows[key]

    def __array__(self, dtype=None, copy=None):
        self._reads.append("array")
        return np.asarray(self._rows, dtype=dtype)


@pytest.fixture
def test_reads(monkeypatch) -> list[str]:
    """The reads of the test rows made by whatever runs in the test (the split is the only one wrapped)."""
    import dataclasses

    import kerashpo.pipelines.run.prepare as prepare_module

    reads: list[str] = []
    split = prepare_module.split_for

    def watched_split(*args, **kwargs):
        splits = split(*args, **kwargs)
        return dataclasses.replace(splits, x_test=Watched(splits.x_test, reads), y_test=Watched(splits.y_test, reads))

    monkeypatch.setattr(prepare_module, "split_for", watched_split)
    return reads


def _runs(directory: Path, role: str) -> list:
    client = MlflowClient(tracking_uri(directory))
    experiment = client.get_experiment_by_name("ablated").experiment_id
    return client.search_runs([experiment], f"tags.`kerashpo.role` = '{role}'", max_results=1000)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_ablate_writes_every_variant_tracks_equal_fingerprints_and_never_reads_the_test_rows(
        searched, monkeypatch, capsys, test_reads):
    monkeypatch.chdir(searched)
    (search,) = _runs(searched, "search")
    assert main(["ablate", "ablated.yaml", "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    assert test_reads == []  # no length, row, array or attribute of the test split was ever asked for

    folder = searched / "mlruns" / "ablations" / "ablated"
    rows = _rows(folder / "ablation.csv")
    assert [row["variant"] for row in rows] == TABULAR_VARIANTS  # iris is tabular: no augmentation row
    assert {"val_log_loss_mean", "val_log_loss_std", "gap_mean", "gap_std", "epochs", "params", "seconds",
            "diff_vs_champion", "p_value"} <= set(rows[0])
    assert all(row["runs"] == "2/2" and float(row["val_log_loss_mean"]) > 0 for row in rows)
    by_name = {row["variant"]: row for row in rows}
    assert by_name["l2"]["sets"].endswith("(champion's) only")  # the space fixed L2 on: the champion has one
    assert by_name["l1"]["sets"] == f"L1 {DEFAULT_STRENGTH['l1']:.3g} (default) only"  # the space fixed L1 off
    assert int(by_name["none"]["params"]) < int(by_name["champion"]["params"])  # no batch norm weights
    markdown = (folder / "ablation.md").read_text()
    assert "test split not read" in markdown and "p (paired t)" in markdown and "| early_stopping |" in markdown
    assert "test split not read" in out and "written:" in out
    for figure in ("ablation_bars", "ablation_curves"):
        assert (folder / f"{figure}.png").stat().st_size > 0 and (folder / f"{figure}.html").stat().st_size > 0

    parent = max(_runs(searched, "ablation"), key=lambda run: run.info.start_time)
    children = [c for c in _runs(searched, "ablation_run") if c.data.tags["mlflow.parentRunId"] == parent.info.run_id]
    fingerprint = search.data.tags["split_fingerprint"]
    assert parent.data.tags["kerashpo.search_run"] == search.info.run_id
    assert parent.data.tags["split_fingerprint"] == fingerprint
    assert {c.data.tags["split_fingerprint"] for c in children} == {fingerprint}
    assert sorted((c.data.tags["variant"], c.data.tags["seed"]) for c in children) == sorted(
        (name, seed) for name in TABULAR_VARIANTS for seed in ("7", "8"))
    champion_mean = float(by_name["champion"]["val_log_loss_mean"])  # written with 6 digits
    assert parent.data.metrics["best_val_log_loss"] == pytest.approx(champion_mean, rel=1e-5)
    assert not any(name.startswith("test_") for name in parent.data.metrics)
    early = [c for c in children if c.data.tags["variant"] == "early_stopping"]
    assert all(c.data.metrics["epochs_run"] == 3 for c in early)  # the whole budget, whatever the patience
    artifacts = {a.path for a in MlflowClient(tracking_uri(searched)).list_artifacts(parent.info.run_id)}
    assert {"ablation.csv", "ablation.md", "ablation_bars.png", "ablation_curves.html"} <= artifacts


@pytest.mark.slow
def test_variants_switch_the_regularizers_in_the_built_model(searched, monkeypatch):
    from kerashpo.pipelines.ablation.run import plan_ablation
    from kerashpo.pipelines.config import load_config
    from kerashpo.pipelines.run.prepare import prepare_training
    from kerashpo.search.training.sampling import FixedSampling

    monkeypatch.chdir(searched)
    config = load_config(searched / "ablated.yaml")
    training = prepare_training(config, workdir=searched)
    plan = plan_ablation(config, training, from_run=None, variants=None, seeds=2, test=False)
    variants = {v.name: v for v in plan.variants}
    assert list(variants) == TABULAR_VARIANTS

    def regularizers(name: str) -> dict[str, object]:
        _, model = training.source.build(FixedSampling(variants[name].params), training.spec)
        kinds = {type(layer).__name__ for layer in model.layers}
        penalties = [layer.kernel_regularizer.get_config() for layer in model.layers
                     if getattr(layer, "kernel_regularizer", None) is not None]
        return {"dropout": "Dropout" in kinds, "batch_norm": "BatchNormalization" in kinds, "penalties": penalties}

    champion = plan.champion
    assert regularizers("champion") == {"dropout": True, "batch_norm": True,
                                        "penalties": [{"l1": 0.0, "l2": pytest.approx(champion["l2"])}]
                                        * champion["n_layers"]}
    assert regularizers("none") == {"dropout": False, "batch_norm": False, "penalties": []}
    assert regularizers("l2") == {"dropout": False, "batch_norm": False,
                                  "penalties": [{"l1": 0.0, "l2": pytest.approx(champion["l2"])}]
                                  * champion["n_layers"]}
    assert regularizers("dropout")["dropout"] and not regularizers("dropout")["penalties"]
    assert variants["dropout"].params["dropout"] == champion["dropout"]
    assert regularizers("batch_norm") == {"dropout": False, "batch_norm": True, "penalties": []}


@pytest.mark.slow
def test_a_bad_variant_or_other_splits_are_refused_in_one_line_with_nothing_written(searched, monkeypatch, capsys):
    monkeypatch.chdir(searched)
    before = {run.info.run_id for role in ("ablation", "ablation_run") for run in _runs(searched, role)}
    listing = sorted(p.name for p in (searched / "mlruns").rglob("*"))
    cases = {
        "ablation: {variants: {wide: {dropout: 0.9}}}\n": "ablation.variants.wide.dropout: 0.9 is not in the space",
        "ablation: {variants: {odd: {no_such: 1}}}\n": "ablation.variants.odd.no_such: the space has no parameter",
        "ablation: {variants: {l2: {l2: 0.001}}}\n": "'l2' is a built-in variant",
        "ablation: {seeds: 0}\n": "ablation.seeds",
    }
    for extra, expected in cases.items():
        (searched / "bad.yaml").write_text(CONFIG + extra)
        assert main(["ablate", "bad.yaml"]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], (extra, err)
    (searched / "bad.yaml").write_text(CONFIG.replace("seed: 7", "seed: 8"))
    assert main(["ablate", "bad.yaml"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "was made on other splits" in err[0], err
    assert main(["ablate", "ablated.yaml", "--variants", "augmentation"]) == 2
    assert "only for image data; this dataset is tabular" in capsys.readouterr().err
    assert main(["ablate", "ablated.yaml", "--from", "no-such-run"]) == 2
    assert "--from: no run 'no-such-run'" in capsys.readouterr().err
    after = {run.info.run_id for role in ("ablation", "ablation_run") for run in _runs(searched, role)}
    assert after == before and sorted(p.name for p in (searched / "mlruns").rglob("*")) == listing


@pytest.mark.slow
def test_with_test_each_variant_is_scored_once_on_test_and_the_title_says_so(searched, monkeypatch, capsys,
                                                                              test_reads):
    monkeypatch.chdir(searched)
    assert main(["ablate", "ablated.yaml", "--seeds", "2", "--variants", "l2", "--test"]) == 0
    assert test_reads  # the instrument of the test above does see reads
    folder = searched / "mlruns" / "ablations" / "ablated"
    rows = _rows(folder / "ablation.csv")
    assert [row["variant"] for row in rows] == ["champion", "l2"]
    assert all(row["test_accuracy_mean"] for row in rows)
    assert "test split read once per variant (--test)" in (folder / "ablation.md").read_text()
    parent = max(_runs(searched, "ablation"), key=lambda run: run.info.start_time)
    assert parent.data.tags["test_read"] == "true" and "test_accuracy" in parent.data.metrics
    # The ablation's parent carries what `kerashpo compare` reads, on the search's splits.
    (search,) = _runs(searched, "search")
    capsys.readouterr()
    assert main(["compare", search.info.run_id, parent.info.run_id, "--format", "csv"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3


def test_a_build_model_source_ablates_only_what_its_own_parameters_allow():
    knobs = knobs_for(None, (), image_data=False, source_name="mymodel:build_model")
    champion = {"units": 32, "dropout": 0.25}
    available = {**built_in_variants(champion, knobs, max_epochs=10),
                 **user_variants({"narrow": {"units": 8}}, champion, space=None)}
    assert list(available) == ["champion", "early_stopping", "narrow"]
    assert available["narrow"].params == {"units": 8, "dropout": 0.25}
    with pytest.raises(UserError, match="build_model mymodel:build_model, whose parameters are its own"):
        select(available, ["l2"], knobs, image_data=False)
    with pytest.raises(UserError, match="sampled no 'width'"):
        user_variants({"wide": {"width": 64}}, champion, space=None)


def test_variants_of_an_image_champion_switch_augmentation_and_state_their_strengths():
    from kerashpo.spaces.presets.cnn import CNN, DEFAULTS

    champion = {"n_blocks": 1, "filters_1": 8, "dropout": 0.0, "batch_norm": False, "l1_enabled": False,
                "l2_enabled": True, "l2": 3e-4, "flip": "horizontal", "rotation": 0.1, "zoom": 0.0}
    knobs = knobs_for(CNN.space, tuple(DEFAULTS), image_data=True, source_name="cnn")
    assert knobs == Knobs(("dropout", "batch_norm", "l1", "l2"), True)
    variants = built_in_variants(champion, knobs, max_epochs=10)
    assert list(variants) == ["champion", "none", "l1", "l2", "elastic_net", "dropout", "batch_norm",
                              "early_stopping", "augmentation"]
    assert variants["none"].params["flip"] == "none" and "l2" not in variants["none"].params
    assert variants["l2"].sets == "L2 0.0003 (champion's) only"
    assert variants["dropout"].sets == "dropout 0.2 (default) only"
    elastic = variants["elastic_net"].params
    assert (elastic["l1"], elastic["l2"]) == (DEFAULT_STRENGTH["l1"], 3e-4)
    assert variants["augmentation"].sets == "augmentation off (champion's: flip horizontal, rotation 0.1)"
    assert not variants["early_stopping"].early_stopping
    with pytest.raises(UserError, match="l1: is used only when l1_enabled in \\[True\\]"):
        user_variants({"strong": {"l1": 1e-3}}, {**champion, "l2_enabled": False}, CNN.space)


def test_mlflow_text_is_typed_back_as_the_space_declares_it():
    space = MLP.space
    assert typed_value(space["batch_norm"], "False") is False
    assert typed_value(space["n_layers"], "3") == 3
    assert typed_value(space["learning_rate"], "0.0012") == 0.0012
    assert typed_value(space["clipnorm"], "5.0") == 5.0 and isinstance(typed_value(space["clipnorm"], "5.0"), float)
    assert typed_value(space["batch_size"], "64") == 64
    assert typed_value(space["activation"], "relu") == "relu"
    assert typed_value(None, "0.5") == 0.5 and typed_value(None, "adam") == "adam"


def test_a_linear_champion_gets_no_dropout_or_batch_norm_variant_and_the_table_says_why():
    from kerashpo.pipelines.ablation.run import inert_regularizers
    from kerashpo.search.training.sources import SpaceSource
    from kerashpo.spaces.presets.mlp import DEFAULTS, LINEAR

    inert = inert_regularizers(SpaceSource(MLP), dict(LINEAR))
    knobs = knobs_for(MLP.space, tuple(DEFAULTS), image_data=False, source_name="mlp", inert=inert)
    assert knobs.regularizers == ("l1", "l2") and "dropout, batch_norm not trained" in knobs.note()
    variants = built_in_variants(dict(LINEAR), knobs, max_epochs=10)
    assert list(variants) == ["champion", "none", "l1", "l2", "elastic_net", "early_stopping"]
    assert variants["none"].sets == "no L1, L2"
    with pytest.raises(UserError, match="--variants dropout: it would change nothing: the champion is linear"):
        select(variants, ["dropout"], knobs, image_data=False)
    assert inert_regularizers(SpaceSource(MLP), {**LINEAR, "n_layers": 1}) == {}
