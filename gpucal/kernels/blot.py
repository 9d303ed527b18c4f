"""Blot: resample an output-grid image back onto an input frame (drizzle 2.2 ``tblot``, ``interp='linear'``).

jwst's outlier detection blots the median image onto every input exposure
with ``blot_image(interp='linear', fillval=NaN, iscale=1)``. For each pixel
of the target (input-exposure) frame, ``pixmap`` gives its position
``(x, y)`` in the source (median) image; the value is a pure gather:

* ``xo = (float)x``, ``yo = (float)y``; outside ``0 <= xo < nx``,
  ``0 <= yo < ny`` (and for NaN, which the C code rejects and jwst replaces
  by -1 beforehand) the pixel gets ``fillval``;
* otherwise, with ``nx0 = (int)xo``, ``ny0 = (int)yo`` and float32
  arithmetic throughout: bilinear interpolation of the four neighbours; on
  the last column (last row) linear interpolation along y (x) only; the last
  pixel itself is copied;
* the value is multiplied by ``iscale`` (as float32).

The three forms return a new float32 array of shape ``pixmap.shape[:2]``
(or fill ``out``); they agree bit for bit.
"""

import math

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable
from numpy import float32, int64

from gpucal.engine.arrays import get_array_module
from gpucal.engine.jit import LazyCudaKernel, cuda_launch_config, launch_stream

#: numba.cuda, bound by LazyCudaKernel on first GPU use (importing it costs every CPU process).
cuda = None

__all__ = ["blot_cpu", "blot_gpu", "blot_gpu_kernels", "blot_ref"]


@register_jitable(forceinline=True, _nrt=False)
def _blot_value(data, x, y, fillval, scale):
    """Bilinear value of ``data`` at ``(x, y)`` with tblot's edge rules, times ``scale``; ``fillval`` outside."""
    ny, nx = data.shape
    xo = float32(x)
    yo = float32(y)
    if not (xo >= float32(0.0) and xo < float32(nx) and yo >= float32(0.0) and yo < float32(ny)):
        return fillval
    ix = int64(xo)
    iy = int64(yo)
    f00 = data[iy, ix]
    one = float32(1.0)
    if ix == nx - 1:
        if iy == ny - 1:
            return f00 * scale
        sy = yo - float32(iy)
        return ((one - sy) * f00 + sy * data[iy + 1, ix]) * scale
    if iy == ny - 1:
        sx = xo - float32(ix)
        return ((one - sx) * f00 + sx * data[iy, ix + 1]) * scale
    sx = xo - float32(ix)
    tx = one - sx
    sy = yo - float32(iy)
    ty = one - sy
    value = tx * ty * f00 + sx * ty * data[iy, ix + 1] + sy * tx * data[iy + 1, ix] + sx * sy * data[iy + 1, ix + 1]
    return value * scale


@njit(parallel=True, cache=True, error_model="numpy", nogil=True)
def _blot_rows(data, pixmap, fillval, scale, out):
    for j in prange(out.shape[0]):
        for i in range(out.shape[1]):
            out[j, i] = _blot_value(data, pixmap[j, i, 0], pixmap[j, i, 1], fillval, scale)


def _blot_kernel_py(data, pixmap, fillval, scale, out):
    nx_out = out.shape[1]
    n = out.shape[0] * nx_out
    k = cuda.grid(1)
    step = cuda.gridsize(1)
    while k < n:
        j = k // nx_out
        i = k - j * nx_out
        out[j, i] = _blot_value(data, pixmap[j, i, 0], pixmap[j, i, 1], fillval, scale)
        k += step


_blot_kernel = LazyCudaKernel(_blot_kernel_py)


def _prepare(data, pixmap, fillval, iscale, out):
    """Validate arguments; returns ``(fillval32, scale32, out)``."""
    from gpucal.errors import ParameterError

    if data.dtype != np.float32 or data.ndim != 2 or not data.flags.c_contiguous:
        raise ParameterError(f"data must be a C-contiguous 2-D float32 array, not {data.dtype} {data.shape}")
    if pixmap.dtype != np.float64 or pixmap.ndim != 3 or pixmap.shape[2] != 2 or not pixmap.flags.c_contiguous:
        raise ParameterError(f"pixmap must be a C-contiguous float64 array of shape (ny, nx, 2), not {pixmap.shape}")
    scale = np.float32(iscale)
    if not scale > 0 or not math.isfinite(scale):
        raise ParameterError(f"iscale must be positive and finite, not {iscale}")
    shape = pixmap.shape[:2]
    if out is None:
        out = get_array_module(data, pixmap).empty(shape, dtype=np.float32)
    elif out.dtype != np.float32 or tuple(out.shape) != tuple(shape) or not out.flags.c_contiguous:
        raise ParameterError(f"out must be a C-contiguous float32 array of shape {shape}")
    return np.float32(fillval), scale, out


def blot_ref(data, pixmap, fillval=np.nan, iscale=1.0, out=None):
    """Numpy reference of linear blotting (vectorised transcription of ``tblot``).

    Parameters
    ----------
    data : ndarray of float32, shape (ny, nx)
        Source image (the median, on the output grid).
    pixmap : ndarray of float64, shape (NY, NX, 2)
        Position in ``data`` of every target pixel; NaN = unmapped.
    fillval : float
        Value of target pixels that map outside ``data``.
    iscale : float
        Intensity scale (float32).
    out : ndarray of float32, shape (NY, NX), optional
        Where to write the result.

    Returns
    -------
    ndarray of float32, shape (NY, NX)
    """
    fill, scale, out = _prepare(data, pixmap, fillval, iscale, out)
    ny, nx = data.shape
    xo = pixmap[..., 0].astype(np.float32)
    yo = pixmap[..., 1].astype(np.float32)
    inside = (xo >= 0) & (xo < np.float32(nx)) & (yo >= 0) & (yo < np.float32(ny))
    xs, ys = xo[inside], yo[inside]
    ix, iy = xs.astype(np.int64), ys.astype(np.int64)
    ix1, iy1 = np.minimum(ix + 1, nx - 1), np.minimum(iy + 1, ny - 1)
    sx, sy = xs - ix.astype(np.float32), ys - iy.astype(np.float32)
    tx, ty = np.float32(1) - sx, np.float32(1) - sy
    f00, f10, f01, f11 = data[iy, ix], data[iy, ix1], data[iy1, ix], data[iy1, ix1]
    value = tx * ty * f00 + sx * ty * f10 + sy * tx * f01 + sx * sy * f11
    last_x, last_y = ix == nx - 1, iy == ny - 1
    value = np.where(last_x & ~last_y, ty * f00 + sy * f01, value)
    value = np.where(last_y & ~last_x, tx * f00 + sx * f10, value)
    value = np.where(last_x & last_y, f00, value)
    out[...] = fill
    out[inside] = value * scale
    return out


def blot_cpu(data, pixmap, fillval=np.nan, iscale=1.0, out=None):
    """Numba CPU form of :func:`blot_ref` (parallel over target rows; identical results)."""
    fill, scale, out = _prepare(data, pixmap, fillval, iscale, out)
    _blot_rows(data, pixmap, fill, scale, out)
    return out


def blot_gpu(data, pixmap, fillval=np.nan, iscale=1.0, out=None):
    """CUDA form of :func:`blot_ref` (CuPy arrays on a GPU, numpy arrays in the simulator)."""
    from gpucal.engine.device import cuda_status

    fill, scale, out = _prepare(data, pixmap, fillval, iscale, out)
    blocks, threads = cuda_launch_config(out.size, cuda_status().simulated)
    _blot_kernel[blocks, threads, launch_stream((data, pixmap, out))](data, pixmap, fill, scale, out)
    return out


def blot_gpu_kernels(data, pixmap, fillval=np.nan, iscale=1.0, out=None):
    """``[(python_function, numba argument types)]`` of the CUDA kernel :func:`blot_gpu` launches."""
    import numba

    fill, scale, out = _prepare(data, pixmap, fillval, iscale, out)
    return [(_blot_kernel.python_function(), tuple(numba.typeof(a) for a in (data, pixmap, fill, scale, out)))]
