"""Many workers on one study: the embedded default, PostgreSQL with `mlflow server`, killed workers, Ctrl-C,
and passwords that never leak. Every server is real and runs on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import optuna
import pytest
from helpers import TF_NOISE, live_processes_in_group, tracking_uri, user_env, write_pipeline
from mlflow import MlflowClient
from servers import PASSWORD, MlflowServer, Postgres, free_port

from kerashpo.pipelines.waiting import wait_until


def start_run(directory: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kerashpo.pipelines.cli", "run", *args], cwd=directory,
                            stdout=(directory / "run.log").open("a"), stderr=subprocess.STDOUT,
                            env=user_env(PYTHONUNBUFFERED="1"), start_new_session=True)


def trial_runs(client: MlflowClient, experiment: str) -> list:
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], "tags.`kerashpo.role` = 'trial'", max_results=1000)


def wait_for_running_trial(client: MlflowClient, experiment: str, process: subprocess.Popen, after: int = 0):
    """A trial run that is RUNNING now, once at least ``after`` trials have finished."""

    def running_trial() -> Any:
        assert process.poll() is None, "the run ended before a trial could be interrupted"
        if client.get_experiment_by_name(experiment) is None:
            return None
        runs = trial_runs(client, experiment)
        running = [r for r in runs if r.info.status == "RUNNING"]
        return running[0] if running and len(runs) - len(running) >= after else None

    return wait_until(running_trial, 180, every=0.1, what="no trial was running")


def wait_for_fresh_trial(storage: str, study_name: str, process: subprocess.Popen, after: int = 0,
                         epochs: int = 6) -> optuna.trial.FrozenTrial:
    """A trial the study has running with one to ``epochs`` epochs reported (its run is tracked, some of its
    training is ahead), once ``after`` trials finished. The window is wide: a digits epoch takes a tenth of a
    second, and reading the study from PostgreSQL a few, so a narrow one can be missed by every poll. One storage
    for every poll: a fresh one (as ``load_study`` makes) costs 9x a read, and under load its poll missed the window.
    """
    rdb = optuna.storages.RDBStorage(storage)

    def fresh() -> optuna.trial.FrozenTrial | None:
        assert process.poll() is None, "the run ended before a trial could be interrupted"
        try:
            trials = rdb.get_all_trials(rdb.get_study_id_from_name(study_name), deepcopy=False)
        except KeyError:  # the study does not exist yet
            return None
        running = [t for t in trials if t.state.name == "RUNNING" and 1 <= len(t.intermediate_values) <= epochs
                   and "kerashpo_worker" in t.user_attrs]
        finished = [t for t in trials if t.state.is_finished()]
        return running[0] if running and len(finished) >= after else None

    return wait_until(fresh, 180, every=0.1, what="no trial was starting in the study")


def counted(study: optuna.Study) -> Counter:
    """States of the trials that count against the budget (a lost trial is retried, not counted)."""
    return Counter(t.state.name for t in study.trials if not t.user_attrs.get("kerashpo_lost"))


def journal_study(directory: Path, name: str) -> optuna.Study:
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(directory / "mlruns" / "optuna.journal")))
    return optuna.load_study(study_name=name, storage=storage)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    directory = tmp_path_factory.mktemp("servers")
    postgres = Postgres()
    mlflow_server = MlflowServer(postgres.url("mlflow"), directory)
    yield postgres, mlflow_server
    mlflow_server.stop()
    postgres.stop()


@pytest.mark.slow
def test_workers_on_postgres_and_mlflow_server_survive_a_killed_worker_and_keep_the_password(servers, tmp_path):
    postgres, mlflow_server = servers
    config = write_pipeline(tmp_path, name="shared", trials=4, max_epochs=20, patience=20)
    run = start_run(tmp_path, str(config), "--workers", "2", "--storage", postgres.url("optuna"),
                    "--tracking-uri", mlflow_server.uri, "--pruner", "none")
    client = MlflowClient(mlflow_server.uri)
    # The victim is read from the study, not from MLflow (whose runs lag behind, relayed by the starting process):
    # a trial with at least 5 of its 20 epochs ahead (no pruning, patience 20), so it is still running when its
    # worker is killed a few milliseconds later; a 10-epoch trial's window was missed under load.
    victim = wait_for_fresh_trial(postgres.url("optuna"), "shared", run, after=1, epochs=15)
    pid = int(victim.user_attrs["kerashpo_worker"].rpartition(":")[2])
    os.kill(pid, signal.SIGKILL)
    assert run.wait(timeout=400) == 0, (tmp_path / "run.log").read_text()[-3000:]

    study = optuna.load_study(study_name="shared", storage=postgres.url("optuna"))
    states = counted(study)
    assert states["COMPLETE"] + states["PRUNED"] == 4 and states["RUNNING"] == 0
    # The trial the killed worker was training: failed, marked lost, and tried again under a new number.
    # (A trial a worker asked for when another had just taken the last place is given back as lost too.)
    (dead,) = [t for t in study.trials if t.user_attrs.get("kerashpo_lost")
               and t.user_attrs.get("kerashpo_worker", "").endswith(f":{pid}")]
    assert dead.state.name == "FAIL"
    assert any(t.params == dead.params and t.number > dead.number and t.state.name in ("COMPLETE", "PRUNED")
               for t in study.trials)
    runs = trial_runs(client, "shared")
    assert not [r for r in runs if r.info.status == "RUNNING"]
    (killed,) = [r for r in runs if r.data.tags["trial_number"] == str(dead.number)]
    assert killed.info.status == "FAILED" and killed.data.tags["state"] == "FAILED"
    assert len(runs) == 5  # 4 counted trials and the killed one, no duplicates
    assert len({r.data.tags["trial_number"] for r in runs}) == 5
    assert "View run" not in (tmp_path / "run.log").read_text()

    # The password is in neither MLflow's database, its artifacts, the export, nor anything printed.
    assert PASSWORD not in postgres.dump("mlflow")
    places = [*mlflow_server.artifacts.rglob("*"), *(tmp_path / "mlruns").rglob("*"), tmp_path / "run.log"]
    leaks = [p for p in places if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert not leaks, leaks
    parent = client.search_runs([client.get_experiment_by_name("shared").experiment_id],
                                "tags.`kerashpo.role` = 'search'")[0]
    assert "***" in parent.data.tags["storage"]


@pytest.mark.slow
def test_dashboard_reads_a_study_on_postgres_and_prints_no_password(servers, tmp_path):
    postgres, _ = servers
    study = optuna.create_study(study_name="on-postgres", storage=postgres.url("optuna"))
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    out = tmp_path / "dashboard.out"
    dashboard = subprocess.Popen([sys.executable, "-m", "kerashpo.pipelines.cli", "dashboard", "--storage",
                                  postgres.url("optuna"), "--port", str(free_port())], cwd=tmp_path,
                                 stdout=out.open("w"), stderr=subprocess.STDOUT, env=user_env(PYTHONUNBUFFERED="1"),
                                 start_new_session=True)
    try:
        url = wait_until(lambda: dashboard.poll() is None and next(
            (line for line in out.read_text().splitlines() if line.startswith("http://127.0.0.1:")), None),
            60, every=0.1, what=f"the dashboard's address: {out.read_text()}")
        with urllib.request.urlopen(url.replace("/dashboard/", "/api/studies"), timeout=30) as answer:
            listed = [s["study_name"] for s in json.loads(answer.read())["study_summaries"]]
        assert "on-postgres" in listed
    finally:
        dashboard.terminate()
        dashboard.wait(timeout=30)
    assert dashboard.returncode == 0 and PASSWORD not in out.read_text() and ":***@" in out.read_text()


def test_each_worker_gets_its_share_of_threads_and_its_own_gpu():
    from kerashpo.pipelines.runtime.compute import Compute

    cores = os.cpu_count() or 1
    envs = [Compute(workers=3, gpus=2).worker_env(slot) for slot in range(3)]
    assert [env["CUDA_VISIBLE_DEVICES"] for env in envs] == ["0", "1", "0"]
    assert {env["TF_NUM_INTRAOP_THREADS"] for env in envs} == {str(max(1, cores // 3))}
    assert "CUDA_VISIBLE_DEVICES" not in Compute(workers=2, gpus=0).worker_env(0)
    assert Compute(workers=1, gpus=4).worker_env(0) == {}  # one process: every GPU and core is its own


@pytest.mark.slow
def test_mixed_precision_trains_in_float16_with_a_float32_head_and_leaves_the_policy_as_it_was(in_run_dir):
    import keras

    from kerashpo.pipelines.cli import main

    config = write_pipeline(in_run_dir, name="mixed", dataset="iris", trials=1, max_epochs=2)
    assert main(["run", str(config), "--mixed-precision"]) == 0
    model = keras.saving.load_model(in_run_dir / "mlruns" / "exports" / "mixed" / "model.keras")
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    assert dense[0].dtype_policy.name == "mixed_float16"
    assert model.get_layer("head").dtype_policy.name == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"


def test_trials_on_cpu_train_without_graph_rewrites_and_the_caller_gets_its_setting_back(in_run_dir):
    import keras
    import tensorflow as tf

    from kerashpo.pipelines.config import parse_config
    from kerashpo.pipelines.run.pipeline import run_pipeline

    rewrites_in_trials = []

    def build_model(hp):  # called in each trial, and once before the search by the export check
        rewrites_in_trials.append(not tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer"))
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(hp.Int("units", 4, 8), activation="relu"),
                                  keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    config = parse_config({"name": "rewrites", "dataset": {"name": "iris"}, "budget": {"trials": 1, "max_epochs": 1},
                           "report": False, "baseline": False, "export": {"formats": ["keras"]}})
    run_pipeline(config, workdir=in_run_dir, source=build_model)
    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    assert len(rewrites_in_trials) >= 2 and set(rewrites_in_trials) == {on_gpu}
    assert not tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer")


EXIT_DURING_A_WRITE = """
import sys, threading, time
from kerashpo.search.training.interrupts import exit_at_safe_point, uncut

entered = threading.Event()

def write():
    with uncut():
        entered.set()
        time.sleep(0.3)  # a slow storage write (a journal's lock and fsync on a busy disk)
        open(sys.argv[1], "w").write("written")

threading.Thread(target=write).start()
entered.wait()
exit_at_safe_point(3)
"""


def test_a_worker_following_its_killed_starter_exits_between_storage_writes_not_inside_one(tmp_path):
    # Cut between asking for a trial and tagging it with its worker, a worker would leave a RUNNING trial no
    # later run can tell is lost: it would hold a place in the study's budget for good.
    done = subprocess.run([sys.executable, "-c", EXIT_DURING_A_WRITE, str(tmp_path / "out")], timeout=60)
    assert done.returncode == 3
    assert (tmp_path / "out").read_text() == "written"


@pytest.mark.slow
def test_ctrl_c_then_kill_9_of_a_run_with_workers_and_the_same_command_resumes_losing_and_duplicating_nothing(run_dir):
    """One study through three runs with two workers each on the embedded store: Ctrl-C, then kill -9 of the
    starting process alone, then the same command finishing a larger budget, both workers sharing it (one
    scenario: each run of workers costs three TensorFlow starts)."""
    config = write_pipeline(run_dir, name="stop", trials=6, max_epochs=25, patience=25)
    client = MlflowClient(tracking_uri(run_dir))

    # Ctrl-C: the running trials are marked, every run is closed, and the search run is KILLED.
    run = start_run(run_dir, str(config), "--workers", "2", "--pruner", "none")
    wait_for_running_trial(client, "stop", run, after=1)
    os.killpg(run.pid, signal.SIGINT)  # what a terminal does: the whole foreground group
    assert run.wait(timeout=120) == 130
    runs = trial_runs(client, "stop")
    assert not [r for r in runs if r.info.status == "RUNNING"]
    interrupted = [r for r in runs if r.data.tags.get("state") == "FAILED"]
    assert interrupted and all(r.info.status == "FAILED" for r in interrupted)
    parent = client.search_runs([client.get_experiment_by_name("stop").experiment_id],
                                "tags.`kerashpo.role` = 'search'")[0]
    assert parent.info.status == "KILLED"
    study = journal_study(run_dir, "stop")
    assert counted(study)["RUNNING"] == 0
    interrupted_trials = {t.number for t in study.trials if t.user_attrs.get("kerashpo_lost")}
    assert interrupted_trials and interrupted_trials <= {int(r.data.tags["trial_number"]) for r in interrupted}

    # The same command resumes the study; kill -9 of its starting process only: the workers must follow it.
    run = start_run(run_dir, str(config), "--workers", "2", "--pruner", "none")
    wait_for_running_trial(client, "stop", run, after=len(runs) + 1)
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    # They do, by themselves (nothing signals them): every process the run started stops.
    wait_until(lambda: not live_processes_in_group(run.pid), 60, every=0.1,
               what="the killed run's workers did not stop")

    # And once more, with a larger budget: finished without losing or duplicating a trial, both workers
    # training, from a shell's environment (what a user sees).
    (run_dir / "run.log").rename(run_dir / "stopped.log")
    before = {r.info.run_id for r in trial_runs(client, "stop")}
    rerun = start_run(run_dir, str(config), "--workers", "2", "--pruner", "none", "--max-epochs", "3",
                      "--trials", "9")
    assert rerun.wait(timeout=400) == 0, (run_dir / "run.log").read_text()[-3000:]
    log = (run_dir / "run.log").read_text()
    assert "locked" not in log.lower() and "Traceback" not in log, log[-3000:]
    # The starting process and its workers start TensorFlow quietly.
    assert "cuda" not in log.lower() and not [noise for noise in TF_NOISE if noise in log], log[-3000:]
    progress = "\n".join(line for line in log.splitlines() if line.startswith(("[", "search ")))
    assert "[9/9]" in log and "test_accuracy" in log, progress  # both workers' progress in one display, the test
    study = journal_study(run_dir, "stop")
    states = counted(study)
    assert states["COMPLETE"] + states["PRUNED"] == 9 and states["RUNNING"] == 0
    lost = {t.number for t in study.trials if t.user_attrs.get("kerashpo_lost")}
    assert lost - interrupted_trials, "the trials the workers were training when their run was killed are retried"
    runs = trial_runs(client, "stop")
    assert not [r for r in runs if r.info.status == "RUNNING"]
    assert len({r.data.tags["trial_number"] for r in runs}) == len(runs)  # one run per trial
    assert all(r.info.status == "FAILED" for r in runs if int(r.data.tags["trial_number"]) in lost)
    last = [r for r in runs if r.info.run_id not in before]
    assert {r.info.status for r in last} == {"FINISHED"}
    assert len({r.data.tags["worker"] for r in last}) == 2, "both workers trained trials"
