"""Parity tier: gpucal vs jwst 3.0 on the same simulated inputs and references.

Everything here needs jwst (the ``parity`` extra) and is marked ``parity``;
it is skipped cleanly where jwst is not installed. jwst runs offline in a
subprocess (tests/jwst_offline.py). Simulations and jwst runs are shared per
module to keep the tier within minutes.
"""

import pytest

pytest.importorskip("jwst")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/parity/" in str(item.fspath):
            item.add_marker(pytest.mark.parity)
