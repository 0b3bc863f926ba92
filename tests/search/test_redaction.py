"""Passwords never leave a URL for a log, a tag or a display; everything else in it stays as written."""

from __future__ import annotations

import pytest

from kerashpo.search.redaction import redact_url


@pytest.mark.parametrize("url, shown", [
    ("postgresql://kerashpo:hunter2@db:5432/optuna", "postgresql://kerashpo:***@db:5432/optuna"),
    ("http://me:p%40ss@mlflow/x?y=1", "http://me:***@mlflow/x?y=1"),  # an encoded password too, the query kept
    ("http://:hunter2@mlflow:5000", "http://***@mlflow:5000"),  # a password without a user
    ("postgresql://kerashpo@db/optuna", "postgresql://kerashpo@db/optuna"),  # a user alone is no secret
    ("sqlite:///home/me/mlruns/mlflow.db", "sqlite:///home/me/mlruns/mlflow.db"),
    ("mlruns/optuna.journal", "mlruns/optuna.journal"),
    (None, None),
    ("http://me:hunter2@[::1:80/x", "<unparseable url>"),  # unreadable: shown as nothing of it
])
def test_only_the_password_is_hidden(url, shown):
    assert redact_url(url) == shown
