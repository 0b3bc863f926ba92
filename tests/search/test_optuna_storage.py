"""Opening an Optuna storage from what a config or the command line says: a journal file, a database URL or nothing;
for reading (the dashboard), nothing is created and what is wrong is one line without the password."""

from __future__ import annotations

import optuna
import pytest
from servers import free_port

from kerashpo.search.drivers.optuna_storage import open_existing_storage, open_storage, study_id
from kerashpo.spaces import UserError


def test_a_search_opens_a_journal_a_database_or_memory_creating_what_is_new(tmp_path):
    journal = open_storage(tmp_path / "new" / "folder" / "optuna.journal")
    assert isinstance(journal, optuna.storages.JournalStorage)
    optuna.create_study(study_name="s", storage=journal)
    assert (tmp_path / "new" / "folder" / "optuna.journal").is_file()
    database = open_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    # SQLite has one writer on one host: no heartbeats (a dead local worker is found by its pid).
    assert isinstance(database, optuna.storages.RDBStorage) and database.get_heartbeat_interval() is None
    assert isinstance(open_storage(None), optuna.storages.InMemoryStorage)


def test_reading_a_storage_creates_nothing_and_says_which_studies_it_holds(tmp_path):
    path = tmp_path / "optuna.journal"
    for missing in (str(path), f"sqlite:///{tmp_path / 'optuna.db'}"):
        with pytest.raises(UserError, match="^no Optuna storage at .*; run `kerashpo run CONFIG` first"):
            open_existing_storage(missing)
    assert not list(tmp_path.iterdir())
    optuna.create_study(study_name="digits", storage=open_storage(path))
    storage = open_existing_storage(str(path))
    assert study_id(storage, "digits", str(path)) == 0
    with pytest.raises(UserError, match=f"^no study 'iris' in {path}; it holds digits$"):
        study_id(storage, "iris", str(path))


def test_an_unreachable_database_is_one_line_with_the_cause_and_no_password():
    url = f"postgresql://kerashpo:hunter2@127.0.0.1:{free_port()}/optuna"
    with pytest.raises(UserError) as raised:
        open_existing_storage(url)
    message = str(raised.value)
    assert message.startswith("cannot open the Optuna storage postgresql://kerashpo:***@127.0.0.1:")
    # The driver's own reason, not the wrapper Optuna puts around it ("an exception is raised during the commit").
    assert "Connection refused" in message and "commit" not in message
    assert "hunter2" not in message and len(message.splitlines()) == 1
