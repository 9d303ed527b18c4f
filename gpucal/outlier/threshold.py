"""The per-group weight threshold of outlier detection's median (stcal ``compute_weight_threshold``).

``thr = maskpt * mean(sigma_clip(WHT[finite & WHT != 0], sigma=3, maxiters=5))``
with astropy's axis-less clipping: each iteration takes the float32 median
and float32 standard deviation (``nanmedian``/``nanstd``, no bottleneck) of the
values still kept, keeps ``cen - 3 std <= w <= cen + 3 std`` and stops when
nothing changes or after 5 iterations; the mean is taken in float64.

The computation stays on the array's device: numpy arrays give exactly the
values stcal gets; CuPy arrays use
CuPy's reductions, whose float32 summation order differs from numpy's pairwise
one, so the threshold may differ in the last bits there.

On the host the clipped values are finite by construction, so ``nanmedian``
and ``nanstd`` reduce to what :func:`_median_exact` and ``np.std`` compute,
without the NaN scans and copies (three times faster on a 4 Mpx grid):
``nanmedian`` of a NaN-free 1-D array is ``np.median``, which is the middle
element, or ``float32(a + b) / 2`` of the two middle ones; ``nanstd`` of a
NaN-free array is ``np.std`` with the same float32 sums and float64 division
by the count. ``tests/outlier`` checks both against the ``nan`` functions bit
for bit.
"""

import math
import warnings

import numpy as np

from gpucal.engine.arrays import get_array_module
from gpucal.errors import ParameterError

__all__ = ["weight_threshold"]

_SIGMA = 3
_MAXITERS = 5


def weight_threshold(wht, maskpt):
    """The weight below which a group's drizzled pixels are left out of the median.

    Parameters
    ----------
    wht : ndarray or cupy.ndarray of float32
        The group's drizzle weight image (the whole grid, not a band).
    maskpt : float
        jwst's ``maskpt``: the fraction of the clipped mean weight.

    Returns
    -------
    float
        The threshold (float64); NaN when no weight is finite and non-zero
        (then nothing is masked, as in jwst).
    """
    if not math.isfinite(maskpt):
        raise ParameterError(f"maskpt: must be a finite number, not {maskpt!r}")
    xp = get_array_module(wht)
    values = wht[xp.isfinite(wht) & (wht != 0)]
    host = xp is np and values.dtype == np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(_MAXITERS):
            size = values.size
            if host and size:
                cen = _median_exact(values)
                std = np.std(values)
            else:
                cen = xp.nanmedian(values)
                std = xp.nanstd(values)
            lo = cen - std * _SIGMA
            hi = cen + std * _SIGMA
            values = values[(values >= lo) & (values <= hi)]
            if values.size == size:
                break
        mean = xp.mean(values, dtype=xp.float64)
    return float(mean) * maskpt


def _median_exact(values):
    """``np.median`` of a non-empty, NaN-free float32 1-D array, from one partition of a copy."""
    n = values.size
    half = n // 2
    if n % 2:
        return np.partition(values, half)[half]
    part = np.partition(values, (half - 1, half))
    return np.float32(np.float32(part[half - 1] + part[half]) / 2)
