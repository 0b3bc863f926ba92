"""The web views over a search: the MLflow UI and optuna-dashboard, served on this machine."""
