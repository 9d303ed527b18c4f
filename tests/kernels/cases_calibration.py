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
    sci.flat[:: 17] = np.nan
    sci.flat[5 :: 23] = 0.0
    vp = rng.uniform(0.0, 2.0, shape).astype(np.float32)
    vr = rng.uniform(0.0, 1.0, shape).astype(np.float32)
    vp.flat[3 :: 41] = np.nan
    dq = rng.choice(_DQ_VALUES, shape).astype(np.uint32)
    return sci, vp, vr, dq


def _flat(rng, shape):
    flat = rng.normal(1.0, 0.2, shape).astype(np.float32)
    flat.flat[:: 13] = 0.0
    flat.flat[1 :: 19] = np.nan
    flat.flat[2 :: 11] = -0.7
    flat_err = rng.uniform(0.0, 0.05, shape).astype(np.float32)
    flat_dq = rng.choice(_DQ_VALUES, shape).astype(np.uint32)
    return flat, flat_err, flat_dq


def _flat_2d(rng):
    sci, vp, vr, dq = _science(rng, (37, 41))
    return (sci, vp, vr, dq, *_flat(rng, (37, 41)))


def _flat_cube(rng):
    sci, vp, vr, dq = _science(rng, (3, 19, 23))
    return (sci, vp, vr, dq, *_flat(rng, (19, 23)))


def _photom(conversion, squared):
    def make(rng):
        sci, vp, vr, dq = _science(rng, (29, 31))
        err = np.sqrt(vp + vr).astype(np.float32)
        vf = rng.uniform(0.0, 0.1, (29, 31)).astype(np.float32)
        return sci, err, vp, vr, vf, dq, conversion, squared

    return make


_C32 = float(np.float32(0.3044277))
_C64 = 0.3044277 / 0.98765


def _match(rng):
    sci, vp, vr, dq = _science(rng, (2, 17, 19))
    err = np.sqrt(vp + vr).astype(np.float32)
    vf = rng.uniform(0.0, 0.1, sci.shape).astype(np.float32)
    vf.flat[7 :: 29] = np.nan
    return sci, err, vp, vr, vf, dq


CASES = [
    Case("flat_field", "2d", _flat_2d),
    Case("flat_field", "rateints-cube", _flat_cube),
    Case("photom_scale", "float32-conversion", _photom(_C32, float(np.float32(_C32) * np.float32(_C32)))),
    Case("photom_scale", "float64-conversion", _photom(_C64, _C64 * _C64)),
    Case("match_nans", "cube", _match),
]
