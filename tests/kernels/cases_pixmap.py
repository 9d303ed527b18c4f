"""Parity cases for the pixel map (gwcs reference vs compiled numba CPU vs CUDA).

Small synthetic WCS pairs of the layouts resample and outlier detection meet: an imaging
WCS (detector -> v2v3 -> v2v3vacorr -> world) onto a TAN output grid given as
a compound model or as gwcs's ``FITSImagingWCSTransform``, a tweakreg-corrected
input (``v2v3corr`` frame), the reverse map (output grid -> detector
through the user-assigned inverse distortion), and an input with a model the
compiler does not translate (coarse-grid fallback). Input bounding boxes cut
through the arrays so the NaN border is exercised.

Tolerance: compiled code and gwcs agree to rounding, a few 1e-9 pixel at
JWST pixel scales (one unit in the last place of a right ascension in degrees
is 1e-9 to 1e-8 pixel), so maps are compared at ``PIXMAP_ATOL`` = 1e-7 pixel
rather than the registry's 1e-9; the fallback case at its 1e-6 pixel target.
"""

import numpy as np
from astropy.modeling import models as m

from tests.kernels._cases import Case
from tests.wcs._factories import synthetic_imaging_wcs, tan_grid_wcs, tweak_corrected

PIXMAP_ATOL = 1e-7
FALLBACK_ATOL = 1e-6
_SHAPE = (12, 16)
_BBOX = ((1.5, 13.2), (0.5, 9.7))


def _compare(atol):
    def compare(expected, actual, spec):
        expected, actual = np.asarray(expected), np.asarray(actual)
        assert actual.dtype == np.float64 and actual.shape == expected.shape
        np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg="NaN positions")
        np.testing.assert_allclose(actual, expected, rtol=0.0, atol=max(atol, spec.atol), equal_nan=True)

    return compare


def _grid_for(wcs_in, rng, *, fits_transform=False):
    ra, dec = wcs_in(_SHAPE[1] / 2.0, _SHAPE[0] / 2.0)
    return tan_grid_wcs((float(ra), float(dec)), 0.06 / 3600.0, rng.uniform(0, 360), (9.3, 7.1), (15, 19),
                        fits_transform=fits_transform)  # fmt: skip


def _imaging_to_grid(rng):
    wcs_in = synthetic_imaging_wcs(rng, _SHAPE, bbox=_BBOX)
    return wcs_in, _grid_for(wcs_in, rng), _SHAPE


def _imaging_to_fits_grid(rng):
    wcs_in = synthetic_imaging_wcs(rng, _SHAPE, bbox=_BBOX)
    return wcs_in, _grid_for(wcs_in, rng, fits_transform=True), _SHAPE


def _tweaked_to_grid(rng):
    wcs = synthetic_imaging_wcs(rng, _SHAPE, bbox=_BBOX)
    v2, v3 = wcs.get_transform("detector", "v2v3")(8.0, 6.0)
    matrix = np.array([[1.0001, 2e-5], [-2e-5, 0.9999]])
    wcs_in = tweak_corrected(wcs, v2_ref=float(v2), v3_ref=float(v3), roll_ref=rng.uniform(0, 360), matrix=matrix,
                             shift=[3e-7, -2e-7])  # fmt: skip
    return wcs_in, _grid_for(wcs_in, rng), _SHAPE


def _reverse(rng):
    wcs_det = synthetic_imaging_wcs(rng, _SHAPE)
    grid = _grid_for(wcs_det, rng)
    grid.bounding_box = ((0.7, 16.2), (-0.5, 11.4))
    return grid, wcs_det, (15, 19)


def _untranslatable_to_grid(rng):
    wcs_in = synthetic_imaging_wcs(rng, _SHAPE, bbox=_BBOX)
    import gwcs

    def warp(c10, c01):
        return m.Legendre2D(2, 2, x_domain=(0, 16), y_domain=(0, 12), c0_0=0.02, c1_0=c10, c0_1=c01, c1_1=0.01)

    steps = [(s.frame, s.transform) for s in wcs_in.pipeline]
    warped = m.Mapping((0, 1, 0, 1)) | ((m.Mapping((0,), n_inputs=2) + warp(0.05, -0.03))
                                        & (m.Mapping((1,), n_inputs=2) + warp(-0.02, 0.04)))  # fmt: skip
    steps[0] = (steps[0][0], warped | steps[0][1])

    wcs = gwcs.WCS(steps)
    wcs.bounding_box = _BBOX
    return wcs, _grid_for(wcs, rng), _SHAPE


CASES = [
    Case("pixmap", "imaging-to-tan-grid", _imaging_to_grid, _compare(PIXMAP_ATOL)),
    Case("pixmap", "imaging-to-fitswcs-grid", _imaging_to_fits_grid, _compare(PIXMAP_ATOL)),
    Case("pixmap", "tweakreg-v2v3corr", _tweaked_to_grid, _compare(PIXMAP_ATOL)),
    Case("pixmap", "reverse-grid-to-detector", _reverse, _compare(PIXMAP_ATOL)),
    Case("pixmap", "fallback-untranslatable-model", _untranslatable_to_grid, _compare(FALLBACK_ATOL)),
]
