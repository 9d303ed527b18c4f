"""Background image from a background mesh: photutils ``Background2D``'s bicubic spline zoom.

jwst's tweakreg and source_catalog estimate the sky with photutils
``Background2D``: statistics in ``box_size`` boxes give a coarse mesh (a few
by a few values for a full NIRCam frame), and the full-size background and
RMS images are that mesh resized with ``scipy.ndimage.zoom(mesh, box_size,
order=3, mode='reflect', grid_mode=True)``, cropped to the data's shape and
clipped to the mesh's range. The zoom evaluates a 4x4 bicubic B-spline at
every output pixel in one thread: on a 2048x2048 frame it is a quarter of
tweakreg's time, twice per exposure (background and RMS).

The forms here evaluate the same spline in the same arithmetic, so that the
images equal scipy's bit for bit:

* the spline coefficients are scipy's own ``spline_filter`` of the mesh
  (float64, ``mode='reflect'``; the mesh is tiny);
* per output row and column, the sampling position ``((k + 0.5) * zoom) -
  0.5`` (``zoom = n_in / n_out`` in float64), its reflection into the mesh,
  the first of the four knots and their four weights are computed as
  ``ni_interpolation.c`` and ``ni_splines.c`` compute them;
* each output pixel sums ``(c[i, j] * wy[i]) * wx[j]`` over the 16 knots in
  row-major order in float64 and is stored as the mesh's dtype.

``background_zoom_ref`` is photutils' computation itself (scipy's zoom);
``_cpu`` (numba, parallel rows) and ``_gpu`` (numba.cuda, one thread per
pixel) run the per-pixel sum from the same per-axis tables.
"""

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

from gpucal.engine.arrays import get_array_module
from gpucal.engine.jit import LazyCudaKernel, cuda_launch_config, launch_stream

#: numba.cuda, bound by LazyCudaKernel on first GPU use.
cuda = None

__all__ = ["background_zoom_cpu", "background_zoom_gpu", "background_zoom_gpu_kernels", "background_zoom_ref"]

_ORDER = 3


def _check(mesh, box_size, shape):
    from gpucal.errors import ParameterError

    if mesh.ndim != 2 or mesh.dtype.kind != "f":
        raise ParameterError(f"background_zoom: mesh must be a 2-D float array, not {mesh.dtype} {mesh.shape}")
    box = tuple(int(b) for b in np.broadcast_to(np.asarray(box_size), (2,)))
    out_shape = tuple(int(n) for n in shape)
    if min(box) < 1 or len(out_shape) != 2 or min(out_shape) < 1:
        raise ParameterError(f"background_zoom: bad box_size {box_size!r} or shape {shape!r}")
    return box, out_shape


def background_zoom_ref(mesh, box_size, shape):
    """photutils' background image of a mesh (``Background2D``'s default interpolator), with scipy.

    Parameters
    ----------
    mesh : ndarray of float, shape (my, mx)
        The low-resolution background (or RMS) mesh.
    box_size : int or (int, int)
        Box size of the mesh in pixels (the zoom factor).
    shape : (int, int)
        Shape of the data the background is for (the zoomed mesh is cropped to it).

    Returns
    -------
    ndarray, shape ``shape``, the mesh's dtype
    """
    from scipy.ndimage import zoom

    box, out_shape = _check(mesh, box_size, shape)
    mesh = np.asarray(mesh)
    if np.ptp(mesh) == 0:
        return np.full(out_shape, np.min(mesh), dtype=mesh.dtype)
    result = zoom(mesh, box, order=_ORDER, mode="reflect", grid_mode=True)
    result = result[: out_shape[0], : out_shape[1]]
    np.clip(result, np.min(mesh), np.max(mesh), out=result)
    return result


def _reflect(x, n):
    """``map_coordinate(x, n, NI_EXTEND_REFLECT)`` of scipy's ``ni_interpolation.c``, element-wise (float64).

    Each branch is the C expression with the same operations in the same
    order (numpy's float64 element-wise arithmetic rounds as C's doubles).
    """
    x = np.array(x, dtype=np.float64)
    if n <= 1:
        x[(x < 0) | (x > n - 1)] = 0.0
        return x
    period = 2 * n
    low = x < 0
    xl = x[low]
    far = xl < -period
    xl[far] = period * np.trunc(-xl[far] / period) + xl[far]
    xl = np.where(xl < -n, xl + period, np.where(xl > -1e-15, 1e-15, -xl) - 1)
    x[low] = xl
    high = x > n - 1
    xh = x[high]
    xh -= period * np.trunc(xh / period)
    x[high] = np.where(xh >= n, period - xh - 1, xh)
    return x


def _weights(x):
    """``get_spline_interpolation_weights(x, 3)`` of scipy's ``ni_splines.c`` for each x; shape ``(n, 4)``."""
    x = x - np.floor(x)
    y = x
    z = 1.0 - x
    w1 = (y * y * (y - 2.0) * 3.0 + 4.0) / 6.0
    w2 = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0
    w0 = z * z * z / 6.0
    w3 = 1.0 - w0 - w1 - w2  # scipy: 1.0, minus each weight in turn
    return np.stack([w0, w1, w2, w3], axis=1)


def _axis_table(n_in, n_out, n_keep):
    """Knot indices ``(n_keep, 4)`` and weights ``(n_keep, 4)`` of the first ``n_keep`` output positions."""
    zoom = n_in / n_out if n_out else 1.0
    c = _reflect(((np.arange(n_keep) + 0.5) * zoom) - 0.5, n_in)
    start = np.floor(c).astype(np.int64) - _ORDER // 2
    knots = start[:, None] + np.arange(_ORDER + 1)
    index = _reflect(knots.astype(np.float64), n_in).astype(np.int64)  # in-range knots map to themselves
    return np.ascontiguousarray(index), np.ascontiguousarray(_weights(c))


def _plan(mesh, box_size, shape):
    """Everything a compiled form needs: coefficients, per-axis tables, clip limits (or a constant)."""
    from scipy.ndimage import spline_filter

    box, out_shape = _check(mesh, box_size, shape)
    host = np.asarray(mesh.get() if hasattr(mesh, "get") else mesh)
    lo, hi = host.min(), host.max()
    if np.ptp(host) == 0:
        return None, out_shape, host.dtype, lo
    coeffs = spline_filter(host, _ORDER, output=np.float64, mode="reflect")
    tables = []
    for axis in (0, 1):
        n_in = host.shape[axis]
        n_out = n_in * box[axis]  # scipy: int(round(n_in * zoom)), exact for integer boxes
        if out_shape[axis] > n_out:
            from gpucal.errors import ParameterError

            raise ParameterError(f"background_zoom: shape {shape} exceeds the zoomed mesh ({n_out} on axis {axis})")
        tables.extend(_axis_table(n_in, n_out, out_shape[axis]))
    return (coeffs, *tables, lo, hi), out_shape, host.dtype, lo


@register_jitable(forceinline=True)
def _pixel(coeffs, iy, wy, ix, wx, j, i):
    t = 0.0
    for a in range(4):
        for b in range(4):
            c = coeffs[iy[j, a], ix[i, b]]
            c *= wy[j, a]
            c *= wx[i, b]
            t += c
    return t


@njit(parallel=True, cache=True, nogil=True)
def _zoom_rows(coeffs, iy, wy, ix, wx, lo, hi, out):  # pragma: no cover - compiled by numba
    for j in prange(out.shape[0]):
        for i in range(out.shape[1]):
            v = out.dtype.type(_pixel(coeffs, iy, wy, ix, wx, j, i))
            out[j, i] = min(max(v, lo), hi)


def _zoom_kernel_py(coeffs, iy, wy, ix, wx, lo, hi, out):  # pragma: no cover - compiled by numba.cuda
    nx = out.shape[1]
    n = out.shape[0] * nx
    k = cuda.grid(1)
    step = cuda.gridsize(1)
    while k < n:
        j = k // nx
        i = k - j * nx
        v = out.dtype.type(_pixel(coeffs, iy, wy, ix, wx, j, i))
        out[j, i] = min(max(v, lo), hi)
        k += step


_zoom_kernel = LazyCudaKernel(_zoom_kernel_py)


def background_zoom_cpu(mesh, box_size, shape):
    """Numba CPU form of :func:`background_zoom_ref` (parallel over rows; bit-identical)."""
    plan, out_shape, dtype, constant = _plan(mesh, box_size, shape)
    if plan is None:
        return np.full(out_shape, constant, dtype=dtype)
    coeffs, iy, wy, ix, wx, lo, hi = plan
    out = np.empty(out_shape, dtype=dtype)
    _zoom_rows(coeffs, iy, wy, ix, wx, lo, hi, out)
    return out


def _gpu_args(mesh, box_size, shape):
    xp = get_array_module(mesh)
    plan, out_shape, dtype, constant = _plan(mesh, box_size, shape)
    if plan is None:
        return None, xp.full(out_shape, constant, dtype=dtype)
    coeffs, iy, wy, ix, wx, lo, hi = plan
    args = (*(xp.asarray(a) for a in (coeffs, iy, wy, ix, wx)), lo, hi, xp.empty(out_shape, dtype=dtype))
    return args, args[-1]


def background_zoom_gpu(mesh, box_size, shape):
    """CUDA form of :func:`background_zoom_ref` (one thread per pixel; the array type of ``mesh`` out)."""
    from gpucal.engine.device import cuda_status

    args, out = _gpu_args(mesh, box_size, shape)
    if args is not None:
        blocks, threads = cuda_launch_config(out.size, cuda_status().simulated)
        _zoom_kernel[blocks, threads, launch_stream((out,))](*args)
    return out


def background_zoom_gpu_kernels(mesh, box_size, shape):
    """``[(python_function, numba argument types)]`` of the CUDA kernel :func:`background_zoom_gpu` launches."""
    import numba

    args, _out = _gpu_args(mesh, box_size, shape)
    if args is None:
        return []
    return [(_zoom_kernel.python_function(), tuple(numba.typeof(a) for a in args))]
