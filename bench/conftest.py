"""pytest options for the benchmarks.

pytest-benchmark measures nothing in pytest-xdist workers (``--benchmark-only`` is then an error), so ``pytest bench``
runs in one process, whatever the test suite's default (``-n auto`` in pyproject.toml).
"""


def pytest_xdist_auto_num_workers(config):
    """No workers for ``-n auto``: the benchmarks run in this process."""
    return 0
