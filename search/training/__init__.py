"""One trial: sampling, building, fitting with early stopping and pruning, its data and budget."""
