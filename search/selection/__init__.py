"""What a search keeps and ships: constraints, Pareto fronts, checkpoints, ensembles, the linear model."""
