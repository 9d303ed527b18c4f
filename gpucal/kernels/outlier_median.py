"""Weight-masked NaN-median across the group images of outlier detection (stcal ``nanmedian3D``).

jwst's imaging outlier detection drizzles one "single" image per exposure
group, sets ``SCI = NaN`` where ``WHT < threshold`` (one threshold per group,
``maskpt`` times the clipped mean weight, float64), stacks the groups and takes
``numpy.nanmedian`` along the group axis in float32 (stcal
``outlier_detection.median.nanmedian3D``). This kernel fuses the masking and
the median for one band of rows, so neither the masked copies nor the full
stack need to exist:

* a group's value takes part unless it is NaN or ``float64(wht) < threshold``
  (a NaN threshold masks nothing, as the numpy comparison is false);
* +/-inf values take part and sort as numpy sorts them;
* odd count: the middle value; even count: ``float32(low + high) / 2`` in
  float32, which is what numpy's masked median computes (``np.ma.sum`` of the
  two middle float32 values, then ``true_divide`` by 2 into the float32 sum);
* no value: NaN.

The three forms agree bit for bit. The CUDA form sorts each pixel's values in
a local buffer of ``MAX_GPU_GROUPS`` entries; more groups raise on the GPU.
"""

import math

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable
from numpy import float32, float64

from gpucal.engine.jit import LazyCudaKernel, cuda_launch_config, launch_stream

#: numba.cuda, bound by LazyCudaKernel on first GPU use (importing it costs every CPU process).
cuda = None

__all__ = [
    "MAX_GPU_GROUPS",
    "outlier_median_cpu",
    "outlier_median_gpu",
    "outlier_median_gpu_kernels",
    "outlier_median_ref",
]

MAX_GPU_GROUPS = 512


@register_jitable
def _masked_median(data, wht, thresholds, r, i, buf):
    """Median of the unmasked ``data[:, r, i]`` sorted by insertion into ``buf``; NaN if none."""
    n = 0
    for g in range(data.shape[0]):
        v = data[g, r, i]
        if v != v or float64(wht[g, r, i]) < thresholds[g]:
            continue
        k = n
        while k > 0 and buf[k - 1] > v:
            buf[k] = buf[k - 1]
            k -= 1
        buf[k] = v
        n += 1
    if n == 0:
        return float32(math.nan)
    h = n // 2
    if n % 2 == 1:
        return buf[h]
    return float32(buf[h - 1] + buf[h]) / float32(2.0)


def _check(data, wht, thresholds):
    from gpucal.errors import ParameterError

    if data.ndim != 3 or data.dtype != np.float32 or not data.flags.c_contiguous:
        raise ParameterError(
            "outlier_median: data must be a C-contiguous (groups, rows, nx) float32 stack, "
            f"not {data.dtype} {data.shape}"
        )
    if wht.shape != data.shape or wht.dtype != np.float32 or not wht.flags.c_contiguous:
        raise ParameterError(f"outlier_median: wht must be a C-contiguous float32 stack of shape {data.shape}")
    if thresholds.shape != (data.shape[0],) or thresholds.dtype != np.float64:
        raise ParameterError(
            f"outlier_median: thresholds must be float64 of shape ({data.shape[0]},), not {thresholds.shape}"
        )


def outlier_median_ref(data, wht, thresholds):
    """Numpy reference: stcal's masking and ``nanmedian3D`` on a band of rows.

    Parameters
    ----------
    data : ndarray of float32, shape (ngroups, rows, nx)
        The groups' single drizzled images (a band of their rows).
    wht : ndarray of float32, shape (ngroups, rows, nx)
        Their drizzle weights.
    thresholds : ndarray of float64, shape (ngroups,)
        Per-group weight thresholds (:func:`gpucal.outlier.threshold.weight_threshold`).

    Returns
    -------
    ndarray of float32, shape (rows, nx)
    """
    import warnings

    _check(data, wht, thresholds)
    masked = data.copy()
    for g in range(data.shape[0]):
        masked[g][wht[g] < thresholds[g]] = np.nan
    out = np.empty(data.shape[1:], np.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice encountered", RuntimeWarning)
        for r in range(out.shape[0]):
            np.nanmedian(masked[:, r, :], axis=0, out=out[r])
    return out


@njit(parallel=True, cache=True, error_model="numpy", nogil=True)
def _cpu(data, wht, thresholds, out):
    for r in prange(out.shape[0]):
        buf = np.empty(max(data.shape[0], 1), np.float32)
        for i in range(out.shape[1]):
            out[r, i] = _masked_median(data, wht, thresholds, r, i, buf)


def outlier_median_cpu(data, wht, thresholds):
    """numba CPU form of :func:`outlier_median_ref` (parallel over rows; identical results)."""
    _check(data, wht, thresholds)
    out = np.empty(data.shape[1:], np.float32)
    if out.size:
        _cpu(data, wht, thresholds, out)
    return out


def _gpu_py(data, wht, thresholds, out):
    buf = cuda.local.array(MAX_GPU_GROUPS, float32)
    nx = out.shape[1]
    n = out.shape[0] * nx
    k = cuda.grid(1)
    step = cuda.gridsize(1)
    while k < n:
        r = k // nx
        i = k - r * nx
        out[r, i] = _masked_median(data, wht, thresholds, r, i, buf)
        k += step


_gpu = LazyCudaKernel(_gpu_py)


def _gpu_args(data, wht, thresholds):
    from gpucal.engine.arrays import get_array_module
    from gpucal.errors import ParameterError

    _check(data, wht, thresholds)
    if data.shape[0] > MAX_GPU_GROUPS:
        raise ParameterError(
            f"outlier_median: {data.shape[0]} groups exceed the GPU kernel's limit of {MAX_GPU_GROUPS}; use the CPU"
        )
    out = get_array_module(data).empty(data.shape[1:], np.float32)
    return data, wht, thresholds, out


def outlier_median_gpu(data, wht, thresholds):
    """CUDA form of :func:`outlier_median_ref` (one thread per pixel, values sorted in local memory)."""
    from gpucal.engine.device import cuda_status

    args = _gpu_args(data, wht, thresholds)
    out = args[-1]
    if out.size:
        blocks, threads = cuda_launch_config(out.size, cuda_status().simulated)
        _gpu[blocks, threads, launch_stream(args[:3])](*args)
    return out


def outlier_median_gpu_kernels(data, wht, thresholds):
    """``[(python_function, numba argument types)]`` of the CUDA kernel :func:`outlier_median_gpu` launches."""
    import numba

    args = _gpu_args(data, wht, thresholds)
    return [(_gpu.python_function(), tuple(numba.typeof(a) for a in args))]
