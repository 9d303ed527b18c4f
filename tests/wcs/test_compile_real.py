"""Compiled transforms on flight WCSs vs gwcs: NIRCam (stcal test data) and MIRI (CRDS distortion).

Targets: pixel -> world within 1e-9 deg, pixel maps onto a TAN output grid
within 1e-6 pixel, NaN exactly where gwcs gives NaN (outside the input
bounding box). gwcs is evaluated on a subset of pixels (all border rows and
columns, where the bounding box cuts, plus a strided interior) to keep the
test quick; the compiled map covers every pixel.
"""

import numpy as np
import pytest

from gpucal.wcs.compile import compile_pixmap, compile_transform, gwcs_pixmap_values
from tests.wcs._factories import tan_grid_wcs

DEG_TOL = 1e-9
PIX_TOL = 1e-6


@pytest.fixture(scope="module")
def nircam_wcs(real_data):
    asdf = pytest.importorskip("asdf")
    with asdf.open(real_data / "nrcb1-wcs.asdf", lazy_load=False, memmap=False) as af:
        return af.tree["wcs"]


@pytest.fixture(scope="module")
def miri_wcs(real_data):
    asdf = pytest.importorskip("asdf")
    from gpucal.wcs.imaging import imaging_wcs
    from gpucal.wcs.pointing import Pointing

    with asdf.open(real_data / "jwst_miri_imager_distortion_flt9.asdf", lazy_load=False, memmap=False) as af:
        distortion = af.tree["model"]
    pointing = Pointing(ra_ref=83.82, dec_ref=-5.39, roll_ref=251.3, v2_ref=-453.363, v3_ref=-374.069,
                        va_scale=1.0000183)  # fmt: skip
    return imaging_wcs(distortion, pointing, shape=(1024, 1032), filter_offset=(-0.14, -0.62))


def _sample_pixels(shape, stride=37, border=3):
    ny, nx = shape
    rows = np.unique(np.concatenate([np.arange(border), np.arange(ny - border, ny), np.arange(0, ny, stride)]))
    cols = np.unique(np.concatenate([np.arange(border), np.arange(nx - border, nx), np.arange(0, nx, stride)]))
    return rows, cols


def _grid_for(wcs, shape, *, fits_transform, rotation=17.0):
    ny, nx = shape
    ra, dec = wcs(nx / 2.0, ny / 2.0)
    ra1, dec1 = wcs(nx / 2.0 + 1.0, ny / 2.0)
    scale = np.hypot((ra1 - ra) * np.cos(np.deg2rad(dec)), dec1 - dec)
    return tan_grid_wcs((float(ra), float(dec)), float(scale), rotation, (nx / 2.0 + 20.3, ny / 2.0 - 7.9),
                        (ny + 200, nx + 200), fits_transform=fits_transform)  # fmt: skip


def _angle_diff(a, b):
    return np.abs((a - b + 180.0) % 360.0 - 180.0)


@pytest.mark.parametrize("which", ["nircam", "miri"])
def test_pixel_to_world_matches_gwcs(request, which):
    wcs = request.getfixturevalue(f"{which}_wcs")
    (xlo, xhi), (ylo, yhi) = wcs.bounding_box.bounding_box(order="F")
    y, x = np.mgrid[ylo - 3 : yhi + 3 : 41j, xlo - 3 : xhi + 3 : 43j]
    ra, dec = wcs(x, y)
    cra, cdec = compile_transform(wcs).cpu(x, y)
    np.testing.assert_array_equal(np.isnan(cra), np.isnan(ra))
    assert np.isnan(ra).any() and np.isfinite(ra).any()
    assert np.nanmax(_angle_diff(cra, ra)) <= DEG_TOL
    assert np.nanmax(np.abs(cdec - dec)) <= DEG_TOL


@pytest.mark.parametrize("which", ["nircam", "miri"])
def test_world_to_pixel_matches_gwcs(request, which):
    wcs = request.getfixturevalue(f"{which}_wcs")
    (xlo, xhi), (ylo, yhi) = wcs.bounding_box.bounding_box(order="F")
    y, x = np.mgrid[ylo:yhi:23j, xlo:xhi:29j]
    ra, dec = wcs(x, y)
    ex, ey = wcs.backward_transform(ra, dec)  # the user-assigned inverse distortion
    cx, cy = compile_transform(wcs, direction="backward").cpu(ra, dec)
    assert np.max(np.abs(cx - ex)) <= PIX_TOL and np.max(np.abs(cy - ey)) <= PIX_TOL


@pytest.mark.parametrize("fits_transform", [False, True], ids=["compound-grid", "fitswcs-grid"])
@pytest.mark.parametrize("which", ["nircam", "miri"])
def test_pixmap_matches_gwcs(request, which, fits_transform):
    wcs = request.getfixturevalue(f"{which}_wcs")
    shape = (2048, 2048) if which == "nircam" else (1024, 1032)
    grid = _grid_for(wcs, shape, fits_transform=fits_transform)
    saved = wcs.bounding_box.bounding_box(order="F")
    wcs.bounding_box = ((saved[0][0] + 11.0, saved[0][1] - 7.3), (saved[1][0] + 4.0, saved[1][1] - 17.6))
    try:
        plan = compile_pixmap(wcs, grid, shape)
        pixmap = plan.evaluate()
        rows, cols = _sample_pixels(shape)
        yy, xx = np.meshgrid(rows, cols, indexing="ij")
        ex, ey = gwcs_pixmap_values(wcs, grid, xx.astype(float), yy.astype(float))
    finally:
        wcs.bounding_box = saved
    assert plan.exact and pixmap.shape == (*shape, 2) and pixmap.dtype == np.float64
    sub = pixmap[np.ix_(rows, cols)]
    np.testing.assert_array_equal(np.isnan(sub[..., 0]), np.isnan(ex))
    assert np.isnan(ex).any()
    assert np.nanmax(np.abs(sub[..., 0] - ex)) <= PIX_TOL and np.nanmax(np.abs(sub[..., 1] - ey)) <= PIX_TOL


def test_tweakreg_corrected_pixmap(nircam_wcs):
    correctors = pytest.importorskip("tweakwcs.correctors")
    v2, v3 = nircam_wcs.get_transform("detector", "v2v3")(1023.5, 1023.5)
    ra, dec = nircam_wcs(1023.5, 1023.5)
    info = {"v2_ref": float(v2), "v3_ref": float(v3), "roll_ref": 144.8, "ra_ref": float(ra), "dec_ref": float(dec)}
    corrector = correctors.JWSTWCSCorrector(nircam_wcs, info)
    corrector.set_correction(matrix=[[1.00002, 3e-5], [-3e-5, 0.99998]], shift=[0.05, -0.03])
    wcs = corrector.wcs
    assert "v2v3corr" in wcs.available_frames
    shape = (2048, 2048)
    grid = _grid_for(wcs, shape, fits_transform=True)
    pixmap = compile_pixmap(wcs, grid, shape).evaluate()
    rows, cols = _sample_pixels(shape, stride=97)
    yy, xx = np.meshgrid(rows, cols, indexing="ij")
    ex, ey = gwcs_pixmap_values(wcs, grid, xx.astype(float), yy.astype(float))
    sub = pixmap[np.ix_(rows, cols)]
    assert np.nanmax(np.abs(sub[..., 0] - ex)) <= PIX_TOL and np.nanmax(np.abs(sub[..., 1] - ey)) <= PIX_TOL
    np.testing.assert_array_equal(np.isnan(sub[..., 1]), np.isnan(ey))


def test_reverse_map_matches_gwcs(nircam_wcs):
    grid = _grid_for(nircam_wcs, (2048, 2048), fits_transform=True)
    grid_shape = (2248, 2248)
    plan = compile_pixmap(grid, nircam_wcs, grid_shape)
    pixmap = plan.evaluate()
    rows, cols = _sample_pixels(grid_shape, stride=101)
    yy, xx = np.meshgrid(rows, cols, indexing="ij")
    ex, ey = gwcs_pixmap_values(grid, nircam_wcs, xx.astype(float), yy.astype(float))
    sub = pixmap[np.ix_(rows, cols)]
    assert np.max(np.abs(sub[..., 0] - ex)) <= PIX_TOL and np.max(np.abs(sub[..., 1] - ey)) <= PIX_TOL


def test_input_rotation_and_output_rotation_fold(nircam_wcs):
    """Between the input's V2V3-to-sky rotation and the grid's celestial-to-native rotation no angle is formed."""
    grid = _grid_for(nircam_wcs, (2048, 2048), fits_transform=True)
    kinds = [op.kind for op in compile_pixmap(nircam_wcs, grid, (2048, 2048)).transform.program.ops]
    assert "c2s" not in kinds and kinds.count("s2c") == 1 and kinds.count("persp") == 1
    exact = [op.kind for op in compile_pixmap(nircam_wcs, grid, (2048, 2048), simplify=False).transform.program.ops]
    assert exact.count("c2s") == 2 and exact.count("s2c") == 2 and "tan_s2x" in exact


def test_cuda_form_on_a_flight_wcs(nircam_wcs):
    grid = _grid_for(nircam_wcs, (2048, 2048), fits_transform=True)
    plan = compile_pixmap(nircam_wcs, grid, (6, 7))
    cpu = plan.evaluate()
    gpu = plan.transform.grid_gpu((6, 7))
    gpu = gpu.get() if hasattr(gpu, "get") else gpu
    np.testing.assert_allclose(gpu, cpu, rtol=0, atol=1e-9)
