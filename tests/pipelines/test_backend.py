"""`backend: jax` without TensorFlow: searches under both drivers train on JAX in a process where TensorFlow cannot
be imported, ship, report and predict there, and what they ship loads and scores the same on TensorFlow (the
.keras file, the registered MLflow model); what needs TensorFlow (a SavedModel, a text column) is refused in one
line before anything runs.

Keras picks its backend once per process, and this one runs TensorFlow: the JAX side runs in one fresh process,
with an import hook that refuses TensorFlow as a machine without it would, and calls the CLI's ``main`` for each
command (one start-up for all of them).
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

# In a fresh process on JAX, TensorFlow refused: each command's exit code and what it wrote to stderr, and every
# module of TensorFlow imported at the end (none).
WITHOUT_TENSORFLOW = textwrap.dedent("""\
    import contextlib, io, json, sys

    class WithoutTensorFlow:
        def find_spec(self, name, path=None, target=None):
            if name == "tensorflow" or name.startswith("tensorflow."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, WithoutTensorFlow())
    from kerashpo.pipelines.cli import main
    out = {}
    for name, argv in json.loads(sys.argv[1]).items():
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            out[name] = {"code": main(argv), "stderr": err.getvalue()}
    import keras
    out["keras_backend"] = keras.backend.backend()
    out["tensorflow_modules"] = sorted(m for m in sys.modules if m.split(".")[0] == "tensorflow")
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_both_drivers_train_on_jax_without_tensorflow_and_the_shipped_model_scores_the_same_on_tensorflow(run_dir):
    import keras
    import mlflow
    from sklearn.datasets import load_iris

    optuna_config = write_pipeline(run_dir, name="onjax", dataset="iris", trials=2, max_epochs=2, formats=None,
                                   report=True)
    tuner_config = write_pipeline(run_dir, name="onjax_kt", dataset="iris", trials=2, max_epochs=2,
                                  extra="driver: keras_tuner\n")
    saved_model = write_pipeline(run_dir, name="saved", dataset="iris", formats="[keras, saved_model]")
    rows = load_iris().data[:6].astype("float32")
    np.savez(run_dir / "rows.npz", x=rows)
    # A text column: the model would look its categories up inside itself.
    (run_dir / "colors.csv").write_text("size,color,label\n" + "".join(
        f"{i},{'red' if i % 2 else 'blue'},{i % 2}\n" for i in range(40)))
    (run_dir / "colors.yaml").write_text("name: colors\ndataset: {path: colors.csv, target: label}\n")
    commands = {
        "optuna": ["run", str(optuna_config), "--backend", "jax"],
        "keras_tuner": ["run", str(tuner_config), "--backend", "jax"],
        "saved_model": ["run", str(saved_model), "--backend", "jax"],
        "text": ["run", "colors.yaml", "--backend", "jax"],
        "predict": ["predict", "--model", "mlruns/exports/onjax", "rows.npz", "--out", "jax_predictions.csv"],
    }
    done = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, json.dumps(commands)], cwd=run_dir,
                          capture_output=True, text=True, timeout=600,
                          env=user_env(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    # The config, not the environment's KERAS_BACKEND, decides; nothing on the way imported TensorFlow.
    assert out["keras_backend"] == "jax" and out["tensorflow_modules"] == []
    assert done.stdout.count("failed in") == 2 and done.stdout.count(", on jax (cpu)") == 2  # the summaries say it
    assert out["optuna"]["code"] == out["keras_tuner"]["code"] == out["predict"]["code"] == 0, out

    client = MlflowClient(tracking_uri(run_dir))
    for experiment in ("onjax", "onjax_kt"):
        (search,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id],
                                       "tags.`kerashpo.role` = 'search'")
        assert search.data.params["backend"] == "jax" and search.info.status == "FINISHED"
        trials = client.search_runs([search.info.experiment_id], "tags.`kerashpo.role` = 'trial'")
        assert trials and all((t.data.tags["backend"], t.data.tags["device"]) == ("jax", "cpu") for t in trials)
        card = (run_dir / "mlruns" / "exports" / experiment / "model_card.md").read_text()
        assert "backend jax" in card
    export = run_dir / "mlruns" / "exports" / "onjax"
    # The default formats, where TensorFlow is not installed: no SavedModel; the report was drawn.
    assert (export / "report.html").is_file() and not (export / "saved_model").exists()
    mlmodel = (run_dir / "mlruns").rglob("MLmodel")
    assert any("keras_backend: jax" in path.read_text() for path in mlmodel)

    # What JAX trained, scored here on TensorFlow: the .keras file, the registered model, and `kerashpo predict`
    # run on JAX all give the same probabilities.
    on_tensorflow = keras.saving.load_model(export / "model.keras", safe_mode=True).predict(rows, verbose=0)
    assert on_tensorflow.shape == (6, 3)
    mlflow.set_tracking_uri(tracking_uri(run_dir))
    try:
        registered = mlflow.pyfunc.load_model("models:/onjax@champion").predict(rows)
    finally:
        mlflow.set_tracking_uri(None)
    np.testing.assert_allclose(registered[[f"probability_{name}" for name in ("setosa", "versicolor", "virginica")]]
                               .to_numpy(), on_tensorflow, atol=1e-5)
    predicted = np.loadtxt(run_dir / "jax_predictions.csv", delimiter=",", skiprows=1, usecols=(1, 2, 3))
    np.testing.assert_allclose(predicted, on_tensorflow, atol=1e-5)

    # What needs TensorFlow: refused in one line, before the store holds anything of the run.
    for name, expected in (("saved_model", "export.formats: saved_model needs TensorFlow, which is not installed "
                                           "here: pip install tensorflow, or drop saved_model"),
                           ("text", "backend: jax cannot take the text column 'color'")):
        assert out[name]["code"] == 2
        (line,) = out[name]["stderr"].strip().splitlines()[-1:]
        assert expected in line, line
    assert client.get_experiment_by_name("colors") is None and client.get_experiment_by_name("saved") is None


def test_a_backend_keras_is_not_running_on_is_refused_in_one_line_before_anything_runs(in_tmp, capsys):
    import keras  # noqa: F401  (Keras then runs on TensorFlow in this process, whichever tests ran before)

    write_pipeline(in_tmp, name="other", dataset="iris", trials=1, max_epochs=1)
    assert exit_code(["run", "other.yaml", "--backend", "jax"]) == 2  # this process runs Keras on TensorFlow
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "backend: jax was asked for, and Keras already runs on tensorflow" in err[0]
    assert exit_code(["run", "other.yaml", "--backend", "torch"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "backend: torch was asked for, and Keras already runs on tensorflow" in err[0]
    assert exit_code(["run", "other.yaml", "--backend", "theano"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--backend: invalid choice: 'theano'" in err[0] and "'jax', 'torch'" in err[0]
    assert not (in_tmp / "mlruns").exists()
    assert os.environ.get("KERAS_BACKEND") in (None, "tensorflow")
