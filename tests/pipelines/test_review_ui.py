"""Reviewing a search in a real browser: `kerashpo ui` opens MLflow's runs table on the trials (not its GenAI
overview), and `kerashpo dashboard` serves optuna-dashboard on the study's own storage. One tiny search is shared."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser import console_errors, headless_chromium
from helpers import chdir, copy_store, exit_code, tracking_uri, user_env, write_pipeline
from servers import PASSWORD, free_port

from kerashpo.pipelines.waiting import wait_until

# What MLflow 3's GenAI overview shows and its runs table never does.
GENAI_OVERVIEW = ("Token Usage", "Tool calls", "Observability")


@pytest.fixture(scope="module")
def review_search(tmp_path_factory, empty_mlflow_db) -> Path:
    """A finished two-trial search (two epochs each, no pruning, so both trials complete) in its own folder."""
    from kerashpo.pipelines.cli import main

    directory = copy_store(empty_mlflow_db, tmp_path_factory.mktemp("review"))
    config = write_pipeline(directory, name="review", trials=2, max_epochs=2, pruner="none", report=True)
    with chdir(directory):
        assert main(["run", str(config)]) == 0
    return directory


def _start(directory: Path, *args: str, **env: str) -> tuple[subprocess.Popen, Path]:
    """`kerashpo ARGS` in its own process group; its standard output goes to a file the test reads."""
    out = directory / f"{args[0]}.out"
    process = subprocess.Popen([sys.executable, "-m", "kerashpo.pipelines.cli", *args], cwd=directory,
                               stdout=out.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
                               env=user_env(PYTHONUNBUFFERED="1", **env))
    return process, out


def _printed_url(process: subprocess.Popen, out: Path) -> str:
    def url() -> str | None:
        assert process.poll() is None, out.read_text()
        return next((line for line in out.read_text().splitlines() if line.startswith("http")), None)

    return wait_until(url, 120, every=0.1, what="the printed address")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.mark.slow
def test_ui_opens_the_runs_table_on_the_trials_and_stops_its_server(review_search, tmp_path):
    from mlflow import MlflowClient

    browser = tmp_path / "browser"  # stands in for the user's web browser: writes down what it was asked to open
    browser.write_text(f"#!/bin/sh\necho \"$1\" > {tmp_path / 'opened'}\n")
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    port = free_port()
    process, out = _start(review_search, "ui", "--port", str(port), "--open", BROWSER=str(browser))
    try:
        url = _printed_url(process, out)
        assert urlsplit(url).netloc == f"127.0.0.1:{port}" and "/runs?" in url
        opened = tmp_path / "opened"
        assert wait_until(lambda: opened.is_file() and opened.read_text().strip(), 30, every=0.1,
                          what="the browser") == url
        client = MlflowClient(tracking_uri(review_search))
        (parent,) = client.search_runs([client.get_experiment_by_name("review").experiment_id],
                                       "tags.`kerashpo.role` = 'search'")
        with headless_chromium() as driver:
            driver.get(url)
            body = lambda: driver.find_element("tag name", "body").text  # noqa: E731
            wait_until(lambda: "trial 0 (complete)" in body() and "trial 1 (complete)" in body(), 60,
                         every=0.1, what="the trial runs in the runs table")
            assert "/runs" in driver.current_url and not [text for text in GENAI_OVERVIEW if text in body()]
            # The Dataset column: the source's name and the split fingerprint.
            assert f"digits ({parent.data.tags['split_fingerprint']})" in body()
            # The search run's description, rendered from its Markdown.
            driver.get(url.split("#")[0] + f"#/experiments/{parent.info.experiment_id}/runs/{parent.info.run_id}"
                                           "?workflowType=machine_learning")
            wait_until(lambda: "Best trial" in body(), 60, every=0.1, what="the search run's description")
    finally:
        _stop(process)
    assert process.returncode == 0
    wait_until(lambda: _port_free(port), 30, every=0.1, what="the MLflow server to stop with `kerashpo ui`")


def test_trials_are_named_by_number_and_state_and_every_run_records_the_data(review_search):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri(review_search))
    experiment = client.get_experiment_by_name("review")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if r.data.tags["kerashpo.role"] == "search"]
    trials = sorted((r for r in runs if r.data.tags["kerashpo.role"] == "trial"), key=lambda r: r.info.run_name)
    assert [r.info.run_name for r in trials] == ["trial 0 (complete)", "trial 1 (complete)"]
    assert all("best_val_log_loss" in r.data.metrics for r in trials)
    fingerprint = parent.data.tags["split_fingerprint"]
    for run in runs:  # the search, its trials and its baseline
        (data,) = run.inputs.dataset_inputs
        assert (data.dataset.name, data.dataset.digest, data.dataset.source_type) == ("digits", fingerprint, "builtin")
        assert json.loads(data.dataset.profile)["test"] == int(parent.data.params["split_test"])
    note = parent.data.tags["mlflow.note.content"]
    best = parent.data.tags["best_trial"]
    assert f"**Best trial**: {best}, `val_log_loss`" in note
    assert "test_accuracy" in note and "**Baseline** (LogisticRegression" in note
    assert f"/runs/{parent.info.run_id}/artifacts/report.html" in note


def test_searches_on_different_splits_record_different_dataset_digests():
    from kerashpo.pipelines.config import DatasetConfig
    from kerashpo.pipelines.data.loaders import load_builtin
    from kerashpo.pipelines.data.splits import split_dataset
    from kerashpo.pipelines.run.describe import dataset_record

    dataset = load_builtin("wine")
    records = [dataset_record(DatasetConfig(name="wine"), dataset, split_dataset(dataset, 0.2, 0.2, seed), Path())
               for seed in (1, 2, 1)]
    assert {r.name for r in records} == {"wine"}
    assert records[0].digest == records[2].digest != records[1].digest


@pytest.mark.slow
def test_dashboard_serves_the_study_from_its_own_storage(review_search):
    port = free_port()
    process, out = _start(review_search, "dashboard", "review.yaml", "--port", str(port))
    try:
        url = _printed_url(process, out)
        assert urlsplit(url).netloc == f"127.0.0.1:{port}" and "/dashboard/studies/" in url
        with headless_chromium() as driver:
            driver.get(url)
            body = lambda: driver.find_element("tag name", "body").text  # noqa: E731
            # The study by name, its objective by name (not "Objective 0"), and each trial's learning curve.
            wait_until(lambda: "review" in body() and "val_log_loss" in body() and "Intermediate values" in body(),
                         60, every=0.1, what="the study's page")
            driver.get(url.split("/dashboard/")[0] + "/dashboard/")
            wait_until(lambda: "review" in body(), 60, every=0.1, what="the list of studies")
            assert console_errors(driver) == []
    finally:
        _stop(process)
    assert process.returncode == 0


def test_review_commands_say_what_is_wrong_in_one_line(in_tmp, capsys, monkeypatch):
    def error(argv: list[str]) -> str:
        assert exit_code(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        return err

    assert "no MLflow store" in error(["ui"])
    assert "no Optuna storage" in error(["dashboard"])
    assert not (in_tmp / "mlruns").exists()  # nothing was created
    unreachable = f"postgresql://kerashpo:{PASSWORD}@127.0.0.1:{free_port()}/optuna"
    said = error(["dashboard", "--storage", unreachable])
    assert "cannot open the Optuna storage" in said and PASSWORD not in said and "***" in said
    config = write_pipeline(in_tmp, name="kt", extra="driver: keras_tuner\n")
    assert "keeps no Optuna study" in error(["dashboard", str(config)])
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # as if the extra were not installed
    assert "pip install 'kerashpo[dashboard]'" in error(["dashboard"])
