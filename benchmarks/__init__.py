"""The gameapi_async benchmark suite: ``python -m benchmarks [--quick]``."""
