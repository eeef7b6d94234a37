"""Benchmarks: each module's ``rows()`` measures side by side in one run; ``run.py`` prints the table."""
