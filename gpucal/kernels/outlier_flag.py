"""Outlier flags from the blotted median (stcal ``flag_resampled_crs`` and ``flag_crs``).

``outlier_flag`` (imaging with ``resample_data=True``), per pixel, all in float32
as numpy evaluates stcal's expressions:

* ``deriv``: stcal's ``_abs_deriv`` of the blot: 0 (NaN where the blot is NaN);
  the finite ``|b[i] - b[i-1]|`` along y *replaces* it, then
  ``|b[i+1] - b[i]|``, ``|b[j] - b[j-1]|``, ``|b[j+1] - b[j]|`` replace it
  where greater (NaN comparisons are false; image edges have fewer neighbours);
* ``D = |SCI - blot - backg|``, ``err = nan_to_num(ERR)``;
* ``m1 = D > scale1 * deriv + snr1 * err``; ``m1s`` = any ``m1`` in the 3x3
  neighbourhood clipped to the image (``ndimage.convolve(..., mode='nearest')``
  on a boolean mask is exactly that); ``m2 = D > scale2 * deriv + snr2 * err``;
* ``cr = m1s & m2``; ``DQ |= 17`` (DO_NOT_USE | OUTLIER) where ``cr``.

``outlier_flag_direct`` (``resample_data=False``): ``cr = |SCI - median| >
snr * nan_to_num(ERR)``, ``DQ |= 17`` where ``cr``.

Both return new ``(cr, dq)`` arrays (bool, uint32). The growth of ``m1`` needs
its neighbours, so the resampled form runs two passes (``m1``, then the rest).
The forms agree bit for bit on the CPU and in the CUDA simulator; on a real GPU
NVVM may fuse ``scale * deriv + snr * err`` into one multiply-add (numba's
default), which can move a threshold by one float32 ulp.
"""

import math

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable
from numpy import float32, uint32

from gpucal.engine.jit import LazyCudaKernel, cuda_launch_config, launch_stream

#: numba.cuda, bound by LazyCudaKernel on first GPU use (importing it costs every CPU process).
cuda = None

__all__ = [
    "OUTLIER_DQ",
    "outlier_flag_cpu",
    "outlier_flag_direct_cpu",
    "outlier_flag_direct_gpu",
    "outlier_flag_direct_gpu_kernels",
    "outlier_flag_direct_ref",
    "outlier_flag_gpu",
    "outlier_flag_gpu_kernels",
    "outlier_flag_ref",
]

#: DQ bits set on outliers: DO_NOT_USE | OUTLIER.
OUTLIER_DQ = 17
_FLOAT32_MAX = float32(np.finfo(np.float32).max)


@register_jitable(forceinline=True)
def _nan_to_num(x):
    if x != x:
        return float32(0.0)
    if x == math.inf:
        return _FLOAT32_MAX
    if x == -math.inf:
        return -_FLOAT32_MAX
    return x


@register_jitable(forceinline=True)
def _abs_deriv(blot, i, j):
    """stcal's ``_abs_deriv`` at pixel ``(i, j)``."""
    ny, nx = blot.shape
    c = blot[i, j]
    out = float32(math.nan) if c != c else float32(0.0)
    if i >= 1:
        d = abs(c - blot[i - 1, j])
        if math.isfinite(d):
            out = d
    if i + 1 < ny:
        d = abs(blot[i + 1, j] - c)
        if d > out:
            out = d
    if j >= 1:
        d = abs(c - blot[i, j - 1])
        if d > out:
            out = d
    if j + 1 < nx:
        d = abs(blot[i, j + 1] - c)
        if d > out:
            out = d
    return out


@register_jitable(forceinline=True)
def _tests(sci, err, blot, i, j, backg, snr, scale):
    """``(D, deriv, err)`` of pixel ``(i, j)`` and ``D > scale * deriv + snr * err``."""
    diff = abs(sci[i, j] - blot[i, j] - backg)
    deriv = _abs_deriv(blot, i, j)
    e = _nan_to_num(err[i, j])
    return diff > scale * deriv + snr * e


@register_jitable(forceinline=True)
def _grown(m1, i, j):
    ny, nx = m1.shape
    for y in range(max(i - 1, 0), min(i + 2, ny)):
        for x in range(max(j - 1, 0), min(j + 2, nx)):
            if m1[y, x]:
                return True
    return False


@register_jitable(forceinline=True)
def _final(sci, err, blot, dq, m1, i, j, backg, snr2, scale2, cr, dq_out):
    hit = _grown(m1, i, j) and _tests(sci, err, blot, i, j, backg, snr2, scale2)
    cr[i, j] = hit
    dq_out[i, j] = dq[i, j] | uint32(OUTLIER_DQ) if hit else dq[i, j]


@register_jitable(forceinline=True)
def _direct(sci, err, median, dq, i, j, snr, cr, dq_out):
    hit = abs(sci[i, j] - median[i, j]) > snr * _nan_to_num(err[i, j])
    cr[i, j] = hit
    dq_out[i, j] = dq[i, j] | uint32(OUTLIER_DQ) if hit else dq[i, j]


def _prepare(sci, err, blot, dq, scalars):
    """Validate; returns float32 scalars and fresh ``(cr, dq_out)`` (and the m1 scratch) arrays."""
    from gpucal.engine.arrays import get_array_module
    from gpucal.errors import ParameterError

    shape = sci.shape
    for label, array, dtype in (("sci", sci, np.float32), ("err", err, np.float32), ("blot", blot, np.float32),
                                ("dq", dq, np.uint32)):  # fmt: skip
        if array.ndim != 2 or array.shape != shape or array.dtype != dtype or not array.flags.c_contiguous:
            raise ParameterError(
                f"outlier_flag: {label} must be a C-contiguous 2-D {np.dtype(dtype)} array of shape {shape}, "
                f"not {array.dtype} {array.shape}"
            )
    xp = get_array_module(sci)
    return tuple(float32(s) for s in scalars), xp.empty(shape, np.bool_), xp.empty(shape, np.uint32), xp


def outlier_flag_ref(sci, err, blot, dq, backg, snr1, snr2, scale1, scale2):
    """Numpy reference, as stcal's ``flag_resampled_crs`` and jwst's DQ update.

    Parameters
    ----------
    sci, err : ndarray of float32, shape (ny, nx)
        The exposure's SCI and ERR.
    blot : ndarray of float32, shape (ny, nx)
        The median blotted onto the exposure.
    dq : ndarray of uint32, shape (ny, nx)
    backg : float
        Background level subtracted from the difference.
    snr1, snr2, scale1, scale2 : float
        jwst's ``snr`` and ``scale`` pairs.

    Returns
    -------
    cr : ndarray of bool
        The outliers.
    dq : ndarray of uint32
        ``dq | 17`` on outliers.
    """
    from scipy import ndimage

    (backg, snr1, snr2, scale1, scale2), _, _, _ = _prepare(sci, err, blot, dq, (backg, snr1, snr2, scale1, scale2))
    deriv = np.zeros_like(blot)
    deriv[np.isnan(blot)] = np.nan
    row = np.abs(np.diff(blot, axis=0))
    np.putmask(deriv[1:], np.isfinite(row), row)
    np.putmask(deriv[:-1], row > deriv[:-1], row)
    col = np.abs(np.diff(blot, axis=1))
    np.putmask(deriv[:, 1:], col > deriv[:, 1:], col)
    np.putmask(deriv[:, :-1], col > deriv[:, :-1], col)
    e = np.nan_to_num(err)
    diff = np.abs(sci - blot - backg)
    m1 = diff > scale1 * deriv + snr1 * e
    m1s = ndimage.convolve(m1, np.ones((3, 3), int), mode="nearest")
    cr = m1s & (diff > scale2 * deriv + snr2 * e)
    return cr, dq | (cr * np.uint32(OUTLIER_DQ))


@njit(parallel=True, cache=True, error_model="numpy", nogil=True)
def _cpu(sci, err, blot, dq, backg, snr1, snr2, scale1, scale2, m1, cr, dq_out):
    # The first test is written out in the loop (the same float32 operations as _tests): called as a
    # jitable from the parallel loop it runs several times slower (no vectorisation of the row loop).
    ny, nx = sci.shape
    for i in prange(ny):
        for j in range(nx):
            c = blot[i, j]
            deriv = float32(math.nan) if c != c else float32(0.0)
            if i >= 1:
                d = abs(c - blot[i - 1, j])
                if d - d == float32(0.0):  # finite
                    deriv = d
            if i + 1 < ny:
                d = abs(blot[i + 1, j] - c)
                if d > deriv:
                    deriv = d
            if j >= 1:
                d = abs(c - blot[i, j - 1])
                if d > deriv:
                    deriv = d
            if j + 1 < nx:
                d = abs(blot[i, j + 1] - c)
                if d > deriv:
                    deriv = d
            diff = abs(sci[i, j] - c - backg)
            m1[i, j] = diff > scale1 * deriv + snr1 * _nan_to_num(err[i, j])
    for i in prange(ny):
        y0 = max(i - 1, 0)
        y1 = min(i + 2, ny)
        for j in range(nx):
            jm = max(j - 1, 0)
            jp = min(j + 1, nx - 1)
            grown = False
            for y in range(y0, y1):  # clamped columns: a repeated pixel does not change the "any"
                grown = grown | m1[y, jm] | m1[y, j] | m1[y, jp]
            hit = False
            if grown:  # rare: the second test only where the first one grew
                hit = _tests(sci, err, blot, i, j, backg, snr2, scale2)
            cr[i, j] = hit
            dq_out[i, j] = dq[i, j] | uint32(OUTLIER_DQ) if hit else dq[i, j]


def outlier_flag_cpu(sci, err, blot, dq, backg, snr1, snr2, scale1, scale2):
    """numba CPU form of :func:`outlier_flag_ref` (two parallel passes; identical results)."""
    scalars, cr, dq_out, _ = _prepare(sci, err, blot, dq, (backg, snr1, snr2, scale1, scale2))
    if sci.size:
        _cpu(sci, err, blot, dq, *scalars, np.empty(sci.shape, np.bool_), cr, dq_out)
    return cr, dq_out


def _m1_py(sci, err, blot, backg, snr1, scale1, m1):
    nx = sci.shape[1]
    k = cuda.grid(1)
    step = cuda.gridsize(1)
    while k < sci.size:
        i = k // nx
        j = k - i * nx
        m1[i, j] = _tests(sci, err, blot, i, j, backg, snr1, scale1)
        k += step


def _final_py(sci, err, blot, dq, m1, backg, snr2, scale2, cr, dq_out):
    nx = sci.shape[1]
    k = cuda.grid(1)
    step = cuda.gridsize(1)
    while k < sci.size:
        i = k // nx
        j = k - i * nx
        _final(sci, err, blot, dq, m1, i, j, backg, snr2, scale2, cr, dq_out)
        k += step


def _direct_py(sci, err, median, dq, snr, cr, dq_out):
    nx = sci.shape[1]
    k = cuda.grid(1)
    step = cuda.gridsize(1)
    while k < sci.size:
        i = k // nx
        j = k - i * nx
        _direct(sci, err, median, dq, i, j, snr, cr, dq_out)
        k += step


_m1_kernel = LazyCudaKernel(_m1_py)
_final_kernel = LazyCudaKernel(_final_py)
_direct_kernel = LazyCudaKernel(_direct_py)


def _gpu_launches(sci, err, blot, dq, backg, snr1, snr2, scale1, scale2):
    scalars, cr, dq_out, xp = _prepare(sci, err, blot, dq, (backg, snr1, snr2, scale1, scale2))
    backg, snr1, snr2, scale1, scale2 = scalars
    m1 = xp.empty(sci.shape, np.bool_)
    return (cr, dq_out), [
        (_m1_kernel, (sci, err, blot, backg, snr1, scale1, m1)),
        (_final_kernel, (sci, err, blot, dq, m1, backg, snr2, scale2, cr, dq_out)),
    ]


def _run(outputs, launches):
    from gpucal.engine.device import cuda_status

    n = outputs[0].size
    if n:
        blocks, threads = cuda_launch_config(n, cuda_status().simulated)
        stream = launch_stream(outputs)
        for kernel, args in launches:  # same stream: the second pass sees the whole m1
            kernel[blocks, threads, stream](*args)
    return outputs


def _kernel_types(launches):
    import numba

    return [(k.python_function(), tuple(numba.typeof(a) for a in args)) for k, args in launches]


def outlier_flag_gpu(sci, err, blot, dq, backg, snr1, snr2, scale1, scale2):
    """CUDA form of :func:`outlier_flag_ref` (two kernels on one stream)."""
    return _run(*_gpu_launches(sci, err, blot, dq, backg, snr1, snr2, scale1, scale2))


def outlier_flag_gpu_kernels(sci, err, blot, dq, backg, snr1, snr2, scale1, scale2):
    """``[(python_function, numba argument types)]`` of the CUDA kernels :func:`outlier_flag_gpu` launches."""
    return _kernel_types(_gpu_launches(sci, err, blot, dq, backg, snr1, snr2, scale1, scale2)[1])


def outlier_flag_direct_ref(sci, err, median, dq, snr):
    """Numpy reference, as stcal's ``flag_crs`` and jwst's DQ update (``resample_data=False``).

    Parameters
    ----------
    sci, err : ndarray of float32, shape (ny, nx)
    median : ndarray of float32, shape (ny, nx)
        The median of the (unresampled) inputs.
    dq : ndarray of uint32, shape (ny, nx)
    snr : float
        jwst's first ``snr`` value.

    Returns
    -------
    cr : ndarray of bool
    dq : ndarray of uint32
        ``dq | 17`` on outliers.
    """
    (snr,), _, _, _ = _prepare(sci, err, median, dq, (snr,))
    cr = np.greater(np.abs(sci - median), snr * np.nan_to_num(err))
    return cr, dq | (cr * np.uint32(OUTLIER_DQ))


@njit(parallel=True, cache=True, error_model="numpy", nogil=True)
def _direct_cpu(sci, err, median, dq, snr, cr, dq_out):
    for i in prange(sci.shape[0]):
        for j in range(sci.shape[1]):
            _direct(sci, err, median, dq, i, j, snr, cr, dq_out)


def outlier_flag_direct_cpu(sci, err, median, dq, snr):
    """numba CPU form of :func:`outlier_flag_direct_ref`."""
    (snr,), cr, dq_out, _ = _prepare(sci, err, median, dq, (snr,))
    if sci.size:
        _direct_cpu(sci, err, median, dq, snr, cr, dq_out)
    return cr, dq_out


def _direct_launches(sci, err, median, dq, snr):
    (snr,), cr, dq_out, _ = _prepare(sci, err, median, dq, (snr,))
    return (cr, dq_out), [(_direct_kernel, (sci, err, median, dq, snr, cr, dq_out))]


def outlier_flag_direct_gpu(sci, err, median, dq, snr):
    """CUDA form of :func:`outlier_flag_direct_ref`."""
    return _run(*_direct_launches(sci, err, median, dq, snr))


def outlier_flag_direct_gpu_kernels(sci, err, median, dq, snr):
    """``[(python_function, numba argument types)]`` of the CUDA kernel :func:`outlier_flag_direct_gpu` launches."""
    return _kernel_types(_direct_launches(sci, err, median, dq, snr)[1])
