"""Accumulate one exposure's drizzled variance into the running weighted sums (stcal).

The inputs are this exposure's *drizzled standard deviations* (jwst drizzles
``sqrt(VAR)`` into a fresh grid and squares the result, in float32). For each
output pixel, with ``v`` the squared drizzled value and ``w`` its combination
weight (``ivm``: ``float32(1 / v_rnoise)`` where the
drizzled read-noise variance is > 0 and finite, else 0; ``exptime``: the
measurement time), where ``v >= 0``, ``v`` finite and ``w > 0``:
``S = nansum(S, v*w*w)`` (float64, stored float32) and ``T += w``.
"""

import math

import numpy as np
from numpy import float32, float64

from gpucal.engine.jit import Elementwise

__all__ = ["variance_combine_cpu", "variance_combine_gpu", "variance_combine_gpu_kernels", "variance_combine_ref"]


def _variance_combine_px(std, rn_std, wsum, wt, mode, tmeasure):
    var = std * std
    rn_var = rn_std * rn_std
    if mode == 1:
        w = float64(tmeasure)
    elif rn_var > float32(0.0) and math.isfinite(rn_var):
        w = float64(float32(1.0) / rn_var)
    else:
        w = float64(0.0)
    if var >= float32(0.0) and math.isfinite(var) and w > 0.0:
        add = float64(var) * w * w
        s = float32(add) if wsum != wsum else float32(float64(wsum) + add)  # a NaN sum restarts at this term
        return s, float32(float64(wt) + w)
    return wsum, wt


_kernel = Elementwise(
    "variance_combine",
    _variance_combine_px,
    inputs=("std", "rn_std", "wsum", "wt"),
    params=("mode", "tmeasure"),
    outputs=(("wsum", 2), ("wt", 3)),
)


def variance_combine_ref(std, rn_std, wsum, wt, mode, tmeasure):
    """Numpy reference, as stcal's ``resample_variance_arrays`` (returns new ``(wsum, wt)``).

    ``std`` and ``rn_std`` are the drizzled square roots of this exposure's
    variance and read-noise variance (float32).
    """
    var, rn_var = std**2, rn_std**2
    wsum, wt = wsum.copy(), wt.copy()
    if mode == 1:
        weight = np.full(var.shape, tmeasure)
    else:
        mask = (rn_var > 0) & np.isfinite(rn_var)
        weight = np.zeros(var.shape)
        weight[mask] = np.reciprocal(rn_var[mask])
    mask = (var >= 0) & np.isfinite(var) & (weight > 0)
    wsum[mask] = np.nansum([wsum[mask], var[mask] * weight[mask] * weight[mask]], axis=0)
    wt[mask] += weight[mask]
    return wsum, wt


variance_combine_cpu = _kernel.cpu
variance_combine_gpu = _kernel.gpu
variance_combine_gpu_kernels = _kernel.gpu_kernels
