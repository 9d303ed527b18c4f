"""Parity cases for the source-detection kernels (photutils' background zoom and circular peak test)."""

import numpy as np
from scipy.ndimage import gaussian_filter

from tests.kernels._cases import Case


def _mesh(shape, box, out):
    def make(rng):
        return rng.normal(5.0, 1.0, shape).astype(np.float32), box, out

    return make


def _flat_mesh(rng):
    return np.full((3, 3), 2.5, np.float32), (8, 8), (20, 24)


def _peaks(radius, shape=(31, 37)):
    def make(rng):
        data = gaussian_filter(rng.normal(0.0, 1.0, shape), 1.0).astype(np.float32)
        data[::7, ::5] = np.round(data[::7, ::5], 1)  # ties
        data[-1, :] = np.float32(0.25)  # a flat row at the border
        data[4, :] = np.float32(-0.5)  # negative pixels, where the border's 0 decides
        return data, radius

    return make


CASES = [
    Case("background_zoom", "full-frame-like", _mesh((6, 6), (40, 40), (205, 230))),
    Case("background_zoom", "rectangular-boxes", _mesh((5, 7), (13, 9), (60, 61))),
    Case("background_zoom", "two-by-two", _mesh((2, 2), (6, 6), (11, 12))),
    Case("background_zoom", "constant", _flat_mesh),
    Case("circular_peaks", "radius-2", _peaks(2)),
    Case("circular_peaks", "radius-2.5", _peaks(2.5)),
    Case("circular_peaks", "radius-1.2", _peaks(1.2)),
]
