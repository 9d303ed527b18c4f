"""The coarse-grid fallback for models the compiler does not translate.

A WCS whose distortion contains an unsupported model (``Legendre2D``) must
still produce the pixel map: gwcs on a coarse grid, bicubic interpolation on
the device, the input bounding box applied per pixel, a log notice with the
estimated error bound, and the result within that bound of gwcs everywhere.
"""

import logging

import gwcs
import numpy as np
import pytest
from astropy.modeling import models as m

from gpucal.errors import ParameterError
from gpucal.wcs.compile import compile_pixmap, compile_transform, gwcs_pixmap_values
from tests.wcs._factories import synthetic_imaging_wcs, tan_grid_wcs

SHAPE = (150, 170)


def _warp(c10, c01):
    return m.Legendre2D(3, 3, x_domain=(0, SHAPE[1]), y_domain=(0, SHAPE[0]), c0_0=0.1, c1_0=c10, c0_1=c01, c2_1=0.3,
                        c3_3=0.05)  # fmt: skip


def _warped_wcs(rng):
    base = synthetic_imaging_wcs(rng, SHAPE)
    steps = [(s.frame, s.transform) for s in base.pipeline]
    warp = m.Mapping((0, 1, 0, 1)) | ((m.Mapping((0,), n_inputs=2) + _warp(0.4, -0.2))
                                      & (m.Mapping((1,), n_inputs=2) + _warp(-0.3, 0.5)))  # fmt: skip
    steps[0] = (steps[0][0], warp | steps[0][1])
    wcs = gwcs.WCS(steps)
    wcs.bounding_box = ((3.5, SHAPE[1] - 9.2), (-0.5, SHAPE[0] - 4.7))
    return wcs


@pytest.fixture
def warped():
    rng = np.random.default_rng(11)
    wcs = _warped_wcs(rng)
    ra, dec = wcs(SHAPE[1] / 2.0, SHAPE[0] / 2.0)
    grid = tan_grid_wcs((float(ra), float(dec)), 0.06 / 3600.0, 33.0, (90.0, 80.0), (180, 200), fits_transform=True)
    return wcs, grid


def test_fallback_map_within_stated_bound(warped, caplog):
    wcs, grid = warped
    with caplog.at_level(logging.WARNING, logger="gpucal"):
        plan = compile_pixmap(wcs, grid, SHAPE)
    assert not plan.exact
    notices = [r.getMessage() for r in caplog.records if "estimated error bound" in r.getMessage()]
    assert notices and "Legendre2D" in notices[0]
    assert 0.0 < plan.error_bound <= 1e-6
    pixmap = plan.evaluate()
    y, x = np.indices(SHAPE, dtype=np.float64)
    ex, ey = gwcs_pixmap_values(wcs, grid, x, y)
    np.testing.assert_array_equal(np.isnan(pixmap[..., 0]), np.isnan(ex))
    assert np.isnan(ex).any()
    err = np.hypot(pixmap[..., 0] - ex, pixmap[..., 1] - ey)
    assert np.nanmax(err) <= plan.error_bound


def test_fallback_refines_the_grid_until_the_target(warped):
    wcs, grid = warped
    coarse = compile_pixmap(wcs, grid, SHAPE, fallback_step=64, fallback_tolerance=1.0)
    fine = compile_pixmap(wcs, grid, SHAPE, fallback_step=64, fallback_tolerance=1e-7)
    assert coarse.error_bound <= 1.0 and fine.error_bound <= 1e-7 < coarse.error_bound


def test_fallback_cuda_form_matches_cpu(warped):
    wcs, grid = warped
    plan = compile_pixmap(wcs, grid, (9, 11))
    gpu = plan.transform.grid_gpu((9, 11))
    gpu = gpu.get() if hasattr(gpu, "get") else gpu
    np.testing.assert_allclose(gpu, plan.evaluate(), rtol=0, atol=1e-9)


def test_compile_transform_fallback_needs_a_domain(warped):
    wcs, _ = warped
    with pytest.raises(ParameterError, match="domain"):
        compile_transform(wcs)
    compiled = compile_transform(wcs, domain=SHAPE, fallback_tolerance=1e-9)
    assert not compiled.exact
    y, x = np.mgrid[0 : SHAPE[0] : 13j, 0 : SHAPE[1] : 17j]
    ra, dec = wcs(x, y)
    cra, cdec = compiled.cpu(x, y)
    np.testing.assert_array_equal(np.isnan(cra), np.isnan(ra))
    assert np.nanmax(np.abs(cra - ra)) < 1e-9 and np.nanmax(np.abs(cdec - dec)) < 1e-9
