"""Datasets from real files: every bad file is one line and exit 2 with nothing written; loaders keep what matters.

Every file here is written by the test (CSV, Parquet, NPZ, PNG) under tmp_path; nothing is mocked.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from kerashpo.pipelines.cli import main
from kerashpo.pipelines.config import ConfigError, parse_config
from kerashpo.pipelines.data.dataset import DataError
from kerashpo.pipelines.data.splits import data_spec, load_dataset, split_dataset
from kerashpo.spaces import CategoricalInput, ImageInput, NumericInput

REPO = Path(__file__).resolve().parents[2]


def _examples():
    spec = importlib.util.spec_from_file_location("make_examples", REPO / "pipelines" / "examples" / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXAMPLES = _examples()


def churn(rows: int = 120) -> pd.DataFrame:
    return EXAMPLES.churn(rows=rows)


def write_churn(directory: Path, name: str = "churn.csv", rows: int = 120) -> Path:
    churn(rows).to_csv(directory / name, index=False)
    return directory / name


def write_shapes(directory: Path, per_class: int = 6) -> Path:
    EXAMPLES.shapes(directory, per_class=per_class)
    return directory


def config(dataset: dict, task: str = "auto", **extra) -> object:
    return parse_config({"name": "data", "dataset": dataset, "task": task, **extra})


# ---------------------------------------------------------------------------------------------------------------
# Bad input through `kerashpo run`: one line on stderr, exit 2, no store written.
# ---------------------------------------------------------------------------------------------------------------

def _nothing(d: Path) -> None:
    pass


def _bytes(name: str, data: bytes) -> Callable[[Path], None]:
    def write(d: Path) -> None:
        (d / name).write_bytes(data)
    return write


def _churn_csv(d: Path) -> None:
    write_churn(d)


def _frame(name: str, frame: pd.DataFrame) -> Callable[[Path], None]:
    def write(d: Path) -> None:
        frame.to_csv(d / name, index=False)
    return write


def _png(path: Path, size: tuple[int, int] = (16, 16), colour=(200, 30, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def _one_class_folder(d: Path) -> None:
    for i in range(4):
        _png(d / "images" / "only" / f"{i}.png")


def _unreadable_image(d: Path) -> None:
    write_shapes(d / "images", per_class=3)
    (d / "images" / "square" / "broken.png").write_text("this is not a picture\n")


def _sizes_differ(d: Path) -> None:
    for i in range(3):
        _png(d / "images" / "cat" / f"{i}.png", (16, 16))
        _png(d / "images" / "dog" / f"{i}.png", (16, 16))
    _png(d / "images" / "dog" / "wide.png", (24, 16))


def _npz_other_keys(d: Path) -> None:
    np.savez(d / "data.npz", features=np.zeros((10, 3)), labels=np.arange(10) % 2)


def _npy_as_npz(d: Path) -> None:
    np.save(d / "arrays.npy", np.zeros((10, 3)))


def _one_hot_npz(d: Path) -> None:
    np.savez(d / "onehot.npz", x=np.zeros((30, 4)), y=np.eye(3)[np.arange(30) % 3])


_RARE = pd.DataFrame({"a": np.arange(42.0), "y": ["common"] * 20 + ["usual"] * 20 + ["rare"] * 2})
_NAN_TARGET = pd.DataFrame({"a": np.arange(30.0), "y": [1.5, np.nan, 2.5, np.nan] + [3.0] * 26})
_TEXT_NAN_TARGET = pd.DataFrame({"a": np.arange(30.0), "y": ["x", None, "z"] + ["x", "z"] * 13 + ["x"]})

CASES: dict[str, tuple[Callable[[Path], None], str, list[str]]] = {
    "missing csv": (_nothing, "dataset: {path: missing.csv, target: y}", ["missing.csv not found"]),
    "binary garbage csv": (_bytes("bad.csv", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 40),
                           "dataset: {path: bad.csv, target: y}", ["bad.csv cannot be read as csv"]),
    "unclosed quote csv": (_bytes("quote.csv", b'a,y\n1,"2\n3,4\n5,6\n'), "dataset: {path: quote.csv, target: y}",
                           ["quote.csv cannot be read as csv", "EOF inside string"]),
    "garbage parquet": (_bytes("bad.parquet", b"PAR1 not really" * 20), "dataset: {path: bad.parquet, target: y}",
                        ["bad.parquet cannot be read as parquet"]),
    "parquet without rows": (lambda d: pd.DataFrame({"a": [1.0], "y": [1]}).iloc[:0].to_parquet(d / "none.parquet"),
                             "dataset: {path: none.parquet, target: y}", ["dataset none.parquet: has no rows"]),
    "unknown target": (_churn_csv, "dataset: {path: churn.csv, target: churn}",
                       ["dataset.target: no column 'churn' in churn.csv",
                        "customer_id, tenure_months, monthly_charges", "churned"]),
    "unknown drop": (_churn_csv, "dataset: {path: churn.csv, target: churned, drop: [customer]}",
                     ["dataset.drop: no column 'customer' in churn.csv", "customer_id"]),
    "unknown categorical": (_churn_csv, "dataset: {path: churn.csv, target: churned, categorical: [calls]}",
                            ["dataset.categorical: no column 'calls'", "support_calls"]),
    "header only": (_bytes("head.csv", b"a,b,y\n"), "dataset: {path: head.csv, target: y}",
                    ["dataset head.csv: has no rows"]),
    "zero bytes": (_bytes("zero.csv", b""), "dataset: {path: zero.csv, target: y}", ["zero.csv is empty"]),
    "rare class": (_frame("rare.csv", _RARE), "dataset: {path: rare.csv, target: y}",
                   ["class 'rare' has 2 sample(s)", "needs at least 5"]),
    "nan target": (_frame("nan.csv", _NAN_TARGET), "dataset: {path: nan.csv, target: y}",
                   ["column 'y' is missing in 2 row(s)"]),
    "blank text target": (_frame("blank.csv", _TEXT_NAN_TARGET), "dataset: {path: blank.csv, target: y}",
                          ["column 'y' is missing in 1 row(s)"]),
    "infinite target": (_bytes("inf.csv", b"a,y\n" + b"".join(b"%d,%d.5\n" % (i, i) for i in range(20)) + b"20,inf\n"),
                        "dataset: {path: inf.csv, target: y}", ["column 'y' holds infinite values"]),
    "infinite feature": (_bytes("inf_x.csv", b"a,y\n" + b"".join(b"%d,%d\n" % (i, i % 2) for i in range(20))
                                + b"-inf,1\n"),
                         "dataset: {path: inf_x.csv, target: y}", ["column 'a' holds infinite values"]),
    "text target for regression": (_churn_csv, "dataset: {path: churn.csv, target: churned}\ntask: regression",
                                   ["task regression needs a numeric target", "column 'churned'"]),
    "one class folder": (_one_class_folder, "dataset: {path: images}", ["at least 2; found 1 (only)"]),
    "unreadable image": (_unreadable_image, "dataset: {path: images}",
                         ["cannot read image", "square/broken.png"]),
    "images differ in size": (_sizes_differ, "dataset: {path: images}",
                              ["images differ in size", "wide.png is 24x16", "image_size"]),
    "npz without key": (_npz_other_keys, "dataset: {path: data.npz}",
                        ["dataset.x_key", "has no array 'x'", "it holds features, labels"]),
    "empty npz": (lambda d: np.savez(d / "empty.npz", x=np.zeros((0, 3)), y=np.zeros(0)),
                  "dataset: {path: empty.npz}", ["dataset empty.npz: has no rows"]),
    "npy given as npz": (_npy_as_npz, "dataset: {path: arrays.npy, format: npz}",
                         ["arrays.npy is not an .npz archive", "numpy.savez"]),
    "text given as npz": (_bytes("notes.npz", b"x,y\n1,2\n"), "dataset: {path: notes.npz}",
                          ["notes.npz is not an .npz archive"]),
    "one-hot target in npz": (_one_hot_npz, "dataset: {path: onehot.npz}",
                              ["target has shape (30, 3)", "one label or value per row"]),
    "name and path": (_churn_csv, "dataset: {name: iris, path: churn.csv, target: churned}",
                      ["give either name", "not both"]),
    "csv without target": (_churn_csv, "dataset: {path: churn.csv}", ["a csv dataset needs target"]),
    "unknown suffix": (_bytes("data.txt", b"a,y\n1,2\n"), "dataset: {path: data.txt, target: y}",
                       ["cannot tell the format of 'data.txt'", "dataset.format"]),
    "cnn on a table": (_churn_csv, "dataset: {path: churn.csv, target: churned, drop: [customer_id]}\nspace: cnn",
                       ["space 'cnn' builds for image data", "tabular"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_data_is_one_line_exit_2_and_nothing_written(case, in_tmp, capsys):
    setup, dataset, expected = CASES[case]
    setup(in_tmp)
    path = in_tmp / "config.yaml"
    path.write_text(f"name: bad\n{dataset}\nbudget: {{trials: 1, max_epochs: 1}}\n")
    assert main(["run", str(path)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("kerashpo: error: "), err[0]
    for fragment in expected:
        assert fragment in err[0], err[0]
    assert "Traceback" not in captured.err
    assert not (in_tmp / "mlruns" / "mlflow.db").exists()
    assert not (in_tmp / "mlruns" / "optuna.journal").exists()
    assert not (in_tmp / "mlruns").exists(), "a rejected run must not create a store"


# ---------------------------------------------------------------------------------------------------------------
# Tables: CSV and Parquet.
# ---------------------------------------------------------------------------------------------------------------

def test_csv_with_text_categories_and_missing_values(tmp_path):
    frame = churn(120)
    assert frame["payment_method"].isna().any() and frame["monthly_charges"].isna().any()
    write_churn(tmp_path)
    dataset = load_dataset(config({"path": "churn.csv", "target": "churned", "drop": ["customer_id"]}),
                           base_dir=tmp_path)
    assert dataset.kind == "table"
    expected = ["tenure_months", "monthly_charges", "contract", "internet", "payment_method", "senior",
                "support_calls"]
    assert dataset.feature_names == expected
    assert list(dataset.x) == expected  # one input per feature column; no customer_id, no target
    assert dataset.columns == {c: c for c in expected}
    n = len(frame)
    for column in expected:
        assert dataset.x[column].shape == (n, 1), column

    for text in ("contract", "internet", "payment_method"):
        values = dataset.x[text]
        assert values.dtype == object
        assert all(isinstance(v, str) for v in values.ravel())
    missing = frame["payment_method"].isna().to_numpy()
    assert (dataset.x["payment_method"][missing, 0] == "").all()
    np.testing.assert_array_equal(dataset.x["payment_method"][~missing, 0], frame["payment_method"][~missing])
    np.testing.assert_array_equal(dataset.x["contract"][:, 0], frame["contract"])

    charges = dataset.x["monthly_charges"]
    assert charges.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(charges[:, 0]), frame["monthly_charges"].isna().to_numpy())
    np.testing.assert_allclose(charges[:, 0], frame["monthly_charges"].to_numpy(dtype="float32"))
    assert dataset.x["tenure_months"].dtype == np.float32
    assert dataset.x["support_calls"].dtype == np.float32

    senior = dataset.x["senior"]  # bool column: a category, not a number
    assert senior.dtype == object
    np.testing.assert_array_equal(senior[:, 0], frame["senior"].astype(str))
    assert set(senior.ravel()) == {"True", "False"}

    assert dataset.task == "binary" and dataset.n_classes == 2
    assert dataset.class_names == ["no", "yes"]
    np.testing.assert_array_equal(dataset.y, (frame["churned"] == "yes").astype("int64"))


def test_categorical_makes_a_numeric_column_a_category(tmp_path):
    frame = churn(120)
    write_churn(tmp_path)
    dataset = load_dataset(config({"path": "churn.csv", "target": "churned", "drop": ["customer_id"],
                                   "categorical": ["support_calls"]}), base_dir=tmp_path)
    calls = dataset.x["support_calls"]
    assert calls.dtype == object and calls.shape == (len(frame), 1)
    np.testing.assert_array_equal(calls[:, 0], frame["support_calls"].astype(str))
    assert dataset.x["tenure_months"].dtype == np.float32  # the others are untouched
    splits = split_dataset(dataset, 0.2, 0.2, seed=0)
    by_name = {i.name: i for i in data_spec(dataset, splits).inputs}
    assert isinstance(by_name["support_calls"], CategoricalInput)
    assert isinstance(by_name["tenure_months"], NumericInput)


def test_categorical_codes_keep_their_text(tmp_path):
    (tmp_path / "codes.csv").write_text("zip,y\n007,a\n010,b\n007,a\n")
    dataset = load_dataset(config({"path": "codes.csv", "target": "y", "categorical": ["zip"]}), base_dir=tmp_path)
    assert list(dataset.x["zip"][:, 0]) == ["007", "010", "007"]


def test_parquet_gives_the_same_dataset_as_csv(tmp_path):
    frame = churn(120)
    frame.to_csv(tmp_path / "churn.csv", index=False)
    frame.to_parquet(tmp_path / "churn.parquet", index=False)
    spec = {"target": "churned", "drop": ["customer_id"]}
    from_csv = load_dataset(config({"path": "churn.csv", **spec}), base_dir=tmp_path)
    from_parquet = load_dataset(config({"path": "churn.parquet", **spec}), base_dir=tmp_path)
    assert list(from_parquet.x) == list(from_csv.x)
    for column in from_csv.x:
        assert from_parquet.x[column].dtype == from_csv.x[column].dtype, column
        np.testing.assert_array_equal(from_parquet.x[column], from_csv.x[column], err_msg=column)
    np.testing.assert_array_equal(from_parquet.y, from_csv.y)
    assert (from_parquet.task, from_parquet.class_names) == (from_csv.task, from_csv.class_names)


def test_a_relative_path_is_found_beside_the_config_and_a_folder_is_not_a_csv(tmp_path):
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(DataError, match="is a folder"):
        load_dataset(config({"path": "folder.csv", "target": "y"}), base_dir=tmp_path)
    with pytest.raises(DataError, match="not found"):
        load_dataset(config({"path": "absent.csv", "target": "y"}), base_dir=tmp_path)


# ---------------------------------------------------------------------------------------------------------------
# NPZ and image folders.
# ---------------------------------------------------------------------------------------------------------------

def test_npz_2d_is_an_array_dataset(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 5)), np.arange(40) % 3
    np.savez(tmp_path / "table.npz", x=x, y=y)
    dataset = load_dataset(config({"path": "table.npz"}), base_dir=tmp_path)
    assert dataset.kind == "array"
    assert dataset.x.shape == (40, 5) and dataset.x.dtype == np.float32
    np.testing.assert_allclose(dataset.x, x.astype("float32"))
    assert dataset.feature_names == ["x0", "x1", "x2", "x3", "x4"]
    assert dataset.task == "multiclass" and dataset.n_classes == 3
    np.testing.assert_array_equal(dataset.y, y)


def test_npz_3d_is_images_with_a_channel_axis_and_custom_keys(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(30, 6, 7), dtype=np.uint8)
    labels = np.array(["cat", "dog"] * 15)
    np.savez(tmp_path / "pics.npz", pixels=images, label=labels)
    dataset = load_dataset(config({"path": "pics.npz", "x_key": "pixels", "y_key": "label"}), base_dir=tmp_path)
    assert dataset.kind == "image"
    assert dataset.x.shape == (30, 6, 7, 1) and dataset.x.dtype == np.uint8
    np.testing.assert_array_equal(dataset.x[..., 0], images)
    assert dataset.task == "binary" and dataset.class_names == ["cat", "dog"]
    np.testing.assert_array_equal(dataset.y, (labels == "dog").astype("int64"))
    with pytest.raises(DataError, match="dataset.y_key: .* has no array 'y'; it holds pixels, label"):
        load_dataset(config({"path": "pics.npz", "x_key": "pixels"}), base_dir=tmp_path)


def test_image_folder_rgb_grayscale_and_resize(tmp_path):
    root = tmp_path / "pets"
    # Created out of order: labels follow the sorted folder names, not creation order.
    for folder, colour in (("zebra", (250, 250, 250)), ("ant", (10, 20, 30)), ("moth", (120, 60, 200))):
        for i in range(4):
            _png(root / folder / f"{i}.png", (10, 8), colour)
    (root / "ant" / "notes.txt").write_text("not an image, skipped")

    rgb = load_dataset(config({"path": "pets"}), base_dir=tmp_path)
    assert rgb.kind == "image" and rgb.x.dtype == np.uint8
    assert rgb.x.shape == (12, 8, 10, 3)  # (n, height, width, channels)
    assert rgb.class_names == ["ant", "moth", "zebra"]
    np.testing.assert_array_equal(rgb.y, np.repeat([0, 1, 2], 4))
    assert (rgb.x[0] == (10, 20, 30)).all() and (rgb.x[-1] == 250).all()

    gray = load_dataset(config({"path": "pets", "color_mode": "grayscale"}), base_dir=tmp_path)
    assert gray.x.shape == (12, 8, 10, 1)
    expected = np.asarray(Image.open(root / "moth" / "0.png").convert("L"))
    np.testing.assert_array_equal(gray.x[4, ..., 0], expected)

    resized = load_dataset(config({"path": "pets", "image_size": [5, 6]}), base_dir=tmp_path)
    assert resized.x.shape == (12, 5, 6, 3)


def test_image_size_accepts_images_of_different_sizes(tmp_path):
    _sizes_differ(tmp_path)
    dataset = load_dataset(config({"path": "images", "image_size": [12, 12]}), base_dir=tmp_path)
    assert dataset.x.shape == (7, 12, 12, 3)
    assert dataset.class_names == ["cat", "dog"]


def test_example_shapes_folder(tmp_path):
    write_shapes(tmp_path / "shapes", per_class=5)
    dataset = load_dataset(config({"path": "shapes"}), base_dir=tmp_path)
    assert dataset.x.shape == (15, 16, 16, 3)
    assert dataset.class_names == ["circle", "square", "triangle"] and dataset.task == "multiclass"
    splits = split_dataset(dataset, 0.2, 0.2, seed=0)
    spec = data_spec(dataset, splits)
    # Full intensity as the training images show it.
    assert spec.inputs == (ImageInput("image", (16, 16, 3), float(np.max(splits.x_train))),)
    assert 200.0 < spec.inputs[0].scale <= 255.0


def test_digits_images_builtin_and_its_scale(tmp_path):
    dataset = load_dataset(config({"name": "digits_images"}))
    assert dataset.kind == "image" and dataset.x.shape == (1797, 8, 8, 1)
    assert dataset.task == "multiclass" and dataset.n_classes == 10
    splits = split_dataset(dataset, 0.2, 0.2, seed=42)
    spec = data_spec(dataset, splits)
    assert spec.kind == "image" and len(spec.inputs) == 1
    image = spec.inputs[0]
    assert isinstance(image, ImageInput) and image.shape == (8, 8, 1)
    assert image.scale == 16.0 == float(np.max(splits.x_train))


# ---------------------------------------------------------------------------------------------------------------
# Statistics come from the training split alone.
# ---------------------------------------------------------------------------------------------------------------

def _rows_by_split(n: int, seed: int) -> tuple[object, object]:
    """The splits of an n-row frame whose features are the row numbers (the split depends on y, n and seed only)."""
    y = np.array(["a", "b"] * (n // 2))
    frame = pd.DataFrame({"row": np.arange(n, dtype=float), "y": y})
    dataset = load_dataset(config({"target": "y"}), data=frame)
    splits = split_dataset(dataset, 0.2, 0.2, seed)
    return splits.x_train["row"][:, 0].astype(int), splits.x_test["row"][:, 0].astype(int)


def test_table_statistics_and_vocabulary_are_fitted_on_train_only():
    n, seed = 60, 3
    train_rows, test_rows = _rows_by_split(n, seed)
    rng = np.random.default_rng(0)
    amount = rng.normal(10, 3, n)
    amount[test_rows] += 1000.0  # the test rows would drag a full-data mean far away
    amount[train_rows[:3]] = np.nan
    colour = np.array(["red", "red", "red", "blue", "blue", "green"] * (n // 6), dtype=object)
    colour[test_rows[0]] = "purple"  # only in the test split
    constant = np.full(n, 5.0)
    constant[np.setdiff1d(np.arange(n), train_rows)] = 9.0  # constant in train, not elsewhere
    frame = pd.DataFrame({"amount": amount, "colour": colour, "constant": constant,
                          "y": np.array(["a", "b"] * (n // 2))})
    dataset = load_dataset(config({"target": "y"}), data=frame)
    splits = split_dataset(dataset, 0.2, 0.2, seed)
    # Same rows as the probe: the shifted values are exactly the test split.
    assert (splits.x_test["amount"][:, 0] > 500).all() and len(splits.y_test) == len(test_rows)
    assert not (splits.x_train["amount"][:, 0] > 500).any()
    spec = data_spec(dataset, splits)
    inputs = {i.name: i for i in spec.inputs}

    numeric = inputs["amount"]
    assert isinstance(numeric, NumericInput)
    train_mean = np.nanmean(amount[train_rows].astype("float32"))
    np.testing.assert_allclose(numeric.mean, [train_mean], rtol=1e-5)
    assert abs(float(numeric.mean[0]) - np.nanmean(amount)) > 100
    np.testing.assert_allclose(numeric.variance, [np.nanvar(amount[train_rows].astype("float32"))], rtol=1e-4)

    vocabulary = inputs["colour"]
    assert isinstance(vocabulary, CategoricalInput)
    assert "purple" in splits.x_test["colour"][:, 0]
    assert "purple" not in vocabulary.vocabulary
    # Most frequent in train first, ties by value.
    names, counts = np.unique(colour[train_rows].astype(str), return_counts=True)
    expected = tuple(str(names[i]) for i in sorted(range(len(names)), key=lambda i: (-counts[i], names[i])))
    assert vocabulary.vocabulary == expected
    assert set(expected) == {"red", "blue", "green"} and expected != tuple(sorted(expected))

    flat = inputs["constant"]
    np.testing.assert_array_equal(flat.mean, [5.0])
    np.testing.assert_array_equal(flat.variance, [1.0])


def test_regression_target_scaling_uses_train_only(tmp_path):
    frame = EXAMPLES.houses(rows=100)
    frame.to_csv(tmp_path / "houses.csv", index=False)
    dataset = load_dataset(config({"path": "houses.csv", "target": "price"}), base_dir=tmp_path)
    assert dataset.task == "regression" and dataset.n_classes is None and dataset.y.dtype == np.float32
    splits = split_dataset(dataset, 0.2, 0.2, seed=1)
    spec = data_spec(dataset, splits)
    assert spec.target_mean == pytest.approx(float(np.mean(splits.y_train)))
    assert spec.target_std == pytest.approx(float(np.std(splits.y_train)))
    assert spec.target_mean != pytest.approx(float(np.mean(dataset.y)), rel=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# Task inference and data given from Python.
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target, task, n_classes", [
    (["yes", "no"] * 15, "binary", 2),
    (["red", "green", "blue"] * 10, "multiclass", 3),
    (np.linspace(0.5, 99.5, 30), "regression", None),
    ([0, 1, 2] * 10, "multiclass", 3),
    ([True, False] * 15, "binary", 2),
])
def test_task_is_inferred_from_the_target(target, task, n_classes):
    frame = pd.DataFrame({"a": np.arange(30.0), "y": target})
    dataset = load_dataset(config({"target": "y"}), data=frame)
    assert (dataset.task, dataset.n_classes) == (task, n_classes)
    if n_classes:
        assert dataset.class_names == sorted({str(v) for v in target})
        assert set(dataset.y) == set(range(n_classes)) and dataset.y.dtype == np.int64


def test_task_override_is_respected():
    frame = pd.DataFrame({"a": np.arange(30.0), "y": [0, 1] * 15, "label": ["x", "y"] * 15})
    as_regression = load_dataset(config({"target": "y", "drop": ["label"]}, task="regression"), data=frame)
    assert as_regression.task == "regression" and as_regression.y.dtype == np.float32
    np.testing.assert_array_equal(as_regression.y, frame["y"].astype("float32"))
    as_multiclass = load_dataset(config({"target": "label"}, task="multiclass"), data=frame)
    assert as_multiclass.task == "multiclass" and as_multiclass.n_classes == 2
    three = pd.DataFrame({"a": np.arange(30.0), "y": ["p", "q", "r"] * 10})
    with pytest.raises(DataError, match="task binary needs exactly 2 classes, found 3"):
        load_dataset(config({"target": "y"}, task="binary"), data=three)


def test_python_data_frame_and_arrays():
    frame = churn(60)
    dataset = load_dataset(config({"target": "churned", "drop": ["customer_id"]}), data=frame)
    assert dataset.kind == "table" and dataset.name == "in-memory"
    assert "churned" not in dataset.x and "customer_id" not in dataset.x
    assert dataset.class_names == ["no", "yes"]

    x = np.random.default_rng(2).normal(size=(50, 4))
    y = np.arange(50) % 2
    arrays = load_dataset(config({}), data=(x, y))
    assert arrays.kind == "array" and arrays.x.shape == (50, 4) and arrays.task == "binary"
    np.testing.assert_array_equal(arrays.y, y)
    images = load_dataset(config({}), data=(np.zeros((50, 4, 4), dtype=np.uint8), y))
    assert images.kind == "image" and images.x.shape == (50, 4, 4, 1)

    with pytest.raises(DataError, match="50 rows of features but 49 targets"):
        load_dataset(config({}), data=(x, y[:-1]))
    with pytest.raises(DataError, match="set dataset.target"):
        load_dataset(config({}), data=frame)
    with pytest.raises(DataError, match="expected a pandas DataFrame"):
        load_dataset(config({}), data=[1, 2, 3])


def test_a_column_vector_target_is_one_label_per_row():
    x = np.random.default_rng(3).normal(size=(40, 2))
    column = (np.arange(40) % 2).reshape(-1, 1)
    dataset = load_dataset(config({}), data=(x, column))
    assert dataset.y.shape == (40,) and dataset.task == "binary"
    np.testing.assert_array_equal(dataset.y, column[:, 0])
    assert split_dataset(dataset, 0.2, 0.2, seed=0).sizes() == {"train": 24, "validation": 8, "test": 8}
    with pytest.raises(DataError, match=r"target has shape \(40, 2\)"):
        load_dataset(config({}), data=(x, np.eye(2)[column[:, 0]]))


def test_regression_accepts_numbers_written_as_text(tmp_path):
    frame = pd.DataFrame({"a": np.arange(30.0), "y": [f"{v:.1f}" for v in np.linspace(1, 50, 30)]})
    assert frame["y"].dtype != np.float64
    dataset = load_dataset(config({"target": "y"}, task="regression"), data=frame)
    assert dataset.task == "regression" and dataset.y.dtype == np.float32
    np.testing.assert_allclose(dataset.y, frame["y"].astype(float))
    # The same through a CSV whose target is listed as categorical (so read as text).
    frame.to_csv(tmp_path / "text_target.csv", index=False)
    from_csv = load_dataset(config({"path": "text_target.csv", "target": "y", "categorical": ["y"]},
                                   task="regression"), base_dir=tmp_path)
    np.testing.assert_array_equal(from_csv.y, dataset.y)
    for bad in ("inf", "nan"):
        with pytest.raises(DataError, match="holds infinite or NaN values written as text"):
            load_dataset(config({"target": "y"}, task="regression"), data=frame.assign(y=[bad] + list(frame.y[1:])))


def test_config_rejects_ambiguous_sources():
    with pytest.raises(ConfigError, match="not both"):
        config({"name": "iris", "path": "x.csv", "target": "y"})
    with pytest.raises(ConfigError, match="cannot tell the format"):
        config({"path": "x.xlsx", "target": "y"})
    assert config({"path": "x.xlsx", "target": "y", "format": "csv"}).dataset.format == "csv"
    assert config({"path": "pics"}).dataset.format == "images"
