"""What the tests and the benchmarks both need: scratch databases, signed Slack requests, a scripted agent runner.

Not part of the product (it is not among the packages pyproject.toml installs); ``tests/`` and ``bench/`` import
it, so a benchmark never imports the test suite.
"""
