"""Shared simulations for the simulator tests (small sizes, built once per session)."""

import importlib.util
import pathlib

import pytest

_HERE = pathlib.Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    """Skip the simulator tests without pysiaf, whose wheel carries the SIAF data (gpucal[sim])."""
    if importlib.util.find_spec("pysiaf") is not None:
        return
    skip = pytest.mark.skip(reason="pysiaf (the SIAF data) is not installed: pip install gpucal[sim]")
    for item in items:
        if _HERE in pathlib.Path(item.fspath).parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def nircam_sim(tmp_path_factory):
    """NIRCam NRCA1 SUB160 (touches the reference-pixel corner): 2 dithers, 2 backgrounds."""
    from gpucal.sim import simulate

    return simulate(tmp_path_factory.mktemp("nircam"), size=160, exposures=2, backgrounds=2, seed=11)


@pytest.fixture(scope="session")
def miri_sim(tmp_path_factory):
    """MIRI SUB128 (holds the left reference columns): 2 dithers, 1 background."""
    from gpucal.sim import simulate

    return simulate(
        tmp_path_factory.mktemp("miri"), instrument="miri", detector="mirimage", filter="f770w", size=128,
        exposures=2, backgrounds=1, seed=5,
    )  # fmt: skip
