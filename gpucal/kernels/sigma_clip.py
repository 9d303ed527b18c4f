"""Per-pixel sigma-clipped mean of a stack (jwst background combination).

jwst's ``bkg_subtract`` combines background exposures with
``astropy.stats.sigma_clip(stack, sigma, maxiters, axis=0)`` (median centre,
population standard deviation) followed by a masked mean. With an axis,
astropy runs a C routine per pixel that this kernel reproduces operation for
operation, so that clipping decisions agree even in near-tie cases:

* finite values are copied, in stack order, into a buffer of doubles;
* each iteration finds the median with Wirth's selection algorithm *in place*
  (which reorders the buffer), then the mean and the standard deviation by
  sequential sums over the reordered buffer, and the bounds
  ``median -/+ sigma * std``; values inside ``[lo, hi]`` are kept, packed in
  buffer order; iteration stops when nothing changes, nothing is left, or
  after ``maxiters`` (``-1``: until convergence);
* the final mask is re-derived from the last bounds over *all* finite values
  (so a value dropped early can come back, as in astropy), and the result is
  the sequential sum of kept values divided by their count; ``0.0`` where no
  value is kept (numpy's masked-mean quirk).

``float32_sum`` selects numpy's float32 accumulation, used when the stack is a
float32 cube (per-integration backgrounds); the division is in float64.

The CUDA form keeps the buffer in local memory, so it handles stacks of up to
``MAX_GPU_STACK`` values per pixel; deeper stacks raise on the GPU (use the CPU).
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
    "MAX_GPU_STACK",
    "sigma_clip_mean_cpu",
    "sigma_clip_mean_gpu",
    "sigma_clip_mean_gpu_kernels",
    "sigma_clip_mean_ref",
]

MAX_GPU_STACK = 128


@register_jitable
def _clipped_mean(stack, j, buf, sigma_lower, sigma_upper, maxiters, float32_sum):
    """Sigma-clipped mean of ``stack[:, j]`` using the scratch buffer ``buf``.

    One function on purpose: calling helpers with array arguments costs a
    reference-count update per call, which dominated the run time.
    """
    n = stack.shape[0]
    count = 0
    for k in range(n):
        v = float64(stack[k, j])
        if math.isfinite(v):
            buf[count] = v
            count += 1
    if count == 0:
        return 0.0
    if count == 1:
        return buf[0]
    # Exact shortcut: with two values the median is their mean and each lies
    # one standard deviation from it, so a clip of sigma >= 1.5 (with margin
    # for rounding) keeps both; the result is their stack-order sum over 2,
    # as the general path gives.
    if count == 2 and not float32_sum and sigma_lower >= 1.5 and sigma_upper >= 1.5:
        return (buf[0] + buf[1]) / 2
    lo = 0.0
    hi = 0.0
    iteration = 0
    while True:
        # Median by Wirth's selection, in place (reorders buf as astropy's C code does).
        if count % 2 == 0:
            first_k = count // 2
            passes = 2
        else:
            first_k = (count - 1) // 2
            passes = 1
        cen = 0.0
        for p in range(passes):
            k = first_k - p
            left = 0
            right = count - 1
            while left < right:
                x = buf[k]
                i = left
                m = right
                while True:
                    while buf[i] < x:
                        i += 1
                    while x < buf[m]:
                        m -= 1
                    if i <= m:
                        t = buf[i]
                        buf[i] = buf[m]
                        buf[m] = t
                        i += 1
                        m -= 1
                    if i > m:
                        break
                if m < k:
                    left = i
                if k < i:
                    right = m
            cen += buf[k]
        if passes == 2:
            cen = 0.5 * cen
        mean = 0.0
        for i in range(count):
            mean += buf[i]
        mean /= count
        std = 0.0
        for i in range(count):
            std += (buf[i] - mean) * (buf[i] - mean)
        std = math.sqrt(std / count)
        lo = cen - sigma_lower * std
        hi = cen + sigma_upper * std
        kept = 0
        for i in range(count):
            if buf[i] >= lo and buf[i] <= hi:
                buf[kept] = buf[i]
                kept += 1
        if kept == count or kept == 0:
            break
        count = kept
        iteration += 1
        if maxiters != -1 and iteration >= maxiters:
            break
    kept = 0
    if float32_sum:
        total32 = float32(0.0)
        for k in range(n):
            v = float64(stack[k, j])
            if math.isfinite(v) and v >= lo and v <= hi:
                total32 = float32(total32 + float32(stack[k, j]))
                kept += 1
        total = float64(total32)
    else:
        total = 0.0
        for k in range(n):
            v = float64(stack[k, j])
            if math.isfinite(v) and v >= lo and v <= hi:
                total += v
                kept += 1
    if kept == 0:
        return 0.0
    return total / kept


def _check(stack):
    if stack.ndim != 2:
        raise ValueError(f"sigma_clip_mean: stack must be 2-D (n_values, n_pixels), got shape {stack.shape}")


def sigma_clip_mean_ref(stack, sigma_lower, sigma_upper, maxiters, float32_sum):
    """Reference: astropy's ``sigma_clip(axis=0)`` and numpy's masked mean, as jwst calls them.

    Parameters
    ----------
    stack : ndarray, shape (n_values, n_pixels)
        float32 or float64; NaN/inf are ignored.
    sigma_lower, sigma_upper : float
    maxiters : int
        ``-1`` iterates to convergence (jwst's ``maxiters=None``).
    float32_sum : bool
        Accumulate in float32 (a float32 cube's masked mean) instead of float64.

    Returns
    -------
    ndarray of float64, shape (n_pixels,)
    """
    import warnings

    from astropy.stats import sigma_clip

    _check(stack)
    data = stack if float32_sum else stack.astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clipped = sigma_clip(
            data,
            sigma_lower=sigma_lower,
            sigma_upper=sigma_upper,
            maxiters=None if maxiters == -1 else maxiters,
            axis=0,
        )
        return np.asarray(clipped.mean(axis=0).data, dtype=np.float64)


@njit(parallel=True, cache=True, error_model="numpy")
def _cpu(stack, out, sigma_lower, sigma_upper, maxiters, float32_sum, nchunks):
    npix = stack.shape[1]
    step = (npix + nchunks - 1) // nchunks
    for c in prange(nchunks):
        buf = np.empty(stack.shape[0], np.float64)
        for j in range(c * step, min(npix, (c + 1) * step)):
            out[j] = _clipped_mean(stack, j, buf, sigma_lower, sigma_upper, maxiters, float32_sum)


def sigma_clip_mean_cpu(stack, sigma_lower, sigma_upper, maxiters, float32_sum):
    """numba CPU form of :func:`sigma_clip_mean_ref` (parallel over pixel chunks)."""
    import numba

    _check(stack)
    stack = np.ascontiguousarray(stack)
    out = np.empty(stack.shape[1], np.float64)
    if stack.shape[1]:
        nchunks = max(1, min(stack.shape[1], 8 * numba.get_num_threads()))
        _cpu(stack, out, float(sigma_lower), float(sigma_upper), int(maxiters), bool(float32_sum), nchunks)
    return out


def _gpu_py(stack, out, sigma_lower, sigma_upper, maxiters, float32_sum):
    buf = cuda.local.array(MAX_GPU_STACK, float64)
    j = cuda.grid(1)
    step = cuda.gridsize(1)
    while j < stack.shape[1]:
        out[j] = _clipped_mean(stack, j, buf, sigma_lower, sigma_upper, maxiters, float32_sum)
        j += step


_gpu = LazyCudaKernel(_gpu_py)


def _gpu_args(stack, sigma_lower, sigma_upper, maxiters, float32_sum):
    from gpucal.engine.arrays import get_array_module

    _check(stack)
    if stack.shape[0] > MAX_GPU_STACK:
        msg = (
            f"sigma_clip_mean: {stack.shape[0]} values per pixel exceed the GPU kernel's limit of {MAX_GPU_STACK}; "
            "use the CPU"
        )
        raise ValueError(msg)
    xp = get_array_module(stack)
    stack = xp.ascontiguousarray(stack)
    out = xp.empty(stack.shape[1], xp.float64)
    return stack, out, float(sigma_lower), float(sigma_upper), int(maxiters), bool(float32_sum)


def sigma_clip_mean_gpu(stack, sigma_lower, sigma_upper, maxiters, float32_sum):
    """CUDA form of :func:`sigma_clip_mean_ref` (one thread per pixel, buffer in local memory)."""
    from gpucal.engine.device import cuda_status

    args = _gpu_args(stack, sigma_lower, sigma_upper, maxiters, float32_sum)
    n = args[0].shape[1]
    if n:
        blocks, threads = cuda_launch_config(n, cuda_status().simulated)
        _gpu[blocks, threads, launch_stream(args[:1])](*args)
    return args[1]


def sigma_clip_mean_gpu_kernels(stack, sigma_lower, sigma_upper, maxiters, float32_sum):
    """The CUDA kernel and its argument types, for PTX compilation checks."""
    import numba

    args = _gpu_args(stack, sigma_lower, sigma_upper, maxiters, float32_sum)
    return [(_gpu.python_function(), tuple(numba.typeof(a) for a in args))]
