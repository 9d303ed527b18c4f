"""Extent of a pixel map on the output grid: where an input can land, and how far one pixel step moves.

:meth:`gpucal.resample.engine.Resampler.add` drizzles the variance planes into
a window of the grid that covers the input (see ``Resampler._window``). The
window comes from the pixel map of the input's box and its rim: the extrema
of its finite ``(x, y)`` values and the largest finite change between
neighbouring pixels. With numpy arrays one compiled pass gives all five
numbers (array reductions would make four float64 difference arrays of the
whole map, about 0.2 s for a full NIRCam frame); CuPy arrays use device
reductions (:func:`pixmap_extent_xp`). Both return the same numbers.
"""

import math

import numpy as np
from numba import njit

__all__ = ["pixmap_extent", "pixmap_extent_xp"]


def pixmap_extent(sub):
    """``(found, lo_x, hi_x, lo_y, hi_y, step)`` of a pixel map (host or device array).

    Parameters
    ----------
    sub : array of float64, shape ``(ny, nx, 2)``
        Part of a pixel map: output ``(x, y)`` of each input pixel; NaN where
        the input pixel maps nowhere.

    Returns
    -------
    found : bool
        Whether any pixel has finite ``x`` and ``y``; the other values are
        meaningless when not.
    lo_x, hi_x, lo_y, hi_y : float
        Extrema of ``x`` and ``y`` over pixels where both are finite.
    step : float
        Largest finite ``|difference|`` of ``x`` or of ``y`` between
        neighbouring pixels along either axis (0 when there is none).
    """
    if isinstance(sub, np.ndarray):
        found, lo_x, hi_x, lo_y, hi_y, step = _extent_host(np.ascontiguousarray(sub, dtype=np.float64))
        return bool(found), float(lo_x), float(hi_x), float(lo_y), float(hi_y), float(step)
    return pixmap_extent_xp(sub)


def pixmap_extent_xp(sub):
    """:func:`pixmap_extent` with array reductions of ``sub``'s own array module (the reference form)."""
    from gpucal.engine.arrays import get_array_module

    xp = get_array_module(sub)
    finite = xp.isfinite(sub[..., 0]) & xp.isfinite(sub[..., 1])
    if not bool(finite.any()):
        return False, math.nan, math.nan, math.nan, math.nan, 0.0
    if bool(finite.all()):
        x, y = sub[..., 0], sub[..., 1]
    else:
        x, y = sub[..., 0][finite], sub[..., 1][finite]
    lo_x, hi_x, lo_y, hi_y = (float(v) for v in (x.min(), x.max(), y.min(), y.max()))
    step = 0.0
    for axis in (0, 1):
        if sub.shape[axis] < 2:
            continue
        for c in (0, 1):
            diff = xp.abs(xp.diff(sub[..., c], axis=axis))
            diff = diff[xp.isfinite(diff)]
            if diff.size:
                step = max(step, float(diff.max()))
    return True, lo_x, hi_x, lo_y, hi_y, step


@njit(cache=True, nogil=True)
def _extent_host(sub):  # pragma: no cover - compiled by numba
    ny, nx = sub.shape[0], sub.shape[1]
    found = False
    lo_x = np.inf
    hi_x = -np.inf
    lo_y = np.inf
    hi_y = -np.inf
    step = 0.0
    for j in range(ny):
        for i in range(nx):
            x = sub[j, i, 0]
            y = sub[j, i, 1]
            if np.isfinite(x) and np.isfinite(y):
                found = True
                lo_x = min(lo_x, x)
                hi_x = max(hi_x, x)
                lo_y = min(lo_y, y)
                hi_y = max(hi_y, y)
            for c in range(2):
                v = sub[j, i, c]
                if i + 1 < nx:
                    d = abs(sub[j, i + 1, c] - v)
                    if d > step and d != np.inf:
                        step = d
                if j + 1 < ny:
                    d = abs(sub[j + 1, i, c] - v)
                    if d > step and d != np.inf:
                        step = d
    return found, lo_x, hi_x, lo_y, hi_y, step
