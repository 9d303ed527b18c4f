"""Resampled ERR from the resampled variances (stcal, ``compute_err="from_var"``).

``ERR = sqrt(nansum(VAR_RNOISE, VAR_FLAT, VAR_POISSON))`` in float32 (summed
in that order), NaN where all three are NaN.
"""

import math

import numpy as np
from numpy import float32

from gpucal.engine.jit import Elementwise

__all__ = [
    "error_from_variances_cpu",
    "error_from_variances_gpu",
    "error_from_variances_gpu_kernels",
    "error_from_variances_ref",
]


def _error_from_variances_px(var_rnoise, var_flat, var_poisson):
    if (var_rnoise != var_rnoise) and (var_flat != var_flat) and (var_poisson != var_poisson):
        return float32(np.nan)
    total = float32(0.0)
    if var_rnoise == var_rnoise:
        total = total + var_rnoise
    if var_flat == var_flat:
        total = total + var_flat
    if var_poisson == var_poisson:
        total = total + var_poisson
    return float32(math.sqrt(total))


_kernel = Elementwise(
    "error_from_variances",
    _error_from_variances_px,
    inputs=("var_rnoise", "var_flat", "var_poisson"),
    outputs=(("err", 0),),
)


def error_from_variances_ref(var_rnoise, var_flat, var_poisson):
    """Numpy reference (stcal's ``finalize``)."""
    components = [var_rnoise, var_flat, var_poisson]
    with np.errstate(invalid="ignore"):
        err = np.sqrt(np.nansum(components, axis=0))
    err[np.all(np.isnan(components), axis=0)] = np.nan
    return err.astype(np.float32)


error_from_variances_cpu = _kernel.cpu
error_from_variances_gpu = _kernel.gpu
error_from_variances_gpu_kernels = _kernel.gpu_kernels
