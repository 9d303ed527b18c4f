"""The resample output grid against jwst 3.0 / stcal run on the same inputs."""

import copy

import numpy as np
import pytest

from gpucal.errors import InputFileError, ParameterError
from gpucal.resample import OutputGrid, combined_s_region, grid_from_exposures, grid_from_file, max_output_pixels
from tests.resample._grid_cases import dithered_exposures, jwst_library, miri_exposures, world_grid

OPTIONS = {
    "defaults": {},
    "pixel_scale_ratio": {"pixel_scale_ratio": 0.7},
    "pixel_scale": {"pixel_scale": 0.02},
    "rotation": {"rotation": 30.0},
    "rotation_north_up": {"rotation": 0.0},
    "crpix": {"crpix": (10.3, 12.7)},
    "crval": {"crval": (53.1601, -27.7799)},
    "output_shape": {"output_shape": (30, 25)},
    "combined": {
        "pixel_scale": 0.045,
        "rotation": -75.0,
        "crpix": (40.0, 22.0),
        "crval": (53.16, -27.78),
        "output_shape": (80, 60),
    },
}


def _jwst_resample(library, options=None, output_wcs=None):
    """jwst's ResampleImage set up as ResampleStep sets it up (step parameter conventions)."""
    from jwst.resample.resample import ResampleImage

    wcs_pars = None
    if options is not None:
        wcs_pars = {
            "pixel_scale_ratio": 1.0,
            "pixel_scale": None,
            "rotation": None,
            "crpix": None,
            "crval": None,
            "output_shape": None,
        }
        wcs_pars.update(options)
        if wcs_pars["output_shape"] is not None:
            wcs_pars["output_shape"] = list(wcs_pars["output_shape"])[::-1]
    return ResampleImage(
        library,
        output_wcs=output_wcs,
        wcs_pars=wcs_pars,
        blendheaders=False,
        enable_ctx=False,
        enable_var=False,
        compute_err=None,
    )


def _assert_same_grid(grid, jwst_wcs):
    mine, theirs = grid.wcs.forward_transform, jwst_wcs.forward_transform
    assert grid.shape == tuple(jwst_wcs.array_shape)
    assert grid.wcs.array_shape == jwst_wcs.array_shape and grid.wcs.pixel_shape == jwst_wcs.pixel_shape
    assert grid.wcs.bounding_box.bounding_box() == jwst_wcs.bounding_box.bounding_box()
    assert type(mine) is type(theirs)
    for name in ("crpix", "crval", "cdelt", "pc"):
        np.testing.assert_array_equal(getattr(mine, name), getattr(theirs, name), err_msg=name)
    difference = np.abs(world_grid(grid.wcs) - world_grid(jwst_wcs))
    difference[0] = np.minimum(difference[0], 360 - difference[0])
    assert difference.max() <= 1e-9


@pytest.mark.parametrize("name", list(OPTIONS))
def test_grid_matches_jwst(name):
    """Shape, CRPIX, CRVAL, PC, CDELT, bounding box, pixel->world, PIXAR_*, PXSCLRT as jwst 3.0 (each option)."""
    pytest.importorskip("jwst")
    options = OPTIONS[name]
    exposures = dithered_exposures()
    resample = _jwst_resample(jwst_library(exposures), options)
    grid = grid_from_exposures(exposures, **options)

    _assert_same_grid(grid, resample.output_wcs)
    assert grid.pixel_scale_arcsec == resample.output_pixel_scale
    assert grid.pixel_scale_ratio == resample.pixel_scale_ratio
    assert grid.kernel_ratio == resample.pixel_scale_ratio
    output_model = resample.create_output_model()
    assert grid.pixar_sr == output_model["pixelarea_steradians"]
    assert grid.pixar_a2 == output_model["pixelarea_arcsecsq"]
    assert grid.pixel_area == grid.pixar_sr


def _jwst_wcsinfo(first, wcs, shape=None):
    """jwst's ``update_fits_wcsinfo`` applied to a model holding ``first``'s wcsinfo and ``wcs``."""
    from jwst.resample.resample import ResampleImage
    from stdatamodels.jwst import datamodels

    model = datamodels.ImageModel(None if shape is None else np.zeros(shape, np.float32))
    for key, value in first.meta.wcsinfo.to_dict().items():
        setattr(model.meta.wcsinfo, key, value)
    model.meta.wcs = wcs
    ResampleImage.update_fits_wcsinfo(model)
    return model.meta.wcsinfo.instance


@pytest.mark.parametrize("name", ["defaults", "rotation", "crpix", "output_shape", "combined"])
def test_fits_wcsinfo_and_s_region_match_jwst(name):
    """The _i2d ``meta.wcsinfo`` (update_fits_wcsinfo) and combined S_REGION (combine_sregions) as jwst writes them."""
    pytest.importorskip("jwst")
    from stcal.alignment import combine_sregions

    exposures = dithered_exposures()
    grid = grid_from_exposures(exposures, **OPTIONS[name])
    wcsinfo = grid.fits_wcsinfo(exposures[0].meta.wcsinfo)
    assert wcsinfo == _jwst_wcsinfo(exposures[0], grid.wcs)
    assert {"v2_ref", "v3_ref", "ra_ref", "dec_ref", "roll_ref", "v3yangle", "vparity"}.isdisjoint(wcsinfo)
    assert wcsinfo["ctype1"] == "RA---TAN" and wcsinfo["cunit2"] == "deg" and wcsinfo["wcsaxes"] == 2

    regions = [e.meta.wcsinfo.s_region for e in exposures]
    expected = combine_sregions(
        regions, grid.wcs.get_transform("detector", "world"), intersect_footprint=grid.wcs.footprint()
    )
    assert combined_s_region(exposures, grid) == expected


def test_i2d_product_matches_jwst_resample():
    """A whole jwst resample of the same inputs: its _i2d wcsinfo, S_REGION and pixel areas are the grid's."""
    pytest.importorskip("jwst")
    exposures = dithered_exposures()
    library = jwst_library(exposures)
    options = {"rotation": 12.0, "pixel_scale_ratio": 0.8}
    i2d = _jwst_resample(library, options).resample_many_to_one()
    grid = grid_from_exposures(exposures, **options)

    _assert_same_grid(grid, i2d.meta.wcs)
    assert i2d.data.shape == grid.shape
    expected = grid.fits_wcsinfo(exposures[0].meta.wcsinfo)
    expected["s_region"] = combined_s_region(exposures, grid)
    assert i2d.meta.wcsinfo.instance == expected
    assert i2d.meta.photometry.pixelarea_steradians == grid.pixar_sr
    assert i2d.meta.photometry.pixelarea_arcsecsq == grid.pixar_a2
    assert i2d.meta.resample.pixel_scale_ratio == grid.pixel_scale_ratio


def test_single_exposure_and_identical_footprints_match_jwst():
    """One input, and inputs sharing a footprint (repeated exposures at one position), as jwst."""
    pytest.importorskip("jwst")
    from stcal.alignment import combine_sregions

    for offsets in [((0, 0),), ((0, 0), (0, 0), (1.3, 0.2)), ((0, 0), (0.9, -0.5), (0, 0), (0.9, -0.5))]:
        exposures = dithered_exposures(offsets)
        resample = _jwst_resample(jwst_library(exposures), {})
        grid = grid_from_exposures(exposures)
        _assert_same_grid(grid, resample.output_wcs)
        regions = [e.meta.wcsinfo.s_region for e in exposures]
        expected = combine_sregions(
            regions, grid.wcs.get_transform("detector", "world"), intersect_footprint=grid.wcs.footprint()
        )
        assert combined_s_region(exposures, grid) == expected


@pytest.mark.parametrize("options", [{}, {"pixel_scale": 0.1}, {"rotation": 0.0, "pixel_scale_ratio": 0.5}])
def test_miri_flight_distortion_matches_jwst(real_data, options):
    """Full-frame MIRI exposures with the flight distortion reference (non-linear WCS, mean pixel area)."""
    pytest.importorskip("jwst")
    from stcal.alignment import combine_sregions

    exposures = miri_exposures(real_data)
    resample = _jwst_resample(jwst_library(exposures), options)
    grid = grid_from_exposures(exposures, **options)
    _assert_same_grid(grid, resample.output_wcs)
    assert grid.pixel_scale_ratio == resample.pixel_scale_ratio
    assert grid.pixar_sr == resample.create_output_model()["pixelarea_steradians"]
    regions = [e.meta.wcsinfo.s_region for e in exposures]
    expected = combine_sregions(
        regions, grid.wcs.get_transform("detector", "world"), intersect_footprint=grid.wcs.footprint()
    )
    assert combined_s_region(exposures, grid) == expected


# -- custom output WCS file --------------------------------------------------------


def _write_wcs_file(path, wcs, **extra):
    import asdf

    asdf.AsdfFile({"wcs": wcs, **extra}).write_to(path)
    return path


@pytest.mark.parametrize(
    "contents, output_shape",
    [
        ({"pixel_scale": 0.025}, None),
        ({"pixel_area": 0.0009}, None),
        ({}, None),
        ({"pixel_scale": 0.03}, (50, 44)),
        ({"array_shape": (41, 97)}, None),
    ],
)
def test_grid_from_file_matches_jwst(tmp_path, contents, output_shape):
    """load_custom_wcs + ResampleImage: shape, pixel scale, PIXAR_* and (after the first input) the ratio."""
    pytest.importorskip("jwst")
    from jwst.resample.resample_utils import load_custom_wcs

    exposures = dithered_exposures()
    wcs = copy.deepcopy(grid_from_exposures(exposures, rotation=20.0).wcs)
    if "array_shape" in contents:
        wcs.array_shape = None
        wcs.bounding_box = None
    path = _write_wcs_file(tmp_path / "custom_wcs.asdf", wcs, **contents)

    grid = grid_from_file(path, output_shape=output_shape)
    library = jwst_library(exposures)
    resample = _jwst_resample(library, output_wcs=load_custom_wcs(str(path), output_shape))
    assert grid.shape == tuple(resample.output_wcs.array_shape)
    assert grid.pixel_scale_arcsec == resample.output_pixel_scale
    output_model = resample.create_output_model()
    assert grid.pixar_sr == output_model["pixelarea_steradians"] and grid.pixar_a2 == output_model["pixelarea_arcsecsq"]
    assert grid.pixel_scale_ratio is None and grid.source == str(path)
    assert grid.fits_wcsinfo(exposures[0].meta.wcsinfo) == _jwst_wcsinfo(exposures[0], resample.output_wcs)
    with pytest.raises(ParameterError, match="pixel_scale_ratio"):
        _ = grid.kernel_ratio

    with library:
        model = library.borrow(0)
        resample._compute_pixel_scale_ratio(resample.input_model_to_dict(model, "ivm", False, None))
        library.shelve(model, 0, modify=False)
    resolved = grid.with_reference_exposure(exposures[0])
    assert resolved.kernel_ratio == resample.pixel_scale_ratio
    assert resolved.with_reference_exposure(exposures[1]) is resolved


def test_custom_non_fits_wcs_keywords_match_jwst(real_data, tmp_path):
    """A custom WCS that is not a FITSImagingWCSTransform (a jwst 1.8 _i2d gwcs): the fitted FITS keywords."""
    pytest.importorskip("jwst")
    from jwst.resample.resample import ResampleImage
    from stdatamodels.jwst import datamodels

    with datamodels.open(real_data / "jw01288015001_04101_00001_mirimage_i2d.fits") as i2d:
        wcs = copy.deepcopy(i2d.meta.wcs)
        reference = dict(i2d.meta.wcsinfo.instance)
    path = _write_wcs_file(tmp_path / "old_i2d_wcs.asdf", wcs, pixel_scale=0.11)
    grid = grid_from_file(path)
    model = datamodels.ImageModel(np.zeros(grid.shape, np.float32))
    for key, value in reference.items():
        setattr(model.meta.wcsinfo, key, value)
    model.meta.wcs = grid.wcs
    ResampleImage.update_fits_wcsinfo(model)
    mine = grid.fits_wcsinfo(reference)
    assert mine == model.meta.wcsinfo.instance
    assert mine["ctype1"].startswith("RA---TAN") and "ra_ref" not in mine and "pc1_1" not in mine


# -- errors -------------------------------------------------------------------------


def test_absurd_grid_is_refused_before_it_is_built():
    """Inputs 20 degrees apart at 0.03 arcsec/pixel: the guard names the shape, scale and likely cause."""
    exposures = dithered_exposures(((0, 0), (72000, 0)))
    with pytest.raises(ParameterError) as info:
        grid_from_exposures(exposures)
    message = str(info.value)
    assert (
        "max_pixels" in message
        and "ny x nx" in message
        and "arcsec/pixel" in message
        and "pointings are inconsistent" in message
    )
    shape_text = message.split("would be ")[1].split(" (ny x nx)")[0]
    ny, nx = (int(v) for v in shape_text.split(" x "))
    assert ny * nx > 4_000_000_000


def test_size_limit_from_argument_and_environment(monkeypatch):
    exposures = dithered_exposures()
    npix = int(np.prod(grid_from_exposures(exposures).shape))
    with pytest.raises(ParameterError, match="max_pixels"):
        grid_from_exposures(exposures, max_pixels=npix - 1)
    assert grid_from_exposures(exposures, max_pixels=npix).shape[0] > 0
    monkeypatch.setenv("GPUCAL_MAX_OUTPUT_PIXELS", str(npix - 1))
    assert max_output_pixels() == npix - 1
    with pytest.raises(ParameterError, match="GPUCAL_MAX_OUTPUT_PIXELS"):
        grid_from_exposures(exposures)
    monkeypatch.setenv("GPUCAL_MAX_OUTPUT_PIXELS", "lots")
    with pytest.raises(ParameterError, match="GPUCAL_MAX_OUTPUT_PIXELS"):
        max_output_pixels()
    monkeypatch.delenv("GPUCAL_MAX_OUTPUT_PIXELS")
    assert max_output_pixels() == 4_000_000_000


def test_custom_file_size_is_guarded(tmp_path):
    exposures = dithered_exposures()
    path = _write_wcs_file(tmp_path / "w.asdf", grid_from_exposures(exposures).wcs, pixel_scale=0.03)
    with pytest.raises(ParameterError, match="max_pixels"):
        grid_from_file(path, output_shape=(100_000, 100_000))


def test_side_below_two_pixels_is_refused():
    with pytest.raises(ParameterError, match="too small"):
        grid_from_exposures(dithered_exposures(), output_shape=(1, 40))


@pytest.mark.parametrize(
    "options, parameter",
    [
        ({"pixel_scale_ratio": 0.0}, "pixel_scale_ratio"),
        ({"pixel_scale": -0.1}, "pixel_scale"),
        ({"rotation": float("nan")}, "rotation"),
        ({"crpix": (1.0, None)}, "crpix"),
        ({"crval": (1.0, 2.0, 3.0)}, "crval"),
        ({"output_shape": (0, 10)}, "output_shape"),
        ({"output_shape": (10.5, 10)}, "output_shape"),
    ],
)
def test_invalid_parameters_name_the_parameter(options, parameter):
    with pytest.raises(ParameterError, match=parameter):
        grid_from_exposures(dithered_exposures(), **options)


def test_pair_of_nones_means_unset():
    exposures = dithered_exposures()
    assert (
        grid_from_exposures(exposures, crpix=[None, None], crval=(None, None)).shape
        == grid_from_exposures(exposures).shape
    )


def test_missing_s_region_names_the_file():
    exposures = dithered_exposures()
    exposures[1].meta.wcsinfo.s_region = None
    with pytest.raises(InputFileError, match=exposures[1].meta.filename):
        grid_from_exposures(exposures)
    with pytest.raises(ParameterError, match="exposures"):
        grid_from_exposures([])


def test_missing_output_wcs_file(tmp_path):
    missing = tmp_path / "nowhere.asdf"
    with pytest.raises(InputFileError, match="does not exist") as info:
        grid_from_file(missing)
    assert str(missing) in str(info.value)


def test_output_wcs_file_that_is_not_a_wcs(tmp_path):
    import asdf

    not_asdf = tmp_path / "text.asdf"
    not_asdf.write_text("this is not an ASDF file\n")
    with pytest.raises(InputFileError, match="cannot be read as ASDF"):
        grid_from_file(not_asdf)
    no_wcs = tmp_path / "no_wcs.asdf"
    asdf.AsdfFile({"pixel_scale": 0.03}).write_to(no_wcs)
    with pytest.raises(InputFileError, match="no 'wcs' entry"):
        grid_from_file(no_wcs)
    wrong_type = tmp_path / "wrong.asdf"
    asdf.AsdfFile({"wcs": [1, 2, 3]}).write_to(wrong_type)
    with pytest.raises(InputFileError, match="not a gwcs WCS") as info:
        grid_from_file(wrong_type)
    assert str(wrong_type) in str(info.value)


def test_output_wcs_file_without_any_shape(tmp_path):
    wcs = copy.deepcopy(grid_from_exposures(dithered_exposures()).wcs)
    wcs.array_shape = None
    wcs.bounding_box = None
    path = _write_wcs_file(tmp_path / "shapeless.asdf", wcs, pixel_scale=0.03)
    with pytest.raises(InputFileError, match="output_shape"):
        grid_from_file(path)
    assert grid_from_file(path, output_shape=(20, 10)).shape == (10, 20)


def test_output_grid_is_frozen():
    grid = grid_from_exposures(dithered_exposures())
    assert isinstance(grid, OutputGrid)
    with pytest.raises(AttributeError):
        grid.shape = (1, 1)
