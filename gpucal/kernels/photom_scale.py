"""Photometric scaling (jwst ``photom`` for imaging).

``SCI`` and ``ERR`` are multiplied by the conversion ``C`` (PHOTMJSR divided by
the time-dependence correction), ``VAR_POISSON``, ``VAR_RNOISE`` and
``VAR_FLAT`` by ``C2``; then NaNs and ``DO_NOT_USE`` are matched as jwst's
``match_nans_and_flags`` does.

numpy semantics are reproduced exactly: jwst multiplies float32 arrays in
place by a numpy scalar, which for a float64 scalar means a float64 product
rounded to float32 and for a float32 scalar a float32 product. Computing the
product in float64 and rounding gives the identical result in both cases
(the exact product of two float32 numbers fits a float64), so the caller
passes ``C`` and ``C2 = C*C`` (computed in C's own dtype) as Python floats.
"""

import numpy as np
from numpy import float32, float64, uint32

from gpucal.engine.jit import Elementwise
from gpucal.kernels._pixel import any_nan5

__all__ = ["photom_scale_cpu", "photom_scale_gpu", "photom_scale_ref"]


def _photom_scale_px(sci, err, vpois, vrn, vflat, dq, c, c2, inverse):
    if inverse:
        s = float32(float64(sci) / c)
        e = float32(float64(err) / c)
        vp = float32(float64(vpois) / c2)
        vr = float32(float64(vrn) / c2)
        vf = float32(float64(vflat) / c2)
    else:
        s = float32(float64(sci) * c)
        e = float32(float64(err) * c)
        vp = float32(float64(vpois) * c2)
        vr = float32(float64(vrn) * c2)
        vf = float32(float64(vflat) * c2)
    if any_nan5(s, e, vr, vp, vf) or (dq & uint32(1)):
        nan = float32(np.nan)
        return nan, nan, nan, nan, nan, dq | uint32(1)
    return s, e, vp, vr, vf, dq


_kernel = Elementwise(
    "photom_scale",
    _photom_scale_px,
    inputs=("sci", "err", "var_poisson", "var_rnoise", "var_flat", "dq"),
    params=("conversion", "conversion_squared", "inverse"),
    outputs=(("sci", 0), ("err", 1), ("var_poisson", 2), ("var_rnoise", 3), ("var_flat", 4), ("dq", 5)),
)


def photom_scale_ref(sci, err, var_poisson, var_rnoise, var_flat, dq, conversion, conversion_squared, inverse):
    """Numpy reference for photometric scaling.

    Parameters
    ----------
    sci, err, var_poisson, var_rnoise, var_flat : ndarray of float32
    dq : ndarray of uint32
    conversion, conversion_squared : float
        ``C`` and ``C*C`` as jwst computes them (see module notes).
    inverse : bool
        Divide instead of multiplying (jwst's ``inverse``).

    Returns
    -------
    tuple of ndarray
        ``(sci, err, var_poisson, var_rnoise, var_flat, dq)``, new arrays.
    """
    c, c2 = np.float64(conversion), np.float64(conversion_squared)
    pairs = ((sci, c), (err, c), (var_poisson, c2), (var_rnoise, c2), (var_flat, c2))
    if inverse:
        out = [(a.astype(np.float64) / k).astype(np.float32) for a, k in pairs]
    else:
        out = [(a.astype(np.float64) * k).astype(np.float32) for a, k in pairs]
    q = dq.copy()
    invalid = (q & 1) != 0
    for array in out:
        invalid |= np.isnan(array)
    q[invalid] |= np.uint32(1)
    for array in out:
        array[invalid] = np.nan
    return (*out, q)


photom_scale_cpu = _kernel.cpu
photom_scale_gpu = _kernel.gpu
photom_scale_gpu_kernels = _kernel.gpu_kernels
