"""`kerashpo export` and `kerashpo predict` on bad input: one line, exit 2, nothing half-written.

The session's tiny real searches (``real_searches`` in conftest.py: among them the shipped churn and shapes
pipelines) run once; every case then exports or predicts against their real MLflow store and export folders.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import REPO, chdir, exit_code
from PIL import Image

CHURN_CSV = REPO / "pipelines" / "examples" / "churn.csv"


def one_error_line(capsys) -> str:
    """The single `kerashpo: error:` line on stderr (and no traceback anywhere)."""
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("kerashpo: error:"), lines[0]
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


def rejected(argv: list[str], capsys) -> str:
    assert exit_code(argv) == 2
    return one_error_line(capsys)


def staging_leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".")) if parent.exists() else []


@pytest.fixture
def in_searched(real_searches):
    """The session's store (finished churn, houses, shapes and digits searches) as the working directory.

    The tests using it write only files of their own there (new names), never into ``mlruns/``.
    """
    with chdir(real_searches):
        yield real_searches


# ---------------------------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------------------------

def test_export_unknown_experiment_names_it_and_the_known_ones(in_searched, capsys):
    target = in_searched / "x-unknown"
    line = rejected(["export", "--experiment", "nope", "--to", str(target)], capsys)
    assert "'nope'" in line and "churn" in line and "shapes" in line, line
    assert not target.exists()


def test_export_unknown_run_id_says_no_run(in_searched, capsys):
    target = in_searched / "x-run"
    line = rejected(["export", "--run-id", "0123456789abcdef", "--to", str(target)], capsys)
    assert "no run '0123456789abcdef'" in line, line
    assert not target.exists()


def test_export_onto_a_file_leaves_the_file_alone(in_searched, capsys):
    target = in_searched / "taken.txt"
    target.write_text("keep me\n")
    line = rejected(["export", "--experiment", "churn", "--to", str(target)], capsys)
    assert "is a file" in line and "taken.txt" in line, line
    assert target.read_text() == "keep me\n"
    assert staging_leftovers(in_searched) == []


def test_export_twice_needs_force_and_never_damages_the_first(in_searched, capsys):
    parent = in_searched / "out"
    target = parent / "churn"
    assert exit_code(["export", "--experiment", "churn", "--to", str(target)]) == 0
    capsys.readouterr()
    first = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert Path("model.keras") in first

    line = rejected(["export", "--experiment", "churn", "--to", str(target)], capsys)
    assert "already holds files" in line and "--force" in line, line
    assert {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()} == first
    assert staging_leftovers(parent) == []

    assert exit_code(["export", "--experiment", "churn", "--to", str(target), "--force"]) == 0
    out = capsys.readouterr().out
    assert "exported the champion of churn" in out, out
    for name in ("model.keras", "saved_model/saved_model.pb", "schema.json", "model_card.md"):
        assert (target / name).is_file(), name
    assert staging_leftovers(parent) == []


FAILING_MODEL = textwrap.dedent("""\
    import keras


    def build_model(hp):
        model = keras.Sequential([
            keras.Input(shape=(4,)),
            keras.layers.Dense(hp.Int("units", 4, 8)),
            keras.layers.Dense(3, activation="softmax"),
        ])
        # A learning rate no loss survives: every trial diverges to NaN and fails.
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e12),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model
""")


@pytest.mark.slow
def test_export_of_a_search_without_a_finished_trial_says_there_is_no_champion(run_dir, capsys):
    (run_dir / "diverging_models.py").write_text(FAILING_MODEL)
    (run_dir / "diverges.yaml").write_text(textwrap.dedent("""\
        name: diverges
        dataset: {name: iris}
        build_model: diverging_models:build_model
        budget: {trials: 1, max_epochs: 2}
        report: false
        export: {formats: [keras]}
    """))
    with chdir(run_dir):
        assert exit_code(["run", "diverges.yaml"]) == 1
        captured = capsys.readouterr()
        assert "no trial completed" in captured.out, captured.out
        assert "FAILED" in captured.out and "diverged" in captured.out, captured.out
        assert "Invalid loss" not in captured.out  # Keras's own line would break into the progress display

        target = run_dir / "x"
        line = rejected(["export", "--experiment", "diverges", "--to", str(target)], capsys)
    assert "no registered champion for 'diverges'" in line, line
    assert not target.exists()
    assert not (run_dir / "mlruns" / "exports").exists()


# ---------------------------------------------------------------------------------------------------------------
# predict: tables
# ---------------------------------------------------------------------------------------------------------------

def churn_rows(rows: int = 12) -> pd.DataFrame:
    return pd.read_csv(CHURN_CSV, dtype=str).head(rows)


def test_predict_names_a_missing_and_an_unknown_column(in_searched, capsys):
    model = str(in_searched / "mlruns" / "exports" / "churn")
    missing = in_searched / "no_contract.csv"
    churn_rows().drop(columns=["contract"]).to_csv(missing, index=False)
    out = in_searched / "never.csv"
    line = rejected(["predict", "--model", model, str(missing), "--out", str(out)], capsys)
    assert "missing column(s) contract" in line and "no_contract.csv" in line, line

    extra = in_searched / "extra.csv"
    churn_rows().assign(favourite_colour="teal").to_csv(extra, index=False)
    line = rejected(["predict", "--model", model, str(extra), "--out", str(out)], capsys)
    assert "unknown column(s) favourite_colour" in line, line
    assert not out.exists()


def test_predict_accepts_the_target_and_dropped_columns(in_searched, capsys):
    model = in_searched / "mlruns" / "exports" / "churn"
    schema = json.loads((model / "schema.json").read_text())
    assert set(schema["ignored_columns"]) == {"churned", "customer_id"}
    source = in_searched / "with_target.csv"
    rows = churn_rows()
    assert {"churned", "customer_id"} <= set(rows.columns)
    rows.to_csv(source, index=False)
    out = in_searched / "scored.csv"
    assert exit_code(["predict", "--model", str(model), str(source), "--out", str(out)]) == 0
    scored = pd.read_csv(out)
    assert list(scored.columns) == ["prediction", "probability_no", "probability_yes"]
    assert len(scored) == len(rows)
    assert set(scored["prediction"]) <= {"no", "yes"}
    np.testing.assert_allclose(scored["probability_no"] + scored["probability_yes"], 1.0, atol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# predict: images and arrays
# ---------------------------------------------------------------------------------------------------------------

def test_predict_resizes_images_when_training_did(in_searched, capsys):
    model = in_searched / "mlruns" / "exports" / "shapes"
    schema = json.loads((model / "schema.json").read_text())
    item = schema["inputs"][0]
    assert item["shape"] == [16, 16, 3] and item["resize"] is True  # shapes.yaml sets image_size
    folder = in_searched / "big_images"
    folder.mkdir()
    Image.new("RGB", (20, 20), (10, 200, 30)).save(folder / "big.png")
    out = in_searched / "shapes_scored.csv"
    assert exit_code(["predict", "--model", str(model), str(folder), "--out", str(out)]) == 0
    scored = pd.read_csv(out)
    assert len(scored) == 1
    # Each row names the image it scores.
    assert list(scored.columns) == ["file", "prediction", *(f"probability_{c}" for c in schema["class_names"])]
    assert list(scored["file"]) == ["big.png"]

    # The same model, had it been trained without resizing, takes only 16x16 images: the size is named.
    fixed = in_searched / "shapes_fixed_size"
    shutil.copytree(model, fixed)
    item["resize"] = False
    (fixed / "schema.json").write_text(json.dumps(schema))
    line = rejected(["predict", "--model", str(fixed), str(folder)], capsys)
    assert "big.png is 20x20" in line and "16x16" in line, line


def test_predict_names_an_array_of_the_wrong_shape(in_searched, capsys):
    model = str(in_searched / "mlruns" / "exports" / "shapes")
    source = in_searched / "gray.npz"
    np.savez(source, x=np.zeros((2, 16, 16, 1), dtype=np.uint8))
    line = rejected(["predict", "--model", model, str(source), "--x-key", "x"], capsys)
    assert "(16, 16, 1)" in line and "(16, 16, 3)" in line and "gray.npz" in line, line

    line = rejected(["predict", "--model", model, str(source), "--x-key", "images"], capsys)
    assert "no array 'images'" in line, line


def test_predict_names_an_empty_folder_a_missing_input_and_a_missing_model(in_searched, capsys):
    model = str(in_searched / "mlruns" / "exports" / "shapes")
    empty = in_searched / "no_images"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image\n")
    line = rejected(["predict", "--model", model, str(empty)], capsys)
    assert "no_images: holds no images" in line, line

    line = rejected(["predict", "--model", model, str(in_searched / "absent.csv")], capsys)
    assert "absent.csv: not found" in line, line

    line = rejected(["predict", "--model", "does/not/exist", str(CHURN_CSV)], capsys)
    assert "does/not/exist" in line and "neither a folder nor an MLflow URI" in line, line


# ---------------------------------------------------------------------------------------------------------------
# predict: registered models
# ---------------------------------------------------------------------------------------------------------------

def test_predict_with_the_registered_champion_matches_the_export(in_searched, capsys):
    source = in_searched / "registry_input.csv"
    churn_rows(20).to_csv(source, index=False)
    from_folder, from_registry = in_searched / "from_folder.csv", in_searched / "from_registry.csv"
    assert exit_code(["predict", "--model", str(in_searched / "mlruns" / "exports" / "churn"), str(source),
                      "--out", str(from_folder)]) == 0
    assert exit_code(["predict", "--model", "models:/churn@champion", str(source), "--out", str(from_registry)]) == 0
    capsys.readouterr()
    a, b = pd.read_csv(from_folder), pd.read_csv(from_registry)
    assert len(a) == 20
    pd.testing.assert_frame_equal(a, b, check_exact=False, atol=1e-6, rtol=0)


def test_predict_with_an_unknown_registered_model_names_the_uri(in_searched, capsys):
    line = rejected(["predict", "--model", "models:/nope@champion", str(in_searched / "x.csv")], capsys)
    assert "models:/nope@champion" in line, line


def test_predict_with_a_uri_and_no_store_creates_no_store(tmp_path, capsys):
    source = tmp_path / "rows.csv"
    churn_rows(3).to_csv(source, index=False)
    with chdir(tmp_path):
        line = rejected(["predict", "--model", "models:/churn@champion", str(source)], capsys)
    assert "models:/churn@champion" in line and "no MLflow store" in line, line
    assert not (tmp_path / "mlruns").exists(), "a failed predict must not create a tracking store"
