"""`backend: jax`: searches under both drivers train on JAX, and what they ship loads and scores the same on
TensorFlow (the .keras file, the SavedModel, the registered MLflow model); what JAX cannot take is refused in
one line before anything runs.

Keras picks its backend once per process, and this one runs TensorFlow: the JAX side runs in one fresh process
that calls the CLI's ``main`` for each command (one start-up for all of them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import exit_code, tracking_uri, user_env, write_pipeline
from mlflow import MlflowClient

# In a fresh process on JAX: each command's exit code and what it wrote to stderr, and the predictions.
ON_JAX = textwrap.dedent("""\
    import contextlib, io, json, sys
    from kerashpo.pipelines.cli import main
    out = {}
    for name, argv in json.loads(sys.argv[1]).items():
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            out[name] = {"code": main(argv), "stderr": err.getvalue()}
    import keras
    out["keras_backend"] = keras.backend.backend()
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_both_drivers_train_on_jax_and_the_shipped_model_scores_the_same_on_tensorflow(run_dir):
    import keras
    import mlflow
    import tensorflow as tf
    from sklearn.datasets import load_iris

    optuna_config = write_pipeline(run_dir, name="onjax", dataset="iris", trials=2, max_epochs=2, formats=None)
    tuner_config = write_pipeline(run_dir, name="onjax_kt", dataset="iris", trials=2, max_epochs=2,
                                  extra="driver: keras_tuner\n")
    rows = load_iris().data[:6].astype("float32")
    np.savez(run_dir / "rows.npz", x=rows)
    # A text column: the model would look its categories up inside itself.
    (run_dir / "colors.csv").write_text("size,color,label\n" + "".join(
        f"{i},{'red' if i % 2 else 'blue'},{i % 2}\n" for i in range(40)))
    (run_dir / "colors.yaml").write_text("name: colors\ndataset: {path: colors.csv, target: label}\n")
    commands = {
        "optuna": ["run", str(optuna_config), "--backend", "jax"],
        "keras_tuner": ["run", str(tuner_config), "--backend", "jax"],
        "text": ["run", "colors.yaml", "--backend", "jax"],
        "predict": ["predict", "--model", "mlruns/exports/onjax", "rows.npz", "--out", "jax_predictions.csv"],
    }
    done = subprocess.run([sys.executable, "-c", ON_JAX, json.dumps(commands)], cwd=run_dir, capture_output=True,
                          text=True, env=user_env(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3"),
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    # The config, not the environment's KERAS_BACKEND, decides.
    assert out["keras_backend"] == "jax"
    assert out["optuna"]["code"] == out["keras_tuner"]["code"] == out["predict"]["code"] == 0

    client = MlflowClient(tracking_uri(run_dir))
    for experiment in ("onjax", "onjax_kt"):
        (search,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id],
                                       "tags.`kerashpo.role` = 'search'")
        assert search.data.params["backend"] == "jax" and search.info.status == "FINISHED"
        card = (run_dir / "mlruns" / "exports" / experiment / "model_card.md").read_text()
        assert "backend jax" in card

    # What JAX trained, scored here on TensorFlow: the .keras file, the SavedModel, the registered model, and
    # `kerashpo predict` run on JAX all give the same probabilities.
    export = run_dir / "mlruns" / "exports" / "onjax"
    on_tensorflow = keras.saving.load_model(export / "model.keras", safe_mode=True).predict(rows, verbose=0)
    assert on_tensorflow.shape == (6, 3)
    saved_model = tf.saved_model.load(str(export / "saved_model"))
    np.testing.assert_allclose(saved_model.serve(tf.constant(rows)).numpy(), on_tensorflow, atol=1e-5)
    mlflow.set_tracking_uri(tracking_uri(run_dir))
    try:
        registered = mlflow.pyfunc.load_model("models:/onjax@champion").predict(rows)
    finally:
        mlflow.set_tracking_uri(None)
    np.testing.assert_allclose(registered[[f"probability_{name}" for name in ("setosa", "versicolor", "virginica")]]
                               .to_numpy(), on_tensorflow, atol=1e-5)
    predicted = np.loadtxt(run_dir / "jax_predictions.csv", delimiter=",", skiprows=1, usecols=(1, 2, 3))
    np.testing.assert_allclose(predicted, on_tensorflow, atol=1e-5)

    # The text column: refused in one line, before the store holds anything of it.
    assert out["text"]["code"] == 2
    (line,) = out["text"]["stderr"].strip().splitlines()[-1:]
    assert "backend: jax cannot take the text column 'color'" in line and "backend: tensorflow" in line
    assert client.get_experiment_by_name("colors") is None


def test_a_backend_keras_is_not_running_on_is_refused_in_one_line_before_anything_runs(in_tmp, capsys):
    import keras  # noqa: F401  (Keras then runs on TensorFlow in this process, whichever tests ran before)

    write_pipeline(in_tmp, name="other", dataset="iris", trials=1, max_epochs=1)
    assert exit_code(["run", "other.yaml", "--backend", "jax"]) == 2  # this process runs Keras on TensorFlow
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "backend: jax was asked for, and Keras already runs on tensorflow" in err[0]
    assert exit_code(["run", "other.yaml", "--backend", "torch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--backend: invalid choice: 'torch'" in err[0] and "'tensorflow', 'jax'" in err[0]
    assert not (in_tmp / "mlruns").exists()
    assert os.environ.get("KERAS_BACKEND") in (None, "tensorflow")
