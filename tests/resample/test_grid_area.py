"""Mean pixel area of a WCS against stcal's ``compute_mean_pixel_area`` (spherical_geometry), bit for bit."""

import copy

import numpy as np
import pytest

from gpucal.resample._grid_area import boundary_points, mean_pixel_area, spherical_polygon_area
from tests.factories import simple_wcs


@pytest.mark.parametrize("shape", [(32, 40), (10, 13), (100, 7), (64, 64)])
def test_mean_pixel_area_of_small_wcs_is_stcals(shape):
    pytest.importorskip("stcal")
    from stcal.resample.utils import compute_mean_pixel_area

    wcs = simple_wcs(shape)
    expected = compute_mean_pixel_area(copy.deepcopy(wcs), shape=shape)
    assert mean_pixel_area(wcs, shape=shape) == expected
    assert expected == pytest.approx((0.031 / 206264.80624709636) ** 2, rel=1e-3)


def test_mean_pixel_area_of_flight_wcs_is_stcals(real_data):
    """NIRCam (stcal's nrcb1 flight gwcs) and MIRI (flight distortion reference) full frames."""
    pytest.importorskip("stcal")
    import asdf
    from stcal.resample.utils import compute_mean_pixel_area

    from gpucal.wcs.imaging import imaging_wcs
    from gpucal.wcs.pointing import Pointing

    with asdf.open(real_data / "nrcb1-wcs.asdf") as af:
        nircam = copy.deepcopy(af.tree["wcs"])
    with asdf.open(real_data / "jwst_miri_imager_distortion_flt9.asdf") as af:
        distortion = copy.deepcopy(af.tree["model"])
    cases = [(nircam, (2048, 2048))]
    for ra, dec, roll in [(10.0, 0.0, 0.0), (210.3, -61.2, 123.4), (45.0, 88.7, 300.0)]:
        cases.append(
            (imaging_wcs(distortion, Pointing(ra, dec, roll, -433.9, -375.2, 1.0), shape=(1024, 1032)), (1024, 1032))
        )
    for wcs, shape in cases:
        assert mean_pixel_area(wcs, shape=shape) == compute_mean_pixel_area(copy.deepcopy(wcs), shape=shape)


def test_spherical_polygon_area_is_spherical_geometrys():
    """Random small polygons (convex and not, either orientation, centre inside or not)."""
    polygon = pytest.importorskip("spherical_geometry.polygon")
    rng = np.random.default_rng(11)
    for _ in range(200):
        n = int(rng.integers(3, 40))
        ra0, dec0 = rng.uniform(0, 360), rng.uniform(-89.9, 89.9)
        radius = 10 ** rng.uniform(-6.5, -0.5)
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        if rng.random() < 0.5:
            angles = angles[::-1]
        r = radius * rng.uniform(0.5, 1.0, n)
        ra = ra0 + r * np.cos(angles) / np.cos(np.deg2rad(dec0))
        dec = dec0 + r * np.sin(angles)
        expected = polygon.SphericalPolygon.from_radec(ra, dec, center=(ra0, dec0)).area()
        assert spherical_polygon_area(ra, dec, center=(ra0, dec0)) == expected


def test_boundary_points_walk_the_rectangle_counter_clockwise():
    x, y, area, center, (bottom, right, top, left) = boundary_points(0, 30, 0, 20, 15, 15)
    assert area == 600 and center == (15.0, 10.0)
    assert np.all(y[bottom] == 0) and np.all(x[right] == 30) and np.all(y[top] == 20) and np.all(x[left] == 0)
    assert np.all(np.diff(x[bottom]) > 0) and np.all(np.diff(y[right]) > 0) and np.all(np.diff(x[top]) < 0)


def test_tiny_or_shapeless_wcs():
    wcs = simple_wcs((3, 3))
    assert mean_pixel_area(wcs, shape=(3, 3)) is None
    wcs.bounding_box = None
    with pytest.raises(ValueError, match="array_shape"):
        mean_pixel_area(wcs)
