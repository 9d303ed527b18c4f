"""Flat, photom and area references: CRDS layout, stdatamodels models, content."""

import warnings

import numpy as np
import pytest

from gpucal import dqflags
from gpucal.errors import ParameterError
from gpucal.sim import make_reference_data, make_reference_files
from gpucal.sim.instruments import filters_for

DNU = dqflags.PIXEL["DO_NOT_USE"]
NO_FLAT = dqflags.PIXEL["NO_FLAT_FIELD"]
REFPIX = dqflags.PIXEL["REFERENCE_PIXEL"]


@pytest.fixture(scope="module")
def datamodels():
    return pytest.importorskip("stdatamodels.jwst.datamodels")


@pytest.fixture(scope="module")
def nircam_refs(tmp_path_factory):
    return make_reference_files(
        tmp_path_factory.mktemp("refs_nrc"), instrument="nircam", detector="nrcalong", filter="f444w"
    )


@pytest.fixture(scope="module")
def miri_refs(tmp_path_factory):
    return make_reference_files(
        tmp_path_factory.mktemp("refs_miri"), instrument="miri", detector="mirimage", filter="f770w"
    )


def _open_strict(model_class, path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = model_class(str(path), strict_validation=True)
        model.validate()
    return model


def test_flat_opens_as_flatmodel_with_flagged_pixels(datamodels, nircam_refs):
    flat = _open_strict(datamodels.FlatModel, nircam_refs["flat"])
    meta = flat.meta
    assert (meta.reftype, meta.instrument.name, meta.instrument.detector) == ("FLAT", "NIRCAM", "NRCALONG")
    assert (meta.instrument.filter, meta.instrument.pupil, meta.subarray.name) == ("F444W", "CLEAR", "FULL")
    assert meta.exposure.type == "NRC_IMAGE"
    from astropy.io import fits

    header = fits.getheader(nircam_refs["flat"])  # CRDS matches on P_ keywords the model does not load
    assert "NRC_IMAGE" in header["P_EXP_TY"] and header["USEAFTER"]
    assert meta.useafter and meta.pedigree and meta.author and meta.description
    assert flat.data.shape == flat.err.shape == flat.dq.shape == (2048, 2048)
    data, dq = flat.data, flat.dq
    assert np.isnan(data).sum() > 0
    assert (data == 0).sum() > 0
    assert ((dq & NO_FLAT) != 0).sum() > 4 * 2048  # border plus scattered pixels
    assert (dq[:4] & (DNU | REFPIX) == DNU | REFPIX).all() and (dq[:, -4:] & REFPIX).all()
    interior = data[4:-4, 4:-4][(dq[4:-4, 4:-4] == 0) & np.isfinite(data[4:-4, 4:-4])]
    assert 0.95 < np.median(interior) < 1.05
    assert 0.005 < np.std(interior) < 0.05  # large- and small-scale structure
    assert {row["NAME"] for row in flat.dq_def} >= {"DO_NOT_USE", "NO_FLAT_FIELD"}


def test_miri_flat_flags_reference_columns(datamodels, miri_refs):
    flat = _open_strict(datamodels.FlatModel, miri_refs["flat"])
    assert flat.data.shape == (1024, 1032)
    assert (flat.dq[:, :4] & REFPIX).all() and (flat.dq[:, -4:] & REFPIX).all()
    assert not (flat.dq[:, 4:-4] & REFPIX).any()


def test_nircam_photom_has_every_filter(datamodels, nircam_refs):
    photom = _open_strict(datamodels.NrcImgPhotomModel, nircam_refs["photom"])
    table = photom.phot_table
    assert photom.meta.reftype == "PHOTOM"
    names = {(f.strip(), p.strip()) for f, p in zip(table["filter"], table["pupil"], strict=True)}
    assert ("F444W", "CLEAR") in names and ("F444W", "F470N") in names and ("F322W2", "F323N") in names
    assert len(table) == len(filters_for(make_reference_data("nircam", "nrcalong", "f444w").detector))
    assert np.all(table["photmjsr"] > 0) and np.all(table["uncertainty"] > 0)
    wide = table["photmjsr"][(table["filter"] == "F444W") & (table["pupil"] == "CLEAR")][0]
    narrow = table["photmjsr"][(table["filter"] == "F444W") & (table["pupil"] == "F470N")][0]
    assert 0.1 < wide < 2.0  # flight NIRCam LW wide filters: ~0.4
    assert narrow > 10 * wide
    assert photom.meta.photometry.pixelarea_steradians == pytest.approx(0.0629**2 / 206264.806**2, rel=0.01)


def test_miri_photom_rows_by_subarray(datamodels, miri_refs):
    photom = _open_strict(datamodels.MirImgPhotomModel, miri_refs["photom"])
    table = photom.phot_table
    subarrays = {s.strip() for s in table["subarray"]}
    assert subarrays >= {"FULL", "SUB128", "SUB64", "SUB256", "BRIGHTSKY", "GENERIC"}
    f770w = table["photmjsr"][(table["filter"] == "F770W") & (table["subarray"] == "FULL")][0]
    assert 0.2 < f770w < 0.5  # flight value ~0.30
    data = make_reference_data("miri", "mirimage", "f770w")
    assert data.photmjsr("FULL") == pytest.approx(f770w, rel=1e-6)
    assert data.photmjsr("SUB128") != data.photmjsr("FULL")


@pytest.mark.parametrize("fixture", ["nircam_refs", "miri_refs"])
def test_area_opens_as_pixelareamodel(datamodels, request, fixture):
    paths = request.getfixturevalue(fixture)
    area = _open_strict(datamodels.PixelAreaModel, paths["area"])
    assert area.meta.reftype == "AREA"
    assert area.meta.photometry.pixelarea_steradians > 0 and area.meta.photometry.pixelarea_arcsecsq > 0
    assert area.meta.photometry.pixelarea_steradians == pytest.approx(
        area.meta.photometry.pixelarea_arcsecsq / 206264.806**2
    )
    assert 0.9 < area.data.min() < area.data.max() < 1.1
    assert area.data.std() > 1e-3  # the distortion makes areas vary


def test_area_is_the_distortion_jacobian():
    data = make_reference_data("nircam", "nrcb3", "f090w")
    model = data.distortion
    for x, y in ((10.0, 10.0), (1023.0, 1500.0), (2040.0, 37.0)):
        (v2a, v3a), (v2b, v3b), (v2c, v3c) = model(x - 0.5, y), model(x + 0.5, y), model(x, y + 0.5)
        v2d, v3d = model(x, y - 0.5)
        jac = abs((v2b - v2a) * (v3c - v3d) - (v2c - v2d) * (v3b - v3a))
        assert data.area[int(y), int(x)] == pytest.approx(jac / data.pixar_a2, rel=2e-4)


def test_reference_data_are_deterministic_and_filter_specific():
    a = make_reference_data("nircam", "nrca1", "f200w")
    b = make_reference_data("nircam", "nrca1", "F200W")
    assert a is b  # cached
    c = make_reference_data("nircam", "nrca1", "f150w")
    assert not np.array_equal(a.flat, c.flat, equal_nan=True)
    np.testing.assert_array_equal(a.flat_dq, c.flat_dq)  # bad pixels belong to the detector


def test_reference_files_are_identical_across_runs(tmp_path):
    from astropy.io import fits

    first = make_reference_files(tmp_path / "a", instrument="miri", detector="mirimage", filter="f1500w")
    second = make_reference_files(tmp_path / "b", instrument="miri", detector="mirimage", filter="f1500w")
    for reftype in ("flat", "area"):
        with fits.open(first[reftype]) as one, fits.open(second[reftype]) as two:
            np.testing.assert_array_equal(one["SCI"].data, two["SCI"].data)


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"instrument": "wfc3"}, "instrument"),
        ({"detector": "nrca9"}, "detector"),
        ({"detector": "mirimage"}, "detector"),
        ({"filter": "f444w"}, "filter"),  # LW filter on a SW detector
        ({"filter": "f770w"}, "filter"),
    ],
)
def test_bad_options_raise_parameter_error(tmp_path, kwargs, option):
    with pytest.raises(ParameterError, match=option):
        make_reference_files(tmp_path, **kwargs)


@pytest.mark.parametrize("fixture", ["nircam_sim", "miri_sim"])
def test_references_fit_their_exposures_as_crds_would_select_them(request, fixture):
    """Every simulated reference passes gpucal's CRDS checks for the simulated exposures, and a local
    folder of them selects each one (the MIRI flat used to say SUBARRAY=FULL only, refused for SUB128)."""
    import pathlib

    from gpucal.io.exposure import read_exposure
    from gpucal.io.refs import ReferenceSelector, check_reference

    sim = request.getfixturevalue(fixture)
    folder = pathlib.Path(sim.references["flat"]).parent
    for product in (*sim.science, *sim.background):
        meta = read_exposure(product).meta
        selector = ReferenceSelector(ref_dir=folder, use_crds=False)
        for reftype, path in sim.references.items():
            check_reference(reftype, path, meta, source=product)
            assert pathlib.Path(selector.select(reftype, meta)).resolve() == pathlib.Path(path).resolve(), reftype
