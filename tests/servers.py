"""Real servers for the scale-out tests, started on loopback for the test session and stopped after it.

PostgreSQL runs from Debian's packages (``apt-get install postgresql``; ``.ci/run``
installs them) in a throwaway data directory with a password, so the tests can
check that the password never leaks; ``mlflow server`` uses it as its backend.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from kerashpo.pipelines.web.local_web import wait_until_serving

PASSWORD = "hunter2-kerashpo-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, log: Path | None = None, seconds: float = 120) -> None:
    """Poll ``url`` until it answers 200; fail with the server's last words if it stops or takes too long."""
    try:
        wait_until_serving(url, process, seconds, every=0.5)
    except (ChildProcessError, TimeoutError):
        said = log.read_text()[-2000:] if log is not None and log.exists() else ""
        raise RuntimeError(f"{url} did not come up: {said}") from None


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: `apt-get install postgresql` (as .ci/run does)")
    return Path(found[-1]).parent


class Postgres:
    """A PostgreSQL server on 127.0.0.1 with databases ``optuna`` and ``mlflow``."""

    def __init__(self) -> None:
        self.bin = _postgres_bin()
        # Not under pytest's tmp folders: the postgres user must be able to reach its directory.
        directory = self.directory = Path(tempfile.mkdtemp(prefix="kerashpo-postgres-"))
        self.data = directory / "pgdata"
        self.port = free_port()
        # The server refuses to run as root: it runs as the postgres user, which must own its files.
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        (directory / "pwfile").write_text(PASSWORD + "\n")
        if self.as_owner:
            shutil.chown(directory, "postgres")
            shutil.chown(directory / "pwfile", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=scram-sha-256",
                  f"--pwfile={directory / 'pwfile'}")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(directory / "postgres.log"), "-w", "-o",
                  f"-p {self.port} -k {directory} -c listen_addresses=127.0.0.1 -c max_connections=200", "start")
        for database in ("optuna", "mlflow"):
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", database)

    def _run(self, tool: str, *args: str) -> str:
        done = subprocess.run([*self.as_owner, str(self.bin / tool), *args], capture_output=True, text=True,
                              env={**os.environ, "PGPASSWORD": PASSWORD}, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stderr.strip()[-1000:]}")
        return done.stdout

    def url(self, database: str) -> str:
        return f"postgresql://postgres:{PASSWORD}@127.0.0.1:{self.port}/{database}"

    def dump(self, database: str) -> str:
        return self._run("pg_dump", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", database)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)


class MlflowServer:
    """``mlflow server`` on a free loopback port with a PostgreSQL backend store."""

    def __init__(self, backend: str, directory: Path):
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.log = directory / "mlflow-server.log"
        artifacts = directory / "mlflow-artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        self.artifacts = artifacts
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend, "--default-artifact-root",
             artifacts.as_uri(), "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            # Without MLflow's job runner: half a dozen huey consumer processes the tests never use.
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_up(f"{self.uri}/health", self.process, self.log)

    def stop(self) -> None:
        os.killpg(self.process.pid, 15)
        self.process.wait(timeout=30)
