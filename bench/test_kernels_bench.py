"""Micro-benchmarks of the hot-path kernels (pytest-benchmark).

Run apart from the test suite::

    python -m pytest bench --benchmark-only

Each benchmark runs the CPU form on full-frame (2048x2048) inputs after a
warm-up call (so compilation and cache loading are excluded). On a GPU
machine, time the CUDA forms with ``GPUCAL_BENCH_DEVICE=cuda`` (inputs then
live on the device, so transfers are excluded too).
"""

import os

import numpy as np
import pytest

N = 2048


@pytest.fixture(scope="module")
def device():
    from gpucal.engine import select_device

    return select_device(os.environ.get("GPUCAL_BENCH_DEVICE", "cpu"))


@pytest.fixture(scope="module")
def frame(device):
    from gpucal.engine.arrays import to_device

    rng = np.random.default_rng(0)
    sci = rng.normal(5, 1, (N, N)).astype(np.float32)
    var = rng.uniform(0.01, 0.02, (N, N)).astype(np.float32)
    dq = np.zeros((N, N), np.uint32)
    flat = rng.normal(1, 0.05, (N, N)).astype(np.float32)
    return to_device({"sci": sci, "var": var, "dq": dq, "flat": flat}, device)


def _run(benchmark, name, device, *args, **kwargs):
    from gpucal.engine.arrays import synchronize
    from gpucal.kernels import kernel_for

    kernel = kernel_for(name, device)

    def call():
        kernel(*args, **kwargs)
        synchronize(device)

    call()
    benchmark(call)


def test_flat_field(benchmark, device, frame):
    f = frame
    _run(benchmark, "flat_field", device, f["sci"], f["var"], f["var"], f["dq"], f["flat"], f["var"], f["dq"], False)


def test_photom_scale(benchmark, device, frame):
    f = frame
    _run(benchmark, "photom_scale", device, f["sci"], f["var"], f["var"], f["var"], f["var"], f["dq"], 0.3, 0.09, False)


def test_sigma_clip_mean_two_backgrounds(benchmark, device, frame):
    xp = device.xp
    stack = xp.stack([frame["sci"].ravel(), frame["flat"].ravel()])
    _run(benchmark, "sigma_clip_mean", device, stack, 3.0, 3.0, -1, False)


def test_sigma_clip_mean_eight_values(benchmark, device, frame):
    from gpucal.engine.arrays import to_device

    stack = np.random.default_rng(1).normal(1, 0.1, (8, N * N // 4)).astype(np.float32)
    stack = to_device({"stack": stack}, device)["stack"]
    _run(benchmark, "sigma_clip_mean", device, stack, 3.0, 3.0, -1, False)


def test_drizzle_square(benchmark, device, frame):
    """CPU drizzle (square kernel) of a full frame under a 0.5 degree rotation."""
    from gpucal.kernels.drizzle import drizzle_cpu

    if device.is_cuda:
        pytest.skip("CPU drizzle form only; the CUDA drizzle is timed by bench_drizzle.py")

    y, x = np.mgrid[0:N, 0:N].astype(np.float64)
    c, s = np.cos(np.deg2rad(0.5)), np.sin(np.deg2rad(0.5))
    pixmap = np.dstack([c * x - s * y + 20.0, s * x + c * y + 20.0])
    out = np.zeros((N + 40, N + 40), np.float32)
    wht = np.zeros_like(out)
    weight = np.ones((N, N), np.float32)
    sci = np.asarray(frame["sci"])
    drizzle_cpu(sci, weight, pixmap, out, wht)
    benchmark(drizzle_cpu, sci, weight, pixmap, out, wht)
