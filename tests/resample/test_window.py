"""The compiled pixel-map extent (resample's variance window) equals the array-reduction form."""

import numpy as np
import pytest

from gpucal.resample._window import pixmap_extent, pixmap_extent_xp


def _map(ny, nx, seed, holes=0.0):
    rng = np.random.default_rng(seed)
    y, x = np.indices((ny, nx), dtype=np.float64)
    pix = np.dstack([1.02 * x + 0.01 * y + 30.5, -0.01 * x + 0.98 * y + 12.25])
    pix += rng.normal(0.0, 0.05, pix.shape)
    if holes:
        pix[rng.random((ny, nx)) < holes] = np.nan
        pix[rng.random((ny, nx)) < holes / 2, 1] = np.nan  # y alone missing
    return pix


@pytest.mark.parametrize(
    ("ny", "nx", "holes"), [(40, 50, 0.0), (40, 50, 0.2), (1, 30, 0.0), (30, 1, 0.1), (1, 1, 0.0), (25, 25, 0.9)]
)
def test_extent_matches_reductions(ny, nx, holes):
    pix = _map(ny, nx, seed=ny * 100 + nx, holes=holes)
    assert pixmap_extent(pix) == pixmap_extent_xp(pix)


def test_extent_of_a_map_with_no_finite_pixel():
    pix = np.full((5, 6, 2), np.nan)
    assert pixmap_extent(pix)[0] is False
    assert pixmap_extent_xp(pix)[0] is False


def test_infinite_steps_are_left_out():
    pix = _map(10, 12, seed=3)
    pix[4, 5, 0] = np.inf
    found, lo_x, hi_x, lo_y, hi_y, step = pixmap_extent(pix)
    assert found and np.isfinite(step) and step < 2.0
    assert (found, lo_x, hi_x, lo_y, hi_y, step) == pixmap_extent_xp(pix)


def test_extent_of_a_strided_view():
    pix = _map(30, 40, seed=5, holes=0.1)
    sub = pix[3:20, 5:33]
    assert pixmap_extent(sub) == pixmap_extent_xp(sub)
