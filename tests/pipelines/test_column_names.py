"""CSV columns with any names search, export, serve and predict under the names the user gave them.

One tiny search (2 trials, 2 epochs) on a CSV written here whose columns have spaces, accents, punctuation,
leading digits, no ASCII at all, 300 characters, names that meet once cleaned up (``a b`` and ``a_b``, ``Q`` and
``q``), names of the builder's own layers (``dense``, ``normalize``, ``kind_one_hot`` beside a category
``kind``) and names of the parameters of the functions a SavedModel signature's arguments pass through (``self``,
``args``, ``kwargs``, ``feed``). Every way of scoring the champion then takes those original names.
"""

from __future__ import annotations

import json
import keyword
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import SIGNATURE_PARAMETERS, copy_store
from mlflow import MlflowClient

from kerashpo.pipelines.cli import main
from kerashpo.pipelines.data.loaders import input_name

LONG = ("a column name written as a whole sentence, as some exports do, " * 6)[:300]
NUMERIC = ["é col", "price ($)", "a/b", "x.y", "2nd", "a b", "a_b", LONG, "kind_one_hot", "dense", "normalize",
           "价格", "Q", "q", *SIGNATURE_PARAMETERS]
TEXT = ["ville/città", "kind"]
NAME = "odd_columns"
# The tests reading the module's one search run in one xdist worker, so it runs once.
SEARCHED = pytest.mark.xdist_group("column_names")


def odd_table(rows: int = 150, seed: int = 0) -> pd.DataFrame:
    """Numbers and categories under odd names, some values missing; the target follows two of them."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=rows).round(3) for name in NUMERIC})
    frame["ville/città"] = rng.choice(["Zürich", "São Paulo", "Montréal"], size=rows)
    frame["kind"] = rng.choice(["a", "b", "c"], size=rows)
    frame.loc[rng.choice(rows, 12, replace=False), "price ($)"] = np.nan
    frame.loc[rng.choice(rows, 9, replace=False), "ville/città"] = None
    frame["y"] = np.where(frame["é col"] + (frame["kind"] == "a") > 0.3, "yes", "no")
    return frame


def raw_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows as a client sends them: the features only, with a category never seen and values missing."""
    rows = frame.drop(columns=["y"]).head(8).copy()
    rows.loc[rows.index[0], "kind"] = "never seen"
    rows.loc[rows.index[1], LONG] = np.nan
    rows.loc[rows.index[2], "ville/città"] = None
    return rows


@pytest.fixture(scope="module")
def searched(tmp_path_factory, empty_mlflow_db) -> Path:
    directory = copy_store(empty_mlflow_db, tmp_path_factory.mktemp("odd_columns"))
    odd_table().to_csv(directory / "odd.csv", index=False)
    (directory / f"{NAME}.yaml").write_text(textwrap.dedent(f"""\
        name: {NAME}
        dataset: {{path: odd.csv, target: y}}
        budget: {{trials: 2, max_epochs: 2, patience: 2}}
        report: false
        seed: 3
    """))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(directory)
        assert main(["run", f"{NAME}.yaml", "--trials", "2", "--max-epochs", "2"]) == 0
    return directory


def uri(directory: Path) -> str:
    return f"sqlite:///{directory / 'mlruns' / 'mlflow.db'}"


def keras_scores(directory: Path, rows: pd.DataFrame) -> np.ndarray:
    """The exported .keras file on the rows, fed by input name through the schema's mapping."""
    import keras

    from kerashpo.pipelines.serving import table_tensors

    export = directory / "mlruns" / "exports" / NAME
    schema = json.loads((export / "schema.json").read_text())
    return keras.saving.load_model(export / "model.keras").predict(table_tensors(rows, schema), verbose=0)[:, 0]


@pytest.mark.slow
@SEARCHED
def test_the_schema_and_signature_keep_the_original_names_and_the_inputs_are_safe(searched):
    schema = json.loads((searched / "mlruns" / "exports" / NAME / "schema.json").read_text())
    assert [item["column"] for item in schema["inputs"]] == NUMERIC + TEXT
    names = [item["name"] for item in schema["inputs"]]
    assert all(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,80}", n) for n in names), names
    assert len({n.lower() for n in names}) == len(names), names
    assert {"dense", "normalize", "kind_one_hot"}.isdisjoint(names)  # the builder's own layers keep theirs
    by_column = {item["column"]: item["name"] for item in schema["inputs"]}
    assert by_column["é col"] == "e_col" and by_column["2nd"].startswith("c_2nd")
    assert by_column["self"] != "self"

    client = MlflowClient(uri(searched))
    (parent,) = client.search_runs([client.get_experiment_by_name(NAME).experiment_id],
                                   "tags.`kerashpo.role` = 'search'")
    assert parent.info.status == "FINISHED"
    import mlflow

    from kerashpo.search.tracking import using_tracking_uri

    with using_tracking_uri(uri(searched)):
        model = mlflow.models.get_model_info(f"models:/{NAME}@champion")
    assert model.signature.inputs.input_names() == NUMERIC + TEXT


@pytest.mark.slow
@SEARCHED
def test_kerashpo_predict_reads_a_csv_with_the_original_names(searched, tmp_path, capsys):
    frame = odd_table()
    rows = raw_rows(frame)
    rows.to_csv(tmp_path / "rows.csv", index=False)
    frame.head(8).to_csv(tmp_path / "with_target.csv", index=False)  # the target column may stay in the file
    export = searched / "mlruns" / "exports" / NAME
    assert main(["predict", "--model", str(export), str(tmp_path / "rows.csv"), "--out", str(tmp_path / "p.csv")]) == 0
    assert main(["predict", "--model", str(export), str(tmp_path / "with_target.csv"),
                 "--out", str(tmp_path / "q.csv")]) == 0
    predicted = pd.read_csv(tmp_path / "p.csv")
    assert len(predicted) == len(rows) and set(predicted["prediction"]) <= {"yes", "no"}
    expected = keras_scores(searched, pd.read_csv(tmp_path / "rows.csv"))
    np.testing.assert_allclose(predicted["probability_yes"], expected, atol=1e-5)
    # A column missing from the file is named in one line, under its original name.
    rows.drop(columns=["é col"]).to_csv(tmp_path / "short.csv", index=False)
    capsys.readouterr()
    assert main(["predict", "--model", str(export), str(tmp_path / "short.csv")]) == 2
    assert "missing column(s) é col" in capsys.readouterr().err


@pytest.mark.slow
@SEARCHED
def test_the_saved_model_takes_the_original_names(searched):
    import tensorflow as tf

    rows = raw_rows(odd_table())
    expected = keras_scores(searched, rows)
    feed = {c: tf.constant(rows[c].astype(object).where(rows[c].notna(), "").astype(str).to_numpy()[:, None])
            if c in TEXT else tf.constant(rows[c].to_numpy("float32")[:, None]) for c in rows.columns}
    loaded = tf.saved_model.load(str(searched / "mlruns" / "exports" / NAME / "saved_model"))
    np.testing.assert_allclose(loaded.serve(feed).numpy()[:, 0], expected, atol=1e-5)
    # TF Serving's flat signature names each tensor by its input name (the schema's "name").
    schema = json.loads((searched / "mlruns" / "exports" / NAME / "schema.json").read_text())
    flat = loaded.signatures["serve"].structured_input_signature[1]
    assert set(flat) == {item["name"] for item in schema["inputs"]}
    by_column = {item["column"]: item["name"] for item in schema["inputs"]}
    (scores,) = loaded.signatures["serve"](**{by_column[c]: tensor for c, tensor in feed.items()}).values()
    np.testing.assert_allclose(scores.numpy()[:, 0], expected, atol=1e-5)


@pytest.mark.slow
@SEARCHED
def test_the_mlflow_model_takes_the_original_names(searched):
    import mlflow

    from kerashpo.search.tracking import using_tracking_uri

    rows = raw_rows(odd_table())
    with using_tracking_uri(uri(searched)):
        predicted = mlflow.pyfunc.load_model(f"models:/{NAME}@champion").predict(rows)
    np.testing.assert_allclose(predicted["probability_yes"], keras_scores(searched, rows), atol=1e-5)


@pytest.mark.parametrize("columns", [
    ["a b", "a_b", "a-b", "a__b", "a_b_2"],
    ["dense", "dense_1", "dense.1", "Dense", "where", "isnan", "head", "x", "x_one_hot", "x_lookup"],
    ["价格", "数量", "_", "", "2", "2nd", "é", "e"],
    [LONG, LONG[:-1] + "!", LONG[:64] + "other"],
    ["True", "None", "class", "false", "False"],  # Python keywords cannot name a SavedModel argument
    ["self", "Self", "self_input", "args", "kwargs"],  # nor the parameters of the methods it is passed to
])
def test_input_names_are_unique_safe_and_clear_of_the_builders_layers(columns):
    from kerashpo.spaces.presets.inputs import reserved_input_name

    names: list[str] = []
    for column in columns:
        names.append(input_name(column, names))
    assert len({n.lower() for n in names}) == len(names), names
    for name in names:
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) and len(name) <= 80, name
        assert not reserved_input_name(name) and not keyword.iskeyword(name) and name != "self", name


def test_input_names_clear_the_parameters_of_tensorflows_function_methods():
    """A SavedModel signature's arguments reach these methods as keywords, beside the methods' own parameters."""
    import inspect

    import tensorflow as tf

    methods = (tf.types.experimental.PolymorphicFunction.__call__,
               tf.types.experimental.PolymorphicFunction.get_concrete_function,
               tf.types.experimental.ConcreteFunction.__call__)
    parameters = {p.name for method in methods for p in inspect.signature(method).parameters.values()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    assert parameters
    for parameter in parameters:
        assert input_name(parameter, []) != parameter
