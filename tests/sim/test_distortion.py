"""SIAF apertures and the distortion / filteroffset references against pysiaf and flight files."""

import warnings

import numpy as np
import pytest

from gpucal.errors import ParameterError
from gpucal.sim import make_reference_files
from gpucal.sim.distortion import distortion_model
from gpucal.sim.instruments import choose_subarray, detector_spec
from gpucal.sim.siaf import siaf_aperture

NIRCAM_DETECTORS = [f"NRC{m}{i}" for m in "AB" for i in range(1, 6)]


@pytest.fixture(scope="module")
def pysiaf():
    return pytest.importorskip("pysiaf")


@pytest.fixture(scope="module")
def datamodels():
    return pytest.importorskip("stdatamodels.jwst.datamodels")


def _grid(aperture, n=7):
    nx, ny = aperture.sci_size
    x, y = np.meshgrid(np.linspace(0, nx - 1, n), np.linspace(0, ny - 1, n))
    return x.ravel(), y.ravel()


@pytest.mark.parametrize("name", [f"{d}_FULL" for d in NIRCAM_DETECTORS] + ["MIRIM_FULL"])
def test_distortion_matches_pysiaf(pysiaf, name):
    instrument = "miri" if name.startswith("MIRI") else "nircam"
    aperture = siaf_aperture(instrument, name)
    reference = pysiaf.Siaf(instrument)[name]
    ours = {
        "V2Ref": aperture.v2_ref, "V3Ref": aperture.v3_ref, "V3IdlYAngle": aperture.v3_idl_yangle,
        "VIdlParity": aperture.vidl_parity, "XSciRef": aperture.sci_ref[0], "YSciRef": aperture.sci_ref[1],
    }  # fmt: skip
    for attr, value in ours.items():
        assert value == pytest.approx(getattr(reference, attr)), attr
    x, y = _grid(aperture)
    v2, v3 = distortion_model(aperture)(x, y)
    v2_ref, v3_ref = reference.sci_to_tel(x + 1, y + 1)
    assert np.max(np.hypot(v2 - v2_ref, v3 - v3_ref)) < 0.003  # arcsec


@pytest.mark.parametrize("name", [f"{d}_FULL" for d in NIRCAM_DETECTORS] + ["MIRIM_FULL"])
def test_inverse_is_the_siaf_inverse(pysiaf, name):
    instrument = "miri" if name.startswith("MIRI") else "nircam"
    aperture = siaf_aperture(instrument, name)
    model = distortion_model(aperture)
    x, y = _grid(aperture, 9)
    v2, v3 = model(x, y)
    xb, yb = model.inverse(v2, v3)
    x_ref, y_ref = pysiaf.Siaf(instrument)[name].tel_to_sci(v2, v3)
    np.testing.assert_allclose(xb + 1, x_ref, atol=1e-6)
    np.testing.assert_allclose(yb + 1, y_ref, atol=1e-6)


@pytest.mark.parametrize("name", [f"{d}_FULL" for d in NIRCAM_DETECTORS])
def test_nircam_inverse_round_trips(name):
    model = distortion_model(siaf_aperture("nircam", name))
    x, y = _grid(siaf_aperture("nircam", name), 15)
    xb, yb = model.inverse(*model(x, y))
    # The SIAF's own Idl2Sci polynomials (PRDOPSSOC-075) round-trip to 0.14 pixel at worst
    # (NRCA2/NRCA3 edges) and to < 0.01 pixel on most detectors; the model inherits exactly that.
    assert np.max(np.hypot(xb - x, yb - y)) < 0.15


def test_miri_inverse_round_trips_over_the_imager_field():
    aperture = siaf_aperture("miri", "MIRIM_FULL")
    model = distortion_model(aperture)
    # The illuminated imager field (MIRIM_ILLUM) spans science columns 360-1027.
    x, y = np.meshgrid(np.linspace(360, 1020, 12), np.linspace(0, 1023, 12))
    xb, yb = model.inverse(*model(x.ravel(), y.ravel()))
    assert np.max(np.hypot(xb - x.ravel(), yb - y.ravel())) < 0.2


@pytest.mark.parametrize(("detector", "size"), [("nrca1", 160), ("nrca3", 64), ("nrcb1", 400), ("nrcalong", 640)])
def test_subarray_placement_matches_pysiaf(pysiaf, detector, size):
    det = detector_spec("nircam", detector)
    sub = choose_subarray(det, size)
    assert sub.name.startswith("SUB")
    sub_ap = pysiaf.Siaf("nircam")[sub.aperture]
    full_ap = pysiaf.Siaf("nircam")[f"{det.siaf_prefix}_FULL"]
    for xs, ys in ((1, 1), (sub.xsize, sub.ysize)):
        a = np.array(sub_ap.sci_to_tel(xs, ys))
        b = np.array(full_ap.sci_to_tel(sub.xstart + xs - 1, sub.ystart + ys - 1))
        assert np.hypot(*(a - b)) < 0.01


def test_miri_sub128_placement_matches_flight_header():
    # A flight MIRI SUB128 header has SUBSTRT1=1, SUBSTRT2=891, SUBSIZE 136 x 128.
    sub = choose_subarray(detector_spec("miri", "mirimage"), 128)
    assert (sub.name, sub.xstart, sub.ystart, sub.xsize, sub.ysize) == ("SUB128", 1, 891, 136, 128)


def test_det_to_sci_matches_pysiaf(pysiaf):
    for name in ("NRCA2_FULL", "NRCB1_FULL", "MIRIM_FULL"):
        instrument = "miri" if name.startswith("MIRI") else "nircam"
        ours = siaf_aperture(instrument, name)
        theirs = pysiaf.Siaf(instrument)[name]
        np.testing.assert_allclose(ours.det_to_sci(100.0, 1500.0), theirs.det_to_sci(100.0, 1500.0))
        np.testing.assert_allclose(ours.sci_to_det(*ours.det_to_sci(100.0, 1500.0)), (100.0, 1500.0))


def test_fast_and_slow_axes():
    assert siaf_aperture("nircam", "NRCA1_FULL").fast_slow_axes == (-1, 2)
    assert siaf_aperture("nircam", "NRCA2_FULL").fast_slow_axes == (1, -2)
    assert siaf_aperture("miri", "MIRIM_FULL").fast_slow_axes == (1, 2)


def test_unknown_aperture_raises():
    with pytest.raises(ParameterError, match="detector"):
        siaf_aperture("nircam", "NRCA9_FULL")


@pytest.mark.parametrize(
    ("instrument", "detector", "filt"), [("nircam", "nrcb2", "f150w"), ("miri", "mirimage", "f1130w")]
)
def test_written_references_open_as_wcs_reference_models(tmp_path, datamodels, instrument, detector, filt):
    paths = make_reference_files(tmp_path, instrument=instrument, detector=detector, filter=filt)
    aperture = detector_spec(instrument, detector).full_aperture
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dist = datamodels.DistortionModel(str(paths["distortion"]), strict_validation=True)
        dist.validate()
        offsets = datamodels.FilteroffsetModel(str(paths["filteroffset"]), strict_validation=True)
        offsets.validate()
    assert dist.meta.reftype == "distortion"
    assert dist.meta.instrument.detector == detector_spec(instrument, detector).detector
    assert str(dist.meta.output_units) == "arcsec"
    x, y = _grid(aperture, 5)
    np.testing.assert_allclose(dist.model(x, y), distortion_model(aperture)(x, y), rtol=0, atol=1e-9)
    np.testing.assert_allclose(dist.model.inverse(*dist.model(x, y)), (x, y), atol=0.3)
    rows = [{"filter": r.filter, "column_offset": r.column_offset, "row_offset": r.row_offset} for r in offsets.filters]
    assert {r["filter"] for r in rows} >= {filt.upper()}
    assert any(r["column_offset"] != 0 or r["row_offset"] != 0 for r in rows)
    assert any(r["column_offset"] == 0 and r["row_offset"] == 0 for r in rows)
    assert all(abs(r["column_offset"]) <= 0.3 and abs(r["row_offset"]) <= 0.3 for r in rows)


def test_miri_distortion_agrees_with_flight_reference(real_data):
    asdf = pytest.importorskip("asdf")
    with asdf.open(real_data / "jwst_miri_imager_distortion_flt9.asdf") as af:
        flight = af["model"]
        x, y = np.meshgrid(np.linspace(380, 1020, 6), np.linspace(20, 1000, 6))
        v2_flight, v3_flight = flight(x.ravel(), y.ravel())
    v2, v3 = distortion_model(siaf_aperture("miri", "MIRIM_FULL"))(x.ravel(), y.ravel())
    # Two independent calibrations of the same optics (flight FLT9 vs PRD SIAF).
    assert np.max(np.hypot(v2 - v2_flight, v3 - v3_flight)) < 0.1


def test_nircam_distortion_agrees_with_flight_wcs(real_data):
    asdf = pytest.importorskip("asdf")
    pytest.importorskip("gwcs")
    with asdf.open(real_data / "nrcb1-wcs.asdf") as af:
        flight = af["wcs"].get_transform("detector", "v2v3")
        # The flight transform starts with its exposure's filter offset (Shift & Shift); drop it.
        x, y = np.meshgrid(np.linspace(0, 2047, 5), np.linspace(0, 2047, 5))
        offset_x, offset_y = flight[0].offset.value, flight[1].offset.value
        v2_flight, v3_flight = flight(x.ravel() - offset_x, y.ravel() - offset_y, with_bounding_box=False)
    v2, v3 = distortion_model(siaf_aperture("nircam", "NRCB1_FULL"))(x.ravel(), y.ravel())
    dv2, dv3 = v2 - v2_flight, v3 - v3_flight
    # A 2022 flight solution against PRDOPSSOC-075: ~55 mas apart in boresight, the same distortion.
    assert np.max(np.hypot(dv2, dv3)) < 0.1
    assert np.max(np.hypot(dv2 - dv2.mean(), dv3 - dv3.mean())) < 0.01
