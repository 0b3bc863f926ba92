"""The shipped champion: every format gives the same predictions, the registry keeps versions and moves
the alias only for a better model, and the test metrics agree wherever they are reported."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import REPO, chdir, tracking_uri, write_pipeline
from mlflow import MlflowClient
from servers import free_port, wait_until_up

from kerashpo.pipelines.cli import main
from kerashpo.pipelines.config import load_config
from kerashpo.pipelines.data.splits import load_dataset, split_rows
from kerashpo.search.tracking import using_tracking_uri

CHURN_CSV = REPO / "pipelines" / "examples" / "churn.csv"


@pytest.fixture(scope="module")
def searched(real_searches: Path) -> Path:
    """Finished searches in one store, among them a CNN on digits images (NPZ) and an MLP on the churn CSV."""
    return real_searches


def raw_churn_rows() -> pd.DataFrame:
    rows = pd.read_csv(CHURN_CSV).head(6).drop(columns=["customer_id", "churned"])
    rows.loc[0, "contract"] = "three-year"      # a category never seen in training
    rows.loc[1, "monthly_charges"] = np.nan     # a missing number
    rows.loc[2, "payment_method"] = np.nan      # a missing category
    return rows


def raw_digit_images() -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().images[:6, :, :, None].astype("float32")


def served_predictions(store: Path, model_uri: str, payload: dict) -> dict:
    """Start `mlflow models serve` on a free loopback port, send one request, stop it."""
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri(store), "TF_CPP_MIN_LOG_LEVEL": "3"}
    log = store / f"serve-{port}.log"
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager",
                               "local", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/ping", server, log)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


@pytest.mark.slow
def test_keras_file_mlflow_model_and_server_agree(searched):
    """(The SavedModels are checked against the .keras files in a fresh process in test_real_data.py.)"""
    import keras
    import mlflow

    exports = searched / "mlruns" / "exports"
    images, rows = raw_digit_images(), raw_churn_rows()
    keras_digits = keras.saving.load_model(exports / "digits_npz" / "model.keras").predict(images, verbose=0)
    from kerashpo.pipelines.serving import table_tensors

    schema = json.loads((exports / "churn" / "schema.json").read_text())
    keras_churn = keras.saving.load_model(exports / "churn" / "model.keras").predict(
        table_tensors(rows, schema), verbose=0)[:, 0]

    # The registered champion, through both MLflow flavors.
    with using_tracking_uri(tracking_uri(searched)):
        pyfunc_digits = mlflow.pyfunc.load_model("models:/digits_npz@champion").predict(images)
        pyfunc_churn = mlflow.pyfunc.load_model("models:/churn@champion").predict(rows)
        flavor_digits = mlflow.keras.load_model("models:/digits_npz@champion").predict(images, verbose=0)
    np.testing.assert_allclose(pyfunc_digits[[f"probability_{d}" for d in range(10)]].to_numpy(), keras_digits,
                               atol=1e-5)
    assert list(pyfunc_digits["prediction"]) == [str(d) for d in keras_digits.argmax(axis=1)]
    np.testing.assert_allclose(pyfunc_churn["probability_yes"], keras_churn, atol=1e-5)
    np.testing.assert_allclose(flavor_digits, keras_digits, atol=1e-5)

    # The served endpoint: raw rows in JSON (null for missing values) and raw image tensors.
    split = json.loads(rows.to_json(orient="split", index=False))
    served = served_predictions(searched, "models:/churn@champion", {"dataframe_split": split})["predictions"]
    np.testing.assert_allclose([p["probability_yes"] for p in served], keras_churn, atol=1e-5)
    served = served_predictions(searched, "models:/digits_npz@champion", {"inputs": images.tolist()})["predictions"]
    np.testing.assert_allclose([[p[f"probability_{d}"] for d in range(10)] for p in served], keras_digits, atol=1e-5)


def card_value(card: str, name: str) -> float:
    return float(re.search(rf"^\| {name} \| ([^|]+) \|$", card, re.MULTILINE).group(1))


def test_test_metrics_agree_in_mlflow_the_model_card_and_kerashpo_predict(searched, tmp_path):
    client = MlflowClient(tracking_uri(searched))
    experiment = client.get_experiment_by_name("churn")
    (parent,) = client.search_runs([experiment.experiment_id], "tags.`kerashpo.role` = 'search'")
    logged = parent.data.metrics["test_accuracy"]
    card = (searched / "mlruns" / "exports" / "churn" / "model_card.md").read_text()
    assert card_value(card, "test_accuracy") == pytest.approx(logged, abs=5e-6)

    # The test split, as raw rows of the original file, scored by `kerashpo predict`.
    config = load_config(REPO / "pipelines" / "examples" / "churn.yaml")
    dataset = load_dataset(config, base_dir=REPO / "pipelines" / "examples")
    *_, test_rows = split_rows(dataset, config.split.validation, config.split.test, config.seed)
    raw = pd.read_csv(CHURN_CSV).iloc[test_rows]
    raw.to_csv(tmp_path / "test.csv", index=False)
    with chdir(searched):
        assert main(["predict", "--model", "mlruns/exports/churn", str(tmp_path / "test.csv"),
                     "--out", str(tmp_path / "predictions.csv")]) == 0
    predicted = pd.read_csv(tmp_path / "predictions.csv")
    assert len(predicted) == len(raw)
    accuracy = float(np.mean(predicted["prediction"].to_numpy() == raw["churned"].to_numpy()))
    assert accuracy == pytest.approx(logged, abs=1e-6)  # Keras reports float32


def registered(client: MlflowClient, name: str) -> tuple[list[str], str]:
    versions = sorted(str(v.version) for v in client.search_model_versions(f"name = '{name}'"))
    return versions, str(client.get_model_version_by_alias(name, "champion").version)


@pytest.mark.slow
def test_the_alias_moves_only_to_a_better_champion_and_old_versions_stay(in_run_dir):
    config = write_pipeline(in_run_dir, name="alias", dataset="iris", trials=1, max_epochs=1, formats="[keras, mlflow]",
                            extra="objective: {metric: val_loss}\n")
    client = MlflowClient(tracking_uri(in_run_dir))
    assert main(["run", str(config)]) == 0
    assert registered(client, "alias") == (["1"], "1")
    # More trials and epochs on the same study: a better champion takes the alias.
    assert main(["run", str(config), "--trials", "3", "--max-epochs", "8"]) == 0
    v1, v2 = (float(client.get_model_version("alias", v).tags["val_value"]) for v in ("1", "2"))
    assert v2 < v1
    assert registered(client, "alias") == (["1", "2"], "2")
    # A fresh study (another storage) with one short trial: registered, but the alias stays.
    assert main(["run", str(config), "--storage", str(in_run_dir / "other.journal")]) == 0
    v3 = float(client.get_model_version("alias", "3").tags["val_value"])
    assert v3 > v2
    assert registered(client, "alias") == (["1", "2", "3"], "2")


@pytest.mark.slow
def test_refit_retrains_on_train_and_validation_for_the_best_epoch_count(in_run_dir):
    import keras

    config = in_run_dir / "refit.yaml"
    config.write_text(textwrap.dedent(f"""\
        name: refit
        dataset: {{path: {CHURN_CSV}, target: churned, drop: [customer_id]}}
        budget: {{trials: 1, max_epochs: 4, patience: 2}}
        report: false
        export: {{refit: true, formats: [keras]}}
        seed: 11
    """))
    assert main(["run", str(config)]) == 0
    card = (in_run_dir / "mlruns" / "exports" / "refit" / "model_card.md").read_text()
    best_epoch = int(re.search(r"best epoch (\d+)\)", card).group(1))
    assert f"refit on train + validation for {best_epoch} epochs (seed 11)" in card
    # The refit model's preprocessing was fitted on train + validation, not on train alone.
    loaded = load_config(config)
    dataset = load_dataset(loaded)
    train, val, _ = split_rows(dataset, loaded.split.validation, loaded.split.test, loaded.seed)
    model = keras.saving.load_model(in_run_dir / "mlruns" / "exports" / "refit" / "model.keras")
    numeric = [name for name, column in dataset.x.items() if column.dtype != object]
    seen = np.concatenate([dataset.x[n][np.concatenate([train, val])] for n in numeric], axis=1)
    np.testing.assert_allclose(np.ravel(model.get_layer("normalize").mean), np.nanmean(seen, axis=0), rtol=1e-5)
    client = MlflowClient(tracking_uri(in_run_dir))
    (parent,) = client.search_runs([client.get_experiment_by_name("refit").experiment_id],
                                   "tags.`kerashpo.role` = 'search'")
    assert parent.data.tags["weights"].startswith("refit on train + validation")
    assert card_value(card, "test_accuracy") == pytest.approx(parent.data.metrics["test_accuracy"], abs=5e-6)
