"""Parity cases for skymatch's sky-statistics reductions (moments, squared deviations, histogram).

Inputs are sky-like float32 images with NaN, masked pixels, repeated values
(pixels exactly on clip limits and bin edges) and outliers beyond the limits.
"""

import numpy as np

from gpucal.kernels.sky_stats import histogram_setup
from tests.kernels._cases import Case


def _image(rng, shape=(23, 37)):
    data = rng.normal(2.5, 0.4, shape).astype(np.float32)
    data.flat[::29] = 40.0  # outliers beyond the clip limits
    data.flat[3::31] = np.float32(2.1)  # ties on a limit
    data.flat[7::43] = np.nan
    mask = rng.random(shape) > 0.2
    mask &= np.isfinite(data)
    return data, mask


def _moments(rng, lo, hi):
    data, mask = _image(rng)
    return data, mask, np.float32(lo), np.float32(hi)


def _sumdiff(rng):
    data, mask = _image(rng)
    return data, mask, np.float32(2.1), np.float32(3.7), np.float32(2.4973)


def _histogram(rng, nbins, include):
    data, mask = _image(rng)
    vmin = np.float32(2.1)
    vmax = np.float32(3.3)
    if include:
        # a setup as ImageStats makes it (its limits decide whether the top edge is included)
        lo, hi, inv_width, include_hi = histogram_setup(nbins, (float(vmax) - float(vmin)) / (nbins - 1), vmin)
    else:
        lo, hi, inv_width, include_hi = vmin, vmax, np.float32(nbins / (float(vmax) - float(vmin))), False
    return data, mask, lo, hi, inv_width, nbins, include_hi


CASES = [
    Case("sky_moments", "all", lambda rng: _moments(rng, -np.inf, np.inf)),
    Case("sky_moments", "clipped", lambda rng: _moments(rng, 2.1, 3.0)),
    Case("sky_moments", "empty", lambda rng: _moments(rng, 100.0, 200.0)),
    Case("sky_sumdiff", "clipped", _sumdiff),
    Case("sky_histogram", "imagestats-setup", lambda rng: _histogram(rng, 41, True)),
    Case("sky_histogram", "plain", lambda rng: _histogram(rng, 17, False)),
    Case("sky_histogram", "one-bin", lambda rng: _histogram(rng, 2, True)),
]
