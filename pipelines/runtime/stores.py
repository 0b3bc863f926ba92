"""Where a run keeps its state: the embedded default under ``./mlruns`` or the URLs given."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

STORE_DIR = "mlruns"


@dataclass(frozen=True)
class Stores:
    """Tracking URI, Optuna storage and the folders for checkpoints and exports."""

    root: Path
    tracking_uri: str
    artifact_location: str | None
    storage: str

    def checkpoint_dir(self, study: str) -> Path:
        """Per study and storage: a study of the same name in another storage keeps its own best models."""
        default = str(self.root / "optuna.journal")
        suffix = "" if self.storage == default else "-" + hashlib.sha256(self.storage.encode()).hexdigest()[:8]
        return self.root / "checkpoints" / f"{study}{suffix}"

    @property
    def keras_tuner_dir(self) -> Path:
        return self.root / "keras_tuner"

    def export_dir(self, name: str) -> Path:
        return self.root / "exports" / name


def default_tracking_uri(workdir: Path) -> str:
    return f"sqlite:///{(workdir / STORE_DIR / 'mlflow.db').resolve()}"


def resolve_tracking_uri(flag: str | None, configured: str | None, workdir: Path) -> str:
    """``--tracking-uri``, then ``MLFLOW_TRACKING_URI``, then the config, then ``./mlruns``."""
    return flag or os.environ.get("MLFLOW_TRACKING_URI") or configured or default_tracking_uri(workdir)


def resolve_stores(workdir: Path, tracking_uri: str | None = None, storage: str | None = None) -> Stores:
    root = (workdir / STORE_DIR).resolve()
    uri = tracking_uri or default_tracking_uri(workdir)
    # MLflow's default artifact root is relative to the current directory; pin it under mlruns/.
    artifacts = (root / "artifacts").as_uri() if uri == default_tracking_uri(workdir) else None
    return Stores(root=root, tracking_uri=uri, artifact_location=artifacts,
                  storage=storage or str(root / "optuna.journal"))


def prepare(stores: Stores) -> None:
    """Create the embedded store's folder (only once every input has been validated)."""
    stores.root.mkdir(parents=True, exist_ok=True)
