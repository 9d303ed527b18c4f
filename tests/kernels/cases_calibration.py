"""Parity cases for the per-pixel calibration kernels (flat field, photom, NaN matching).

Inputs carry every case the rules distinguish: NaN and zero data, NaN, zero
and negative flats, and each DQ bit the kernels read (DO_NOT_USE,
NO_FLAT_FIELD) plus others that must pass through untouched.
"""

import numpy as np

from gpucal.dqflags import PIXEL
from tests.kernels._cases import Case

_DQ_VALUES = np.array(
    [0, PIXEL["DO_NOT_USE"], PIXEL["SATURATED"], PIXEL["JUMP_DET"], PIXEL["NO_FLAT_FIELD"], PIXEL["NON_SCIENCE"],
     PIXEL["REFERENCE_PIXEL"], PIXEL["UNRELIABLE_FLAT"], PIXEL["DO_NOT_USE"] | PIXEL["HOT"]],
    dtype=np.uint32,
)  # fmt: skip


def _science(rng, shape):
    sci = rng.normal(5.0, 3.0, shape).astype(np.float32)
    sci.flat[::17] = np.nan
    sci.flat[5::23] = 0.0
    vp = rng.uniform(0.0, 2.0, shape).astype(np.float32)
    vr = rng.uniform(0.0, 1.0, shape).astype(np.float32)
    vp.flat[3::41] = np.nan
    dq = rng.choice(_DQ_VALUES, shape).astype(np.uint32)
    return sci, vp, vr, dq


def _flat(rng, shape):
    flat = rng.normal(1.0, 0.2, shape).astype(np.float32)
    flat.flat[::13] = 0.0
    flat.flat[1::19] = np.nan
    flat.flat[2::11] = -0.7
    flat_err = rng.uniform(0.0, 0.05, shape).astype(np.float32)
    flat_dq = rng.choice(_DQ_VALUES, shape).astype(np.uint32)
    return flat, flat_err, flat_dq


def _flat_2d(inverse):
    def make(rng):
        sci, vp, vr, dq = _science(rng, (37, 41))
        return (sci, vp, vr, dq, *_flat(rng, (37, 41)), inverse)

    return make


def _flat_cube(rng):
    sci, vp, vr, dq = _science(rng, (3, 19, 23))
    return (sci, vp, vr, dq, *_flat(rng, (19, 23)), False)


def _photom(conversion, squared, inverse=False):
    def make(rng):
        sci, vp, vr, dq = _science(rng, (29, 31))
        err = np.sqrt(vp + vr).astype(np.float32)
        vf = rng.uniform(0.0, 0.1, (29, 31)).astype(np.float32)
        return sci, err, vp, vr, vf, dq, conversion, squared, inverse

    return make


_C32 = float(np.float32(0.3044277))
_C64 = 0.3044277 / 0.98765


def _match(rng):
    sci, vp, vr, dq = _science(rng, (2, 17, 19))
    err = np.sqrt(vp + vr).astype(np.float32)
    vf = rng.uniform(0.0, 0.1, sci.shape).astype(np.float32)
    vf.flat[7::29] = np.nan
    return sci, err, vp, vr, vf, dq


CASES = [
    Case("flat_field", "2d", _flat_2d(False)),
    Case("flat_field", "2d-inverse", _flat_2d(True)),
    Case("flat_field", "rateints-cube", _flat_cube),
    Case("photom_scale", "float32-conversion", _photom(_C32, float(np.float32(_C32) * np.float32(_C32)))),
    Case("photom_scale", "float64-conversion", _photom(_C64, _C64 * _C64)),
    Case("photom_scale", "inverse", _photom(_C64, _C64 * _C64, inverse=True)),
    Case("match_nans", "cube", _match),
]


def _stack(dtype, nvalues, float32_sum, maxiters=-1, sigma=3.0):
    def make(rng):
        npix = 173
        stack = rng.normal(10.0, 1.0, (nvalues, npix)).astype(dtype)
        # Outliers that clipping must remove, NaNs and infs it must ignore, all-NaN pixels.
        stack[rng.integers(0, nvalues, 40), rng.integers(0, npix, 40)] += 50.0
        stack[rng.integers(0, nvalues, 20), rng.integers(0, npix, 20)] = np.nan
        stack[0, 5] = np.inf
        stack[:, 7] = np.nan
        stack[:, 9] = 3.25  # identical values: zero std
        return stack, sigma, sigma, maxiters, float32_sum

    return make


def _bkg(rng):
    sci, _, _, dq = _science(rng, (2, 21, 25))
    bkg = rng.normal(0.3, 0.01, (21, 25))
    bkg_dq = rng.choice(_DQ_VALUES, (21, 25)).astype(np.uint32)
    return sci, dq, bkg, bkg_dq


CASES += [
    Case("sigma_clip_mean", "two-backgrounds", _stack(np.float32, 2, False)),
    Case("sigma_clip_mean", "two-low-sigma", _stack(np.float32, 2, False, sigma=1.0)),
    Case("sigma_clip_mean", "five-backgrounds", _stack(np.float32, 5, False)),
    Case("sigma_clip_mean", "eight-float64", _stack(np.float64, 8, False, sigma=2.0)),
    Case("sigma_clip_mean", "integrations-float32-sum", _stack(np.float32, 12, True)),
    Case("sigma_clip_mean", "maxiters-1", _stack(np.float32, 9, False, maxiters=1, sigma=1.5)),
    Case("background_subtract", "cube", _bkg),
]
