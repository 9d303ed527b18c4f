"""Shared test configuration.

CUDA kernel forms run on a real GPU when one is usable (CuPy + a device) and
otherwise in numba's CUDA simulator, on small arrays. The choice must be made
before numba.cuda is imported, so it happens here, first.
"""

import os
import pathlib

import numpy as np
import pytest


def _real_gpu():
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


if "NUMBA_ENABLE_CUDASIM" not in os.environ:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "0" if _real_gpu() else "1"
REAL_GPU = os.environ["NUMBA_ENABLE_CUDASIM"] == "0" and _real_gpu()
ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


class Backend:
    """One kernel form: ``numpy`` (reference), ``numba`` (CPU) or ``cuda``."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name

    def form(self, kernel):
        from gpucal.kernels import forms

        ref, cpu, gpu = forms(kernel)
        return {"numpy": ref, "numba": cpu, "cuda": gpu}[self.name]

    def to_backend(self, value):
        if self.name == "cuda" and REAL_GPU and isinstance(value, np.ndarray):
            import cupy

            return cupy.asarray(value)
        return value

    def to_host(self, value):
        if isinstance(value, tuple):
            return tuple(self.to_host(v) for v in value)
        if type(value).__module__.startswith("cupy"):
            return value.get()
        return value

    def run(self, kernel, *args):
        """Run ``kernel`` in this form on host inputs; return host outputs."""
        result = self.form(kernel)(*(self.to_backend(a) for a in args))
        return self.to_host(result)


@pytest.fixture(params=["numpy", "numba", "cuda"])
def backend(request):
    """Each kernel form in turn (CUDA is simulated unless a GPU is present)."""
    return Backend(request.param)


@pytest.fixture(scope="session")
def shared_dir():
    """The ``shared/`` folder beside the repository (skip if absent)."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED


@pytest.fixture(scope="session")
def real_data(shared_dir):
    """``shared/data/real`` with the official JWST files (skip if absent)."""
    path = shared_dir / "data" / "real"
    if not path.is_dir():
        pytest.skip("../shared/data/real is not present")
    return path


def pytest_collection_modifyitems(config, items):
    if REAL_GPU:
        return
    skip = pytest.mark.skip(reason="needs a real CUDA GPU")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)
