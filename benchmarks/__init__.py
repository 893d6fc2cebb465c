"""Benchmarks: each script measures lockstep against the alternative in one run (BENCHMARKS.md).

A regular package (not a namespace one): pysbd installs a top-level `benchmarks` package of its
own, which would otherwise hide this folder from `tests/test_storage_benchmark.py`."""
