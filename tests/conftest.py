"""Shared test configuration.

CUDA kernel forms run on a real GPU when one is usable (CuPy + a device) and
otherwise in numba's CUDA simulator, on small arrays. The choice must be made
before numba.cuda is imported, so it happens here, first.

The suite runs in parallel by default (pytest-xdist, ``-n auto --dist loadfile``
in pyproject.toml): each test file runs whole in one worker process, so a
module-scoped fixture (a jwst run, a simulation) runs once. The hooks below pick
the number of workers, give each worker its share of numba's threads and start
the longest files first.
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


#: ``-n auto`` starts one worker per usable core, at most this many: beyond it the run is not much shorter (it
#: cannot end before its longest file, minutes of jwst), while memory, GPU contexts and start-up grow per worker.
MAX_AUTO_WORKERS = 8


def _usable_cores():
    """Cores this process may use: CPU affinity and cgroup quotas respected (as Dask counts them)."""
    try:
        from dask.system import CPU_COUNT

        return max(1, int(CPU_COUNT))
    except ImportError:
        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


if "PYTEST_XDIST_WORKER_COUNT" in os.environ and "NUMBA_NUM_THREADS" not in os.environ:
    # An xdist worker (set before numba is imported): its share of the cores, but at least 2 threads where there
    # are 2 cores, so numba's multi-threaded paths (row bands, chunked reductions) are still the ones tested.
    _cores = _usable_cores()
    os.environ["NUMBA_NUM_THREADS"] = str(max(min(2, _cores), _cores // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))

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


def _named_test_files(config):
    """The distinct files the command line names (``x.py``, ``x.py::test``), or None if it names a folder."""
    files = set()
    for arg in config.args:
        path = pathlib.Path(config.invocation_params.dir, arg.split("::")[0])
        if not path.is_file():
            return None
        files.add(path.resolve())
    return files


def pytest_xdist_auto_num_workers(config):
    """Workers for ``-n auto``: one per usable core, at most ``MAX_AUTO_WORKERS``, at most one per named file.

    ``--dist loadfile`` runs a file in one worker, so a run of one file starts none (it runs in this process, without
    the workers' start-up). ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still decides when set (xdist reads it).
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    workers = min(_usable_cores(), MAX_AUTO_WORKERS)
    files = _named_test_files(config)
    if files is not None:
        workers = min(workers, len(files))
    return 0 if workers < 2 else workers


def _runs_long(item):
    return item.get_closest_marker("parity") is not None or item.get_closest_marker("slow") is not None


@pytest.hookimpl(trylast=True)  # after tests/parity/conftest.py has marked its tests
def pytest_collection_modifyitems(config, items):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Workers are handed whole files in collection order (pyproject.toml: --no-loadscope-reorder): files with a
        # parity or slow test (jwst runs, PTX compilation) first, so that no long file starts last and runs alone.
        long_files = {item.path for item in items if _runs_long(item)}
        items.sort(key=lambda item: item.path not in long_files)
    if REAL_GPU:
        return
    skip = pytest.mark.skip(reason="needs a real CUDA GPU")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)
