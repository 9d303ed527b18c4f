"""jwst's ``match_nans_and_flags`` as a kernel.

A pixel is invalid when any of SCI, ERR, VAR_POISSON, VAR_RNOISE, VAR_FLAT is
NaN or DQ has ``DO_NOT_USE``; invalid pixels get ``DO_NOT_USE`` and NaN in all
five arrays. Used on resample inputs and wherever a step ends with it (flat
field and photom fuse it into their own kernels).
"""

import numpy as np
from numpy import float32, uint32

from gpucal.engine.jit import Elementwise
from gpucal.kernels._pixel import any_nan5

__all__ = ["match_nans_cpu", "match_nans_gpu", "match_nans_ref"]


def _match_nans_px(sci, err, vpois, vrn, vflat, dq):
    if any_nan5(sci, err, vrn, vpois, vflat) or (dq & uint32(1)):
        nan = float32(np.nan)
        return nan, nan, nan, nan, nan, dq | uint32(1)
    return sci, err, vpois, vrn, vflat, dq


_kernel = Elementwise(
    "match_nans",
    _match_nans_px,
    inputs=("sci", "err", "var_poisson", "var_rnoise", "var_flat", "dq"),
    outputs=(("sci", 0), ("err", 1), ("var_poisson", 2), ("var_rnoise", 3), ("var_flat", 4), ("dq", 5)),
)


def match_nans_ref(sci, err, var_poisson, var_rnoise, var_flat, dq):
    """Numpy reference; returns new ``(sci, err, var_poisson, var_rnoise, var_flat, dq)``."""
    arrays = [a.copy() for a in (sci, err, var_poisson, var_rnoise, var_flat)]
    q = dq.copy()
    invalid = (q & 1) != 0
    for array in arrays:
        invalid |= np.isnan(array)
    q[invalid] |= np.uint32(1)
    for array in arrays:
        array[invalid] = np.nan
    return (*arrays, q)


match_nans_cpu = _kernel.cpu
match_nans_gpu = _kernel.gpu
match_nans_gpu_kernels = _kernel.gpu_kernels
