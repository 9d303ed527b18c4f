"""Masked reductions behind skymatch's sky statistics (``stsci.imagestats`` as stcal calls it).

``ImageStats`` (the statistic engine of stcal's ``SkyStats``) makes a few
passes over the good pixels of an image: clipped moments, a clipped sum of
squared deviations and a histogram. These three kernels are those passes; the
few scalar steps between them (clip limits, bin setup, the mode and midpoint
interpolation) run on the host in :mod:`gpucal.skymatch.statistics`.

All three read ``data`` (float32, any shape, C-contiguous) where ``mask`` (bool,
same shape) is True; a pixel takes part when it also lies in ``[lo, hi]``
(float32 limits, NaN never does). This is ``computeMean``/``populate1DHist``
applied to ``data[mask]`` without building that compacted copy.

* ``sky_moments(data, mask, lo, hi)`` -> float64 ``[count, sum, min, max]``:
  number of pixels in range, their sum in double precision, and their
  smallest and largest value (``+inf``/``-inf`` when none).
* ``sky_sumdiff(data, mask, lo, hi, mean)`` -> float64 ``[sumdiff]``: the sum of
  squared deviations from ``mean`` as imagestats' C code forms it: difference
  and square in float32 arithmetic, accumulated in double.
* ``sky_histogram(data, mask, lo, hi, inv_width, nbins, include_hi)`` -> uint32
  ``(nbins,)``: pixels with ``lo <= v < hi`` (``<= hi`` when ``include_hi``) go
  to bin ``int(inv_width * (v - lo))`` computed in float32. The caller derives
  ``hi``, ``inv_width`` and ``include_hi`` with :func:`histogram_setup` exactly as
  ``populate1DHist`` does; an index past the last bin (undefined behaviour in
  the C code, not reached for its own limits) is clamped to the last bin.

Sums are accumulated in a different order than the sequential C loop (per
thread / per chunk, then combined), so they agree to double rounding, not bit
for bit; counts, extrema and histograms are exact.
"""

import math

import numpy as np
from numba import njit, prange
from numpy import float32, float64

from gpucal.engine.jit import LazyCudaKernel, cuda_launch_config, launch_stream

#: numba.cuda, bound by LazyCudaKernel on first GPU use.
cuda = None

__all__ = [
    "histogram_setup",
    "sky_histogram_cpu",
    "sky_histogram_gpu",
    "sky_histogram_gpu_kernels",
    "sky_histogram_ref",
    "sky_moments_cpu",
    "sky_moments_gpu",
    "sky_moments_gpu_kernels",
    "sky_moments_ref",
    "sky_sumdiff_cpu",
    "sky_sumdiff_gpu",
    "sky_sumdiff_gpu_kernels",
    "sky_sumdiff_ref",
]

_FLT_EPSILON = np.finfo(np.float32).eps


def histogram_setup(nbins, bin_width, zero_value):
    """Limits of ``populate1DHist`` for ``nbins`` bins of ``bin_width`` from ``zero_value``.

    Follows ``stsci.imagestats.histogram1d`` and its C code: the width and the
    start are float32; the upper edge ``start + width * nbins`` is computed in
    float32 and, when ``int(1/width * (edge - start))`` equals ``nbins``, moved
    down by one float32 epsilon with the last value then included (``<=``).

    Returns
    -------
    lo, hi, inv_width : numpy.float32
    include_hi : bool
    """
    with np.errstate(all="ignore"):
        width = np.float32(bin_width)
        lo = np.float32(zero_value)
        hi = np.float32(lo + np.float32(width * np.float32(nbins)))
        inv_width = np.float32(np.float32(1.0) / width)
        edge = np.float32(lo + np.float32(width * np.float32(nbins)))
        scaled = np.float32(inv_width * np.float32(edge - lo))
        include_hi = bool(np.isfinite(scaled) and int(scaled) == nbins)
        if include_hi:
            edge = np.float32(edge * np.float32(np.float32(1.0) - _FLT_EPSILON))
        if hi > edge:
            hi = edge
    return lo, hi, inv_width, include_hi


def _check(name, data, mask):
    if data.dtype != np.float32:
        raise TypeError(f"{name}: data must be float32, got {data.dtype}")
    if mask.shape != data.shape:
        raise ValueError(f"{name}: mask shape {mask.shape} differs from data shape {data.shape}")
    if mask.dtype != np.bool_:
        raise TypeError(f"{name}: mask must be bool, got {mask.dtype}")


# ---------------------------------------------------------------- references


def sky_moments_ref(data, mask, lo, hi):
    """Numpy reference: ``[count, sum, min, max]`` of masked pixels in ``[lo, hi]`` (float64 array)."""
    _check("sky_moments", data, mask)
    values = data[mask]
    values = values[(values >= np.float32(lo)) & (values <= np.float32(hi))]
    out = np.array([0.0, 0.0, np.inf, -np.inf])
    if values.size:
        out[0] = values.size
        total = 0.0
        for v in values.astype(np.float64):  # the C loop's sequential double sum
            total += v
        out[1] = total
        out[2] = values.min()
        out[3] = values.max()
    return out


def sky_sumdiff_ref(data, mask, lo, hi, mean):
    """Numpy reference: ``[sum(float64(float32(v - mean)**2))]`` over masked pixels in ``[lo, hi]``."""
    _check("sky_sumdiff", data, mask)
    values = data[mask]
    values = values[(values >= np.float32(lo)) & (values <= np.float32(hi))]
    diff = values - np.float32(mean)
    return np.array([np.sum((diff * diff).astype(np.float64))])


def sky_histogram_ref(data, mask, lo, hi, inv_width, nbins, include_hi):
    """Numpy reference: uint32 histogram of ``populate1DHist`` (see the module notes)."""
    _check("sky_histogram", data, mask)
    lo, hi, inv_width = np.float32(lo), np.float32(hi), np.float32(inv_width)
    values = data[mask]
    upper = values <= hi if include_hi else values < hi
    values = values[(values >= lo) & upper]
    with np.errstate(all="ignore"):
        idx = (inv_width * (values - lo)).astype(np.float32).astype(np.int64)
    idx = np.minimum(idx, int(nbins) - 1)
    return np.bincount(idx, minlength=int(nbins)).astype(np.uint32)


# ---------------------------------------------------------------- numba CPU


@njit(parallel=True, cache=True, error_model="numpy")
def _moments_cpu(data, mask, lo, hi, nchunks, part):
    n = data.size
    step = (n + nchunks - 1) // nchunks
    for c in prange(nchunks):
        cnt = 0.0
        tot = 0.0
        vmin = np.inf
        vmax = -np.inf
        for j in range(c * step, min(n, (c + 1) * step)):
            v = data[j]
            if mask[j] and v >= lo and v <= hi:
                cnt += 1.0
                tot += float64(v)
                if v < vmin:
                    vmin = float64(v)
                if v > vmax:
                    vmax = float64(v)
        part[c, 0] = cnt
        part[c, 1] = tot
        part[c, 2] = vmin
        part[c, 3] = vmax


@njit(parallel=True, cache=True, error_model="numpy")
def _sumdiff_cpu(data, mask, lo, hi, mean, nchunks, part):
    n = data.size
    step = (n + nchunks - 1) // nchunks
    for c in prange(nchunks):
        tot = 0.0
        for j in range(c * step, min(n, (c + 1) * step)):
            v = data[j]
            if mask[j] and v >= lo and v <= hi:
                d = float32(v - mean)
                tot += float64(float32(d * d))
        part[c] = tot


@njit(parallel=True, cache=True, error_model="numpy")
def _histogram_cpu(data, mask, lo, hi, inv_width, include_hi, nchunks, part):
    n = data.size
    nbins = part.shape[1]
    step = (n + nchunks - 1) // nchunks
    for c in prange(nchunks):
        for j in range(c * step, min(n, (c + 1) * step)):
            v = data[j]
            if mask[j] and v >= lo and (v < hi or (include_hi and v == hi)):
                k = int(float32(inv_width * float32(v - lo)))
                if k > nbins - 1:
                    k = nbins - 1
                part[c, k] += 1


def _nchunks(n):
    import numba

    return max(1, min(n, 4 * numba.get_num_threads()))


def _flat(data, mask):
    return np.ascontiguousarray(data).reshape(-1), np.ascontiguousarray(mask).reshape(-1)


def sky_moments_cpu(data, mask, lo, hi):
    """numba CPU form of :func:`sky_moments_ref` (parallel chunks, partials combined in chunk order)."""
    _check("sky_moments", data, mask)
    d, m = _flat(data, mask)
    nchunks = _nchunks(d.size)
    part = np.empty((nchunks, 4))
    out = np.array([0.0, 0.0, np.inf, -np.inf])
    if d.size:
        _moments_cpu(d, m, float32(lo), float32(hi), nchunks, part)
        out[0] = part[:, 0].sum()
        out[1] = part[:, 1].sum()
        out[2] = part[:, 2].min()
        out[3] = part[:, 3].max()
    return out


def sky_sumdiff_cpu(data, mask, lo, hi, mean):
    """numba CPU form of :func:`sky_sumdiff_ref`."""
    _check("sky_sumdiff", data, mask)
    d, m = _flat(data, mask)
    nchunks = _nchunks(d.size)
    part = np.zeros(nchunks)
    if d.size:
        _sumdiff_cpu(d, m, float32(lo), float32(hi), float32(mean), nchunks, part)
    return np.array([part.sum()])


def sky_histogram_cpu(data, mask, lo, hi, inv_width, nbins, include_hi):
    """numba CPU form of :func:`sky_histogram_ref` (one private histogram per chunk, then summed)."""
    _check("sky_histogram", data, mask)
    d, m = _flat(data, mask)
    nchunks = _nchunks(d.size)
    part = np.zeros((nchunks, int(nbins)), np.uint32)
    if d.size:
        _histogram_cpu(d, m, float32(lo), float32(hi), float32(inv_width), bool(include_hi), nchunks, part)
    return part.sum(axis=0, dtype=np.uint32)


# ---------------------------------------------------------------- CUDA


def _moments_gpu_py(data, mask, lo, hi, out):
    j = cuda.grid(1)
    step = cuda.gridsize(1)
    cnt = 0.0
    tot = 0.0
    vmin = math.inf
    vmax = -math.inf
    while j < data.size:
        v = data[j]
        if mask[j] and v >= lo and v <= hi:
            cnt += 1.0
            tot += float64(v)
            if v < vmin:
                vmin = float64(v)
            if v > vmax:
                vmax = float64(v)
        j += step
    if cnt > 0.0:
        cuda.atomic.add(out, 0, cnt)
        cuda.atomic.add(out, 1, tot)
        cuda.atomic.min(out, 2, vmin)
        cuda.atomic.max(out, 3, vmax)


def _sumdiff_gpu_py(data, mask, lo, hi, mean, out):
    j = cuda.grid(1)
    step = cuda.gridsize(1)
    tot = 0.0
    while j < data.size:
        v = data[j]
        if mask[j] and v >= lo and v <= hi:
            d = float32(v - mean)
            tot += float64(float32(d * d))
        j += step
    if tot != 0.0:
        cuda.atomic.add(out, 0, tot)


def _histogram_gpu_py(data, mask, lo, hi, inv_width, include_hi, out):
    j = cuda.grid(1)
    step = cuda.gridsize(1)
    nbins = out.size
    while j < data.size:
        v = data[j]
        if mask[j] and v >= lo and (v < hi or (include_hi and v == hi)):
            k = int(float32(inv_width * float32(v - lo)))
            if k > nbins - 1:
                k = nbins - 1
            cuda.atomic.add(out, k, 1)
        j += step


_moments_gpu = LazyCudaKernel(_moments_gpu_py)
_sumdiff_gpu = LazyCudaKernel(_sumdiff_gpu_py)
_histogram_gpu = LazyCudaKernel(_histogram_gpu_py)


def _xp_flat(data, mask):
    from gpucal.engine.arrays import get_array_module

    xp = get_array_module(data)
    return xp, xp.ascontiguousarray(data).reshape(-1), xp.ascontiguousarray(mask).reshape(-1)


def _moments_args(data, mask, lo, hi):
    _check("sky_moments", data, mask)
    xp, d, m = _xp_flat(data, mask)
    out = xp.asarray(np.array([0.0, 0.0, np.inf, -np.inf]))
    return d, m, float32(lo), float32(hi), out


def _sumdiff_args(data, mask, lo, hi, mean):
    _check("sky_sumdiff", data, mask)
    xp, d, m = _xp_flat(data, mask)
    return d, m, float32(lo), float32(hi), float32(mean), xp.zeros(1, xp.float64)


def _histogram_args(data, mask, lo, hi, inv_width, nbins, include_hi):
    _check("sky_histogram", data, mask)
    xp, d, m = _xp_flat(data, mask)
    if int(nbins) < 1:
        raise ValueError(f"sky_histogram: nbins must be >= 1, got {nbins}")
    return d, m, float32(lo), float32(hi), float32(inv_width), bool(include_hi), xp.zeros(int(nbins), xp.uint32)


def _launch(kernel, args):
    from gpucal.engine.device import cuda_status

    n = args[0].size
    if n:
        blocks, threads = cuda_launch_config(n, cuda_status().simulated)
        kernel[blocks, threads, launch_stream(args[:1])](*args)
    return args[-1]


def _types(args):
    import numba

    return tuple(numba.typeof(a) for a in args)


def sky_moments_gpu(data, mask, lo, hi):
    """CUDA form of :func:`sky_moments_ref` (grid-stride partials, one atomic per thread)."""
    return _launch(_moments_gpu, _moments_args(data, mask, lo, hi))


def sky_sumdiff_gpu(data, mask, lo, hi, mean):
    """CUDA form of :func:`sky_sumdiff_ref`."""
    return _launch(_sumdiff_gpu, _sumdiff_args(data, mask, lo, hi, mean))


def sky_histogram_gpu(data, mask, lo, hi, inv_width, nbins, include_hi):
    """CUDA form of :func:`sky_histogram_ref` (atomic increments in global memory)."""
    return _launch(_histogram_gpu, _histogram_args(data, mask, lo, hi, inv_width, nbins, include_hi))


def sky_moments_gpu_kernels(data, mask, lo, hi):
    """The CUDA kernel and its argument types, for PTX compilation checks."""
    return [(_moments_gpu.python_function(), _types(_moments_args(data, mask, lo, hi)))]


def sky_sumdiff_gpu_kernels(data, mask, lo, hi, mean):
    """The CUDA kernel and its argument types, for PTX compilation checks."""
    return [(_sumdiff_gpu.python_function(), _types(_sumdiff_args(data, mask, lo, hi, mean)))]


def sky_histogram_gpu_kernels(data, mask, lo, hi, inv_width, nbins, include_hi):
    """The CUDA kernel and its argument types, for PTX compilation checks."""
    args = _histogram_args(data, mask, lo, hi, inv_width, nbins, include_hi)
    return [(_histogram_gpu.python_function(), _types(args))]
