"""Parity cases for outlier detection's median and flag kernels."""

import numpy as np

from tests.kernels._cases import Case


def _median(ngroups, rows=7, nx=11):
    def make(rng):
        data = rng.normal(10.0, 3.0, (ngroups, rows, nx)).astype(np.float32)
        data.flat[::7] = np.nan
        data.flat[3::29] = np.inf
        data.flat[5::31] = -np.inf
        data[:, 0, 0] = np.nan  # an all-NaN pixel
        data[:, 1, 1] = 1.0  # ties
        wht = rng.uniform(0.0, 2.0, data.shape).astype(np.float32)
        wht.flat[2::13] = np.nan
        thresholds = rng.uniform(0.2, 0.8, ngroups)
        thresholds[-1] = np.nan  # masks nothing
        return data, wht, thresholds

    return make


def _flag(backg):
    def make(rng):
        shape = (13, 17)
        blot = rng.normal(5.0, 1.0, shape).astype(np.float32)
        blot.flat[::11] = np.nan
        blot.flat[4::37] = np.inf
        sci = (blot + rng.normal(0.0, 0.3, shape)).astype(np.float32)
        sci.flat[1::9] += np.float32(25.0)  # outliers
        sci.flat[6::41] = np.nan
        err = rng.uniform(0.1, 0.4, shape).astype(np.float32)
        err.flat[3::10] = np.nan
        err.flat[8::43] = np.inf
        dq = rng.choice(np.array([0, 1, 4, 16, 512], np.uint32), shape).astype(np.uint32)
        return sci, err, blot, dq, backg, 5.0, 4.0, 1.2, 0.7

    return make


def _direct(rng):
    sci, err, blot, dq, *_ = _flag(0.0)(rng)
    return sci, err, blot, dq, 5.0


CASES = [
    Case("outlier_median", "odd-groups", _median(5)),
    Case("outlier_median", "even-groups", _median(4)),
    Case("outlier_median", "one-group", _median(1)),
    Case("outlier_flag", "no-background", _flag(0.0)),
    Case("outlier_flag", "background", _flag(0.35)),
    Case("outlier_flag_direct", "snr1", _direct),
]
