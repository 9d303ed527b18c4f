"""Micro-benchmarks of the hot-path kernels (pytest-benchmark).

Run apart from the test suite::

    python -m pytest bench --benchmark-only

Each benchmark runs the CPU form on full-frame (2048x2048) inputs after a
warm-up call (so compilation and cache loading are excluded). On a GPU
machine, change the ``device`` fixture to ``select_device("cuda")`` to time the CUDA forms.
"""

import numpy as np
import pytest

N = 2048



@pytest.fixture(scope="module")
def device():
    from gpucal.engine import select_device

    return select_device("cpu")


@pytest.fixture(scope="module")
def frame():
    rng = np.random.default_rng(0)
    sci = rng.normal(5, 1, (N, N)).astype(np.float32)
    var = rng.uniform(0.01, 0.02, (N, N)).astype(np.float32)
    dq = np.zeros((N, N), np.uint32)
    flat = rng.normal(1, 0.05, (N, N)).astype(np.float32)
    return {"sci": sci, "var": var, "dq": dq, "flat": flat}


def _run(benchmark, name, device, *args, **kwargs):
    from gpucal.engine.dispatch import kernel_for

    kernel = kernel_for(name, device)
    kernel(*args, **kwargs)
    benchmark(kernel, *args, **kwargs)


def test_flat_field(benchmark, device, frame):
    f = frame
    _run(benchmark, "flat_field", device, f["sci"], f["var"], f["var"], f["dq"], f["flat"], f["var"], f["dq"], False)


def test_photom_scale(benchmark, device, frame):
    f = frame
    _run(benchmark, "photom_scale", device, f["sci"], f["var"], f["var"], f["var"], f["var"], f["dq"], 0.3, 0.09, False)


def test_sigma_clip_mean_two_backgrounds(benchmark, device, frame):
    stack = np.stack([frame["sci"].ravel(), frame["flat"].ravel()])
    _run(benchmark, "sigma_clip_mean", device, stack, 3.0, 3.0, -1, False)


def test_sigma_clip_mean_eight_values(benchmark, device, frame):
    stack = np.random.default_rng(1).normal(1, 0.1, (8, N * N // 4)).astype(np.float32)
    _run(benchmark, "sigma_clip_mean", device, stack, 3.0, 3.0, -1, False)


def test_drizzle_square(benchmark, device, frame):
    from gpucal.kernels.drizzle import drizzle_cpu

    y, x = np.mgrid[0:N, 0:N].astype(np.float64)
    c, s = np.cos(np.deg2rad(0.5)), np.sin(np.deg2rad(0.5))
    pixmap = np.dstack([c * x - s * y + 20.0, s * x + c * y + 20.0])
    out = np.zeros((N + 40, N + 40), np.float32)
    wht = np.zeros_like(out)
    weight = np.ones((N, N), np.float32)
    drizzle_cpu(frame["sci"], weight, pixmap, out, wht)
    benchmark(drizzle_cpu, frame["sci"], weight, pixmap, out, wht)
