"""Local maxima within a circle: the peak test of photutils' star finders (``min_separation``).

jwst's tweakreg finds alignment stars with photutils ``IRAFStarFinder`` (or
``DAOStarFinder``), whose peak finder keeps a pixel when it is the largest
value (ties included) within a circle of radius ``min_separation`` around it,
pixels beyond the image counting as 0::

    idx = np.arange(-radius, radius + 1)
    xx, yy = np.meshgrid(idx, idx)
    footprint = xx**2 + yy**2 <= radius**2
    peaks = data == maximum_filter(data, footprint=footprint, mode="constant", cval=0.0)

(with an even-sized footprint centred at ``size // 2``, as scipy places it).
photutils 3 (``_fast_circular_peaks``) evaluates it with two box filters and
a Python loop over the pixels the boxes cannot decide, a third of tweakreg's
time on a full frame: a pixel is a peak when it is the maximum of the box
circumscribing the circle, or when it is the maximum of a box inscribed in
the circle *and* of the circle itself. For the radii where its "inscribed"
box is not inside the circle (below about 1.5 pixels, where the box is at
least 3x3) that differs from the definition above; jwst's tweakreg never
uses them (its ``min_separation`` is at least 2), but the forms here follow
photutils' rule, so that they equal what jwst gets for every radius.

The compiled forms evaluate the three maxima per pixel (values beyond the
image count as 0), stopping at the first larger neighbour, and give the same
mask bit for bit (comparisons only). ``data`` must be NaN-free, as photutils
requires (its finder replaces NaN before this test). ``circular_peaks_ref``
is photutils' own function.
"""

import numpy as np
from numba import njit, prange
from numba.extending import register_jitable

from gpucal.engine.arrays import get_array_module
from gpucal.engine.jit import LazyCudaKernel, cuda_launch_config, launch_stream

#: numba.cuda, bound by LazyCudaKernel on first GPU use.
cuda = None

__all__ = ["circular_peaks_cpu", "circular_peaks_gpu", "circular_peaks_gpu_kernels", "circular_peaks_ref"]


def footprint(radius):
    """photutils' circular footprint of ``radius`` (bool, square, side ``len(arange(-r, r + 1))``)."""
    idx = np.arange(-radius, radius + 1)
    xx, yy = np.meshgrid(idx, idx)
    return (xx**2 + yy**2) <= radius**2


def _check(data, radius):
    from gpucal.errors import ParameterError

    if data.ndim != 2:
        raise ParameterError(f"circular_peaks: data must be 2-D, not {data.shape}")
    if not np.isfinite(radius) or radius <= 0:
        raise ParameterError(f"circular_peaks: radius must be a positive number, not {radius!r}")


def circular_peaks_ref(data, radius):
    """photutils' circular peak test (``photutils.detection.peakfinder._fast_circular_peaks``).

    Parameters
    ----------
    data : ndarray, 2-D
        NaN-free image.
    radius : float
        Circle radius in pixels (> 0).

    Returns
    -------
    ndarray of bool, ``data.shape``
    """
    from photutils.detection.peakfinder import _fast_circular_peaks

    _check(data, radius)
    return _fast_circular_peaks(np.asarray(data), radius)


def _offsets(mask):
    """``(n, 2)`` int64 ``(dy, dx)`` of a footprint's pixels relative to its centre (``size // 2``)."""
    dy, dx = np.nonzero(mask)
    return np.ascontiguousarray(np.stack([dy - mask.shape[0] // 2, dx - mask.shape[1] // 2], axis=1), dtype=np.int64)


def _tables(radius):
    """``(offsets, extent)`` of the circle, of photutils' inscribed box and of the circumscribed box.

    ``extent`` is ``[lo, hi]``: the offsets spanned by the square array the
    footprint lives in; where that square crosses the image border the
    maximum includes 0 (scipy's ``cval`` for the boxes; photutils' ring check
    does the same for the circle whenever its *array* crosses the border,
    even if none of its True cells do).
    """
    fp = footprint(radius)
    size = fp.shape[0]
    half_side = int(np.floor(radius / np.sqrt(2) - 0.5)) if size % 2 == 0 else int(np.floor(radius / np.sqrt(2)))
    side = max(2 * half_side + 1, 3)
    tables = []
    for mask in (fp, np.ones((side, side), bool), np.ones((size, size), bool)):
        n = mask.shape[0]
        tables += [_offsets(mask), np.array([-(n // 2), n - 1 - n // 2], dtype=np.int64)]
    return tuple(tables)


@register_jitable(forceinline=True)
def _is_max(data, offsets, extent, j, i):
    """Whether ``data[j, i]`` equals the maximum over ``offsets`` around it (0 where ``extent`` leaves the image)."""
    ny, nx = data.shape
    v = data[j, i]
    equal = False
    lo = extent[0]
    hi = extent[1]
    if j + lo < 0 or j + hi >= ny or i + lo < 0 or i + hi >= nx:
        zero = data.dtype.type(0)
        if zero > v:
            return False
        equal = zero == v
    for k in range(offsets.shape[0]):
        y = j + offsets[k, 0]
        x = i + offsets[k, 1]
        if 0 <= y < ny and 0 <= x < nx:
            w = data[y, x]
            if w > v:
                return False
            if w == v:
                equal = True
    return equal


@register_jitable(forceinline=True)
def _is_peak(data, circle, circle_ext, inner, inner_ext, outer, outer_ext, j, i):
    if _is_max(data, inner, inner_ext, j, i) and _is_max(data, circle, circle_ext, j, i):
        return True
    return _is_max(data, outer, outer_ext, j, i)


@njit(parallel=True, cache=True, nogil=True)
def _peaks_rows(data, c, ce, a, ae, b, be, out):  # pragma: no cover - compiled by numba
    for j in prange(data.shape[0]):
        for i in range(data.shape[1]):
            out[j, i] = _is_peak(data, c, ce, a, ae, b, be, j, i)


def _peaks_kernel_py(data, c, ce, a, ae, b, be, out):  # pragma: no cover - compiled by numba.cuda
    nx = data.shape[1]
    n = data.shape[0] * nx
    k = cuda.grid(1)
    step = cuda.gridsize(1)
    while k < n:
        j = k // nx
        i = k - j * nx
        out[j, i] = _is_peak(data, c, ce, a, ae, b, be, j, i)
        k += step


_peaks_kernel = LazyCudaKernel(_peaks_kernel_py)


@njit(parallel=True, cache=True, nogil=True)
def _row_max(data, lo, hi, out):  # pragma: no cover - compiled by numba
    """``out[j, i] = max(data[j, i + lo .. i + hi])``, 0 beyond the image."""
    ny, nx = data.shape
    zero = data.dtype.type(0)
    for j in prange(ny):
        for i in range(nx):
            m = data[j, i]
            for d in range(lo, hi + 1):
                x = i + d
                v = data[j, x] if 0 <= x < nx else zero
                if v > m:
                    m = v
            out[j, i] = m


@njit(parallel=True, cache=True, nogil=True)
def _column_max(data, lo, hi, out):  # pragma: no cover - compiled by numba
    """``out[j, i] = max(data[j + lo .. j + hi, i])``, 0 beyond the image."""
    ny, nx = data.shape
    zero = data.dtype.type(0)
    for j in prange(ny):
        for i in range(nx):
            m = data[j, i]
            for d in range(lo, hi + 1):
                y = j + d
                v = data[y, i] if 0 <= y < ny else zero
                if v > m:
                    m = v
            out[j, i] = m


@njit(parallel=True, cache=True, nogil=True)
def _peaks_from_boxes(data, inner_max, outer_max, c, ce, out):  # pragma: no cover - compiled by numba
    for j in prange(data.shape[0]):
        for i in range(data.shape[1]):
            v = data[j, i]
            if v == outer_max[j, i]:
                out[j, i] = True
            elif v == inner_max[j, i]:
                out[j, i] = _is_max(data, c, ce, j, i)
            else:
                out[j, i] = False


def _box(data, extent, scratch):
    """Box maximum over ``extent`` offsets in both axes (separable: rows, then columns); exact."""
    lo, hi = int(extent[0]), int(extent[1])
    rows, out = scratch
    _row_max(data, lo, hi, rows)
    _column_max(rows, lo, hi, out)
    return out


def circular_peaks_cpu(data, radius):
    """Numba CPU form of :func:`circular_peaks_ref` (identical mask).

    The two box maxima are separable passes (rows, then columns; a maximum
    does not depend on the order it is taken in), which decide almost every
    pixel; the circle is checked only where the boxes disagree, as photutils
    does, in parallel over rows.
    """
    _check(data, radius)
    data = np.ascontiguousarray(data)
    circle, circle_ext, _inner, inner_ext, _outer, outer_ext = _tables(radius)
    rows = np.empty_like(data)
    inner_max = _box(data, inner_ext, (rows, np.empty_like(data)))
    outer_max = _box(data, outer_ext, (rows, np.empty_like(data)))
    out = np.empty(data.shape, dtype=np.bool_)
    _peaks_from_boxes(data, inner_max, outer_max, circle, circle_ext, out)
    return out


def _gpu_args(data, radius):
    _check(data, radius)
    xp = get_array_module(data)
    data = xp.ascontiguousarray(data)
    return (data, *(xp.asarray(t) for t in _tables(radius)), xp.empty(data.shape, dtype=xp.bool_))


def circular_peaks_gpu(data, radius):
    """CUDA form of :func:`circular_peaks_ref` (one thread per pixel)."""
    from gpucal.engine.device import cuda_status

    args = _gpu_args(data, radius)
    blocks, threads = cuda_launch_config(args[0].size, cuda_status().simulated)
    _peaks_kernel[blocks, threads, launch_stream(args)](*args)
    return args[-1]


def circular_peaks_gpu_kernels(data, radius):
    """``[(python_function, numba argument types)]`` of the CUDA kernel :func:`circular_peaks_gpu` launches."""
    import numba

    return [(_peaks_kernel.python_function(), tuple(numba.typeof(a) for a in _gpu_args(data, radius)))]
