"""``kerashpo ui``: the MLflow UI over a run's store, on loopback, at the runs table of the latest search.

MLflow 3.17's UI picks between its GenAI view and its model-training view in the browser: from the page address's
``workflowType`` parameter, else from what the browser last chose, else GenAI, whose overview is empty for a
search. The printed address names the training view and goes straight to the search's trials.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from kerashpo.pipelines.web.local_web import (
    base_url,
    check_port_free,
    open_in_browser,
    sigterm_as_interrupt,
    wait_until_serving,
)
from kerashpo.search.leaderboard import find_search_run
from kerashpo.search.redaction import redact_url
from kerashpo.spaces import UserError
from kerashpo.spaces.choices import Direction

TRAINING_VIEW = {"workflowType": "machine_learning"}
START_SECONDS = 120  # one worker on a busy machine answers in about ten


def trials_url(base: str, search_run: Any) -> str:
    """The runs table of one search: its trials (and baseline) as rows, best objective first."""
    tags = search_run.data.tags
    query = {**TRAINING_VIEW, "searchFilter": f"tags.`mlflow.parentRunId` = '{search_run.info.run_id}'"}
    if tags.get("objective"):
        direction = Direction(tags.get("direction", Direction.MINIMIZE))
        query |= {"orderByKey": f"metrics.`best_{tags['objective']}`",
                  "orderByAsc": "false" if direction is Direction.MAXIMIZE else "true"}
    return f"{base}/#/experiments/{search_run.info.experiment_id}/runs?{urlencode(query)}"


def landing(tracking_uri: str, base: str, experiment: str | None) -> tuple[str, str]:
    """The address to open and what it shows: the latest search's trials, or the experiments when none ran."""
    from mlflow import MlflowClient

    try:
        search_run = find_search_run(MlflowClient(tracking_uri), experiment)
    except UserError:
        if experiment is not None:
            raise
        return f"{base}/#/experiments?{urlencode(TRAINING_VIEW)}", "the experiments (no search has run yet)"
    return trials_url(base, search_run), f"the trials of search {search_run.info.run_name}"


def serve(tracking_uri: str, host: str, port: int, experiment: str | None, open_browser: bool) -> int:
    """Run ``mlflow ui`` until Ctrl-C; print (and open) the address once it answers."""
    check_port_free(host, port)
    base = base_url(host, port)
    # One user: one server process (MLflow starts four by default, each importing MLflow) and no background
    # job runner (it serves MLflow's GenAI jobs); the UI answers in seconds, not a minute.
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri,
               "--host", host, "--port", str(port), "--workers", "1"]
    if tracking_uri.startswith("sqlite:///"):
        artifacts = Path(tracking_uri.removeprefix("sqlite:///")).parent / "artifacts"
        command += ["--default-artifact-root", artifacts.as_uri()]
    log_path = Path(tempfile.gettempdir()) / f"kerashpo-mlflow-ui-{port}.log"
    with log_path.open("w") as log:
        # Its own process group: MLflow starts the web server as a child of its own, and both stop together.
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                  env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    try:
        with sigterm_as_interrupt():
            url, shown = landing(tracking_uri, base, experiment)  # looked up while the server starts
            _wait_until_up(f"{base}/health", server, log_path)
            print(f"MLflow UI over {redact_url(tracking_uri)}, showing {shown} (Ctrl-C to stop):\n{url}", flush=True)
            if open_browser:
                open_in_browser(url)
            if server.wait() != 0:
                raise UserError(f"the MLflow UI stopped: {_last_line(log_path)} (log: {log_path})")
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    log_path.unlink(missing_ok=True)  # stopped as asked; the log of a failure stays for the user to read
    return 0


def _wait_until_up(url: str, server: subprocess.Popen, log_path: Path) -> None:
    try:
        wait_until_serving(url, server, START_SECONDS, every=0.25)
    except ChildProcessError:
        raise UserError(f"the MLflow UI did not start: {_last_line(log_path)} (log: {log_path})") from None
    except TimeoutError:
        raise UserError(f"the MLflow UI did not answer within {START_SECONDS} s (log: {log_path})") from None


def _last_line(log_path: Path) -> str:
    lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "it printed nothing"
