"""Datasets: readers for every source, the loaded dataset, and its seeded splits."""
