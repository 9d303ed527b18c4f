"""tweakreg source catalogs: detection on synthetic stars, masks, bounding box, and equality with jwst's finder."""

import numpy as np
import pytest
from astropy.table import Table

from gpucal.errors import InputFileError
from gpucal.tweakreg.catalog import FinderParams, filter_by_bounding_box, find_sources, rename_position_columns

SHAPE = (160, 170)


def _stars(seed=3, n=25, shape=SHAPE, fwhm=2.2):
    """A noisy image with ``n`` Gaussian stars away from the edges; returns (data, dq, err, positions)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    data = rng.normal(0.5, 0.02, shape)
    sigma = fwhm / 2.3548
    positions = np.column_stack([rng.uniform(12, shape[1] - 12, n), rng.uniform(12, shape[0] - 12, n)])
    for (px, py), amp in zip(positions, rng.uniform(2.0, 20.0, n), strict=True):
        data += amp * np.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * sigma**2))
    dq = np.zeros(shape, np.uint32)
    dq[:, :4] = 1 | 512  # reference-pixel columns
    err = np.full(shape, 0.02, np.float32)
    return data.astype(np.float32), dq, err, positions


def _nearest(catalog, positions):
    xy = np.column_stack([catalog["xcentroid"], catalog["ycentroid"]])
    d = np.hypot(*(xy[:, None, :] - positions[None, :, :]).transpose(2, 0, 1))
    return d.min(axis=1)


#: DAOStarFinder's sharpness/roundness scales differ from IRAF's (jwst's defaults are IRAF's).
DAO_RANGES = {"sharplo": 0.2, "sharphi": 1.0, "roundlo": -1.0, "roundhi": 1.0}


@pytest.mark.parametrize("finder", ["iraf", "dao", "segmentation"])
def test_finders_recover_the_stars(finder):
    data, dq, err, positions = _stars()
    extra = DAO_RANGES if finder == "dao" else {}
    catalog = find_sources(data, dq, FinderParams(starfinder=finder, bkg_boxsize=40, **extra), err=err)
    assert catalog.colnames == ["id", "xcentroid", "ycentroid", "flux"]
    assert len(catalog) >= 15
    assert np.median(_nearest(catalog, positions)) < 0.2


def test_masked_pixels_hide_sources():
    data, dq, _, _ = _stars()
    dq[:, 85:] |= 1
    catalog = find_sources(data, dq, FinderParams(bkg_boxsize=40))
    assert len(catalog) > 0
    assert np.all(catalog["xcentroid"] < 85)


def test_empty_image_gives_an_empty_catalog(caplog):
    rng = np.random.default_rng(0)
    data = rng.normal(0.0, 1.0, SHAPE).astype(np.float32)
    catalog = find_sources(data, np.zeros(SHAPE, np.uint32), FinderParams(bkg_boxsize=40, snr_threshold=50))
    assert len(catalog) == 0 and catalog.colnames == ["id", "xcentroid", "ycentroid", "flux"]
    assert "no sources" in caplog.text


def test_box_larger_than_image_uses_the_whole_array():
    data, dq, _, _ = _stars()
    catalog = find_sources(data, dq, FinderParams(bkg_boxsize=400))
    assert len(catalog) >= 15


def test_bounding_box_filter_is_strict():
    catalog = Table({"x": [-0.5, 0.0, 9.5, 5.0], "y": [1.0, 1.0, 1.0, 9.5]})
    kept = filter_by_bounding_box(catalog, ((-0.5, 9.5), (-0.5, 9.5)))
    assert list(kept["x"]) == [0.0]
    assert len(filter_by_bounding_box(catalog, None)) == 4


def test_position_columns_are_renamed_or_refused():
    table = rename_position_columns(Table({"x_centroid": [1.0], "ycentroid": [2.0]}))
    assert table.colnames == ["x", "y"]
    with pytest.raises(InputFileError, match=r"mycat\.ecsv: .*'y'"):
        rename_position_columns(Table({"x": [1.0], "dec": [2.0]}), source="mycat.ecsv")


@pytest.mark.parametrize("finder", ["iraf", "dao", "segmentation"])
def test_catalog_equals_jwst(finder):
    pytest.importorskip("jwst")
    from jwst.tweakreg.tweakreg_catalog import make_tweakreg_catalog
    from stdatamodels.jwst.datamodels import ImageModel

    data, dq, err, _ = _stars(seed=11)
    params = FinderParams(starfinder=finder, bkg_boxsize=50, **(DAO_RANGES if finder == "dao" else {}))
    ours = find_sources(data, dq, params, err=err)
    model = ImageModel(data=data, dq=dq, err=err)
    kwargs = {
        "sigma_radius": params.sigma_radius, "min_separation": params.min_separation,
        "sharpness_range": (params.sharplo, params.sharphi), "roundness_range": (params.roundlo, params.roundhi),
        "peak_max": params.peakmax, "n_brightest": params.brightest, "n_pixels": params.npixels,
        "connectivity": params.connectivity, "n_levels": params.nlevels, "contrast": params.contrast,
        "mode": params.multithresh_mode, "error": err, "local_bkg_width": params.localbkg_width,
        "aperture_mask_method": params.apermask_method, "kron_params": None, "deblend": params.deblend,
    }  # fmt: skip
    theirs, _ = make_tweakreg_catalog(model, params.snr_threshold, params.kernel_fwhm, bkg_boxsize=params.bkg_boxsize,
                                      starfinder_name=finder, starfinder_kwargs=kwargs)  # fmt: skip
    assert len(ours) == len(theirs) > 0
    for name in ("id", "xcentroid", "ycentroid", "flux"):
        np.testing.assert_array_equal(np.asarray(ours[name]), np.asarray(getattr(theirs[name], "value", theirs[name])))
