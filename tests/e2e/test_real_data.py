"""End to end on the user's own data: CSV, regression CSV, NPZ and an image folder.

Each search runs through the CLI on the shipped example configs (tiny budgets), and
each exported model is then loaded in a fresh Python process that never imports
kerashpo and scores raw inputs: a CSV row with a category never seen in training and
a missing number, raw images, raw NPZ rows; in the same process the SavedModels'
serving signatures score the same raw inputs as the .keras files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import REPO

from kerashpo.pipelines.config import load_config
from kerashpo.pipelines.data.splits import load_dataset, split_dataset

EXAMPLES = REPO / "pipelines" / "examples"


@pytest.fixture(scope="module")
def exported(real_searches: Path) -> dict[str, Path]:
    return {name: real_searches / "mlruns" / "exports" / name / "model.keras"
            for name in ("churn", "houses", "shapes", "digits_npz")}


# Runs in a fresh interpreter: plain Keras and TensorFlow, no kerashpo on the path.
SCORE = textwrap.dedent("""\
    import json, sys
    import numpy as np, pandas as pd, keras, tensorflow as tf
    from PIL import Image

    def text(column):
        return not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)

    def table(frame):
        # One string or float tensor per column, shaped (rows, 1), as the model's inputs are named.
        return {c: tf.constant(frame[c].astype(object).where(frame[c].notna(), "").astype(str).to_numpy()[:, None])
                if text(frame[c]) else tf.constant(frame[c].to_numpy("float32")[:, None]) for c in frame.columns}

    job = json.loads(sys.argv[1])
    out = {}
    churn = keras.saving.load_model(job["churn"])
    rows = pd.read_csv(job["churn_rows"]).drop(columns=["customer_id", "churned"])
    out["churn"] = churn.predict(table(rows), verbose=0).tolist()
    # Keep the loaded SavedModels referenced: their variables live as long as they do.
    churn_saved = tf.saved_model.load(job["churn_saved"])
    out["churn_saved"] = churn_saved.serve(table(rows)).numpy().tolist()
    houses = keras.saving.load_model(job["houses"])
    rows = pd.read_csv(job["houses_rows"]).drop(columns=["price"])
    out["houses"] = houses.predict(table(rows), verbose=0).tolist()
    shapes = keras.saving.load_model(job["shapes"])
    images = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in job["images"]])
    out["shapes"] = shapes.predict(images, verbose=0).tolist()
    digits = keras.saving.load_model(job["digits_npz"])
    pixels = np.load(job["npz"])["pixels"][:5, :, :, None]  # uint8, as stored
    out["digits_npz"] = digits.predict(pixels, verbose=0).tolist()
    digits_saved = tf.saved_model.load(job["digits_npz_saved"])  # its signature takes float32
    out["digits_npz_saved"] = digits_saved.serve(tf.constant(pixels.astype("float32"))).numpy().tolist()
    out["kerashpo_imported"] = sorted(m for m in sys.modules if m.split(".")[0] == "kerashpo")
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_exported_models_and_their_saved_models_score_raw_inputs_in_a_fresh_process(exported, tmp_path):
    churn = pd.read_csv(EXAMPLES / "churn.csv").head(4)
    churn.loc[0, "contract"] = "three-year"           # never seen in training
    churn.loc[1, "payment_method"] = "crypto"         # never seen in training
    churn.loc[2, "monthly_charges"] = np.nan          # missing number
    churn.loc[3, "payment_method"] = np.nan           # missing category
    churn.to_csv(tmp_path / "churn_rows.csv", index=False)
    houses = pd.read_csv(EXAMPLES / "houses.csv").head(3)
    houses.loc[0, "neighbourhood"] = "harbour"        # never seen in training
    houses.loc[1, "age_years"] = np.nan
    houses.to_csv(tmp_path / "houses_rows.csv", index=False)
    images = sorted((EXAMPLES / "shapes").glob("*/*_000.png"))
    job = {**{k: str(v) for k, v in exported.items()}, "churn_rows": str(tmp_path / "churn_rows.csv"),
           "houses_rows": str(tmp_path / "houses_rows.csv"), "images": [str(p) for p in images],
           "npz": str(exported["digits_npz"].parents[3] / "digits.npz"),
           **{f"{name}_saved": str(exported[name].parent / "saved_model") for name in ("churn", "digits_npz")}}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", SCORE, json.dumps(job)], capture_output=True, text=True,
                          cwd=tmp_path, env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["kerashpo_imported"] == []

    churn_p = np.array(out["churn"])
    assert churn_p.shape == (4, 1) and np.all((churn_p >= 0) & (churn_p <= 1))
    houses_p = np.array(out["houses"])
    # Regression answers in the target's units (prices in the hundreds of thousands), not standardised.
    assert houses_p.shape == (3, 1) and np.all(np.isfinite(houses_p)) and np.all(np.abs(houses_p) > 1000)
    shapes_p = np.array(out["shapes"])
    assert shapes_p.shape == (3, 3)
    np.testing.assert_allclose(shapes_p.sum(axis=1), 1.0, rtol=1e-4)
    digits_p = np.array(out["digits_npz"])
    assert digits_p.shape == (5, 10)
    np.testing.assert_allclose(digits_p.sum(axis=1), 1.0, rtol=1e-4)
    # The SavedModels' serving signatures on the same raw inputs (unseen and missing values included).
    np.testing.assert_allclose(out["churn_saved"], churn_p, atol=1e-5)
    np.testing.assert_allclose(out["digits_npz_saved"], digits_p, atol=1e-5)


def test_the_exported_preprocessing_was_fitted_on_the_training_split(exported):
    import keras

    config = load_config(REPO / "pipelines" / "examples" / "churn.yaml")
    dataset = load_dataset(config, base_dir=REPO / "pipelines" / "examples")
    splits = split_dataset(dataset, config.split.validation, config.split.test, config.seed)
    model = keras.saving.load_model(exported["churn"])
    numeric = [name for name, column in splits.x_train.items() if column.dtype != object]
    train = np.concatenate([splits.x_train[n] for n in numeric], axis=1)
    everything = np.concatenate([dataset.x[n] for n in numeric], axis=1)
    adapted = np.ravel(model.get_layer("normalize").mean)
    np.testing.assert_allclose(adapted, np.nanmean(train, axis=0), rtol=1e-5)
    assert not np.allclose(adapted, np.nanmean(everything, axis=0), rtol=1e-5)
    # The categories the model knows are those of the training rows.
    lookup = model.get_layer("payment_method_one_hot")
    known = set(lookup.get_vocabulary()[1:])
    assert known == set(np.unique(splits.x_train["payment_method"].astype(str)))
    assert "" in known  # missing values were seen in training and have a slot of their own
