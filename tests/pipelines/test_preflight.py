"""Checks before the first trial (``pipelines.preflight``): what would fail only once the search is over is
refused in one line before it starts, and a search that can be shipped passes untouched, with nothing written.

Real data, real untrained Keras models, the real export code; nothing is mocked.
"""

from __future__ import annotations

import inspect
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kerashpo.pipelines.config import parse_config
from kerashpo.pipelines.data.splits import data_spec, load_dataset, split_dataset
from kerashpo.pipelines.runtime.stores import resolve_stores
from kerashpo.pipelines.ship.preflight import ExportCheckError, check_export
from kerashpo.search.training.sources import as_source
from kerashpo.spaces import MLP


def table(rows: int = 60) -> pd.DataFrame:
    # "True" once passed every trial and then failed writing the SavedModel: a keyword names no argument.
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"é col": rng.normal(size=rows), "price ($)": rng.normal(size=rows),
                          "kind": rng.choice(["a", "b"], size=rows), "True": rng.choice([True, False], size=rows),
                          "class": rng.integers(0, 3, size=rows)})
    frame["y"] = (frame["é col"] > 0).astype(int)
    return frame


def prepared(directory: Path, document: dict, data: object = None) -> tuple:
    """What the run holds before its first trial: config, dataset, splits, spec and stores."""
    config = parse_config({"name": "pre", **document})
    dataset = load_dataset(config, directory, data)
    splits = split_dataset(dataset, config.split.validation, config.split.test, config.seed)
    return config, dataset, splits, data_spec(dataset, splits), resolve_stores(directory)


@pytest.fixture
def scratch(tmp_path, monkeypatch) -> Path:
    """A working folder, and a temp folder of its own so that leftovers can be seen."""
    work, temp = tmp_path / "work", tmp_path / "temp"
    work.mkdir()
    temp.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    return work


def nothing_left(work: Path) -> None:
    assert list(work.iterdir()) == [], list(work.iterdir())
    # TensorFlow's autograph keeps generated sources there; the probe's own folder must be gone.
    assert [p for p in Path(tempfile.gettempdir()).iterdir() if p.name.startswith("kerashpo")] == []


def test_a_table_with_odd_column_names_passes_and_writes_nothing(scratch):
    config, dataset, splits, spec, stores = prepared(scratch, {"dataset": {"target": "y"}}, data=table())
    check_export(config, dataset, splits, spec, as_source(MLP), stores)
    nothing_left(scratch)


def test_digits_passes(scratch):
    config, dataset, splits, spec, stores = prepared(scratch, {"dataset": {"name": "digits"}})
    check_export(config, dataset, splits, spec, as_source(MLP), stores)
    nothing_left(scratch)


def lambda_model(hp):
    import keras

    inputs = keras.Input(shape=(4,), name="features")
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)  # saves, but never loads in safe mode
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(hp.Int("units", 4, 8))(x))
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_a_model_that_cannot_be_reloaded_safely_is_refused_before_the_search(scratch):
    # The run's end reloads the champion's checkpoint in safe mode: it would fail after the last trial.
    config, dataset, splits, spec, stores = prepared(scratch, {"dataset": {"name": "iris"}})
    with pytest.raises(ExportCheckError) as refused:
        check_export(config, dataset, splits, spec, as_source(lambda_model), stores)
    line = str(refused.value)
    assert "\n" not in line
    assert "loading the saved model in safe mode" in line and "Lambda" in line, line
    nothing_left(scratch)


def test_inputs_tensorflow_refuses_are_refused_naming_the_column(scratch):
    # What the data layer once produced for "cat é": an input name TensorFlow refuses as a scope name.
    config, dataset, splits, spec, stores = prepared(scratch, {"dataset": {"target": "y"}}, data=table())
    dataset.columns["kind"] = "kind_é"
    for x in (dataset.x, splits.x_train, splits.x_val, splits.x_test):
        x["kind_é"] = x.pop("kind")
    with pytest.raises(ExportCheckError) as refused:
        check_export(config, dataset, splits, data_spec(dataset, splits), as_source(MLP), stores)
    assert "for column 'kind'" in str(refused.value), refused.value
    nothing_left(scratch)


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_an_export_folder_that_cannot_be_made_is_refused(scratch, where):
    (scratch / "taken").write_text("keep me\n")
    target = scratch / "taken" if where == "a file" else scratch / "taken" / "export"
    config, dataset, splits, spec, stores = prepared(
        scratch, {"dataset": {"name": "iris"}, "export": {"dir": str(target)}})
    with pytest.raises(ExportCheckError, match="export.dir"):
        check_export(config, dataset, splits, spec, as_source(MLP), stores)
    assert (scratch / "taken").read_text() == "keep me\n"


def test_kerashpo_run_refuses_before_the_first_trial_and_writes_no_store(scratch, capsys):
    from kerashpo.pipelines.cli import main

    (scratch / "lambda_model.py").write_text(textwrap.dedent(inspect.getsource(lambda_model)))
    (scratch / "lam.yaml").write_text(textwrap.dedent("""\
        name: lam
        dataset: {name: iris}
        build_model: lambda_model:lambda_model
        objective: {metric: val_loss}
        budget: {trials: 1, max_epochs: 1}
        report: false
    """))
    assert main(["run", "lam.yaml"]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip().startswith("kerashpo: error: export check:") and "Traceback" not in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert "[1/1]" not in captured.out  # no trial ran
    assert not (scratch / "mlruns").exists()
