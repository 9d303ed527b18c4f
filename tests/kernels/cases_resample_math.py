"""Parity cases for the per-pixel resample kernels around drizzle (weights, variance combination)."""

import numpy as np

from tests.kernels._cases import Case


def _weights(mode):
    def make(rng):
        shape = (23, 29)
        dq = rng.choice(np.array([0, 1, 2, 4, 512, 513, 1 << 31], np.uint32), shape).astype(np.uint32)
        vr = rng.uniform(0.001, 0.02, shape).astype(np.float32)
        vr.flat[::17] = 0.0
        vr.flat[3::19] = np.nan
        vr.flat[5::23] = np.inf
        return dq, vr, 513, mode, 123.456

    return make


def _combine(mode):
    def make(rng):
        shape = (31, 27)
        var = rng.uniform(0, 0.2, shape).astype(np.float32)  # drizzled standard deviations
        var.flat[::13] = np.nan
        var.flat[4::29] = np.inf
        rn = rng.uniform(0.03, 0.1, shape).astype(np.float32)
        rn.flat[2::11] = 0.0
        rn.flat[6::17] = np.nan
        wsum = rng.uniform(0, 1e4, shape).astype(np.float32)
        wsum.flat[::7] = np.nan
        wt = rng.uniform(0, 1e3, shape).astype(np.float32)
        return var, rn, wsum, wt, mode, 95.25

    return make


def _finalize(rng):
    wsum = rng.uniform(0, 1e5, (19, 21)).astype(np.float32)
    wsum.flat[::9] = np.nan
    wt = rng.uniform(0, 1e3, (19, 21)).astype(np.float32)
    wt.flat[::11] = 0.0
    return wsum, wt, 1.0 / 0.8**2


def _error(rng):
    arrays = [rng.uniform(0, 0.1, (17, 23)).astype(np.float32) for _ in range(3)]
    for k, array in enumerate(arrays):
        array.flat[k::5] = np.nan
    arrays[0].flat[::3] = arrays[1].flat[::3] = arrays[2].flat[::3] = np.nan
    return tuple(arrays)


CASES = [
    Case("drizzle_weight", "ivm", _weights(0)),
    Case("drizzle_weight", "exptime", _weights(1)),
    Case("drizzle_weight", "unit", _weights(2)),
    Case("variance_combine", "ivm", _combine(0)),
    Case("variance_combine", "exptime", _combine(1)),
    Case("variance_finalize", "imaging", _finalize),
    Case("error_from_variances", "nan-mix", _error),
]
