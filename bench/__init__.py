"""Benchmarks: `make bench` (`python -m bench`). Each stage is timed beside a baseline in the same run."""
