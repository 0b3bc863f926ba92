"""Reviewing a search from its MLflow record: figures, the report, the champion, comparisons."""
