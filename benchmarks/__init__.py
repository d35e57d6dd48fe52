"""The benchmark harness: ``python -m benchmarks`` (``--quick`` for the CI smoke run)."""
