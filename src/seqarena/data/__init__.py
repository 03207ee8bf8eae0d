"""Datasets: a registry of canonical sources with sha256, a download cache, readers and generated data."""
