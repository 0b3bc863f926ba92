"""An Optuna storage from what a config or the command line says: a database URL or a journal file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from kerashpo.search.redaction import redact_url
from kerashpo.spaces import UserError

if TYPE_CHECKING:
    from optuna.storages import BaseStorage


def open_storage(storage: str | Path | None) -> BaseStorage:
    """The storage a search writes to, created when it is new (``None``: in memory)."""
    import optuna

    if storage is None:
        return optuna.storages.InMemoryStorage()
    storage = str(storage)
    if "://" in storage:
        if not storage.startswith("sqlite"):
            # A shared database: heartbeats let other workers fail (and retry) a dead worker's trial.
            return optuna.storages.RDBStorage(storage, heartbeat_interval=30, grace_period=90)
        return optuna.storages.RDBStorage(storage)
    from optuna.storages.journal import JournalFileBackend

    Path(storage).parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(storage))


def open_existing_storage(storage: str) -> BaseStorage:
    """A storage a search has written, for reading: nothing is created, and a missing file or an unreachable
    database is a ``UserError``."""
    import optuna

    path = storage.removeprefix("sqlite:///") if "://" not in storage or storage.startswith("sqlite:///") else None
    if path is not None and not Path(path).is_file():  # opening it would create an empty one
        raise UserError(f"no Optuna storage at {path}; run `kerashpo run CONFIG` first or pass --storage")
    if "://" not in storage:
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(storage))
    try:
        return optuna.storages.RDBStorage(storage, skip_table_creation=True)
    except Exception as exc:  # a driver's own error types: connection refused, bad credentials, no such database
        # Optuna wraps the driver's error in its own ("An exception is raised during the commit..."): say the cause.
        cause: BaseException = exc
        while cause.__cause__ is not None:
            cause = cause.__cause__
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        password = urlsplit(storage).password
        if password:
            reason = reason.replace(password, "***")
        raise UserError(f"cannot open the Optuna storage {redact_url(storage)}: {reason}") from None


def study_id(storage: BaseStorage, study: str, where: str) -> int:
    """The id of ``study`` in ``storage``, or a ``UserError`` naming the studies it holds."""
    try:
        return int(storage.get_study_id_from_name(study))
    except KeyError:
        names = [s.study_name for s in storage.get_all_studies()]
        raise UserError(f"no study {study!r} in {where}; it holds {', '.join(names) or 'none'}") from None
