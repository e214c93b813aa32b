"""masksmith benchmarks: each module prints a table; `python -m bench` runs them all."""
