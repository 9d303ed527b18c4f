"""The simulator's NIRSpec imaging modes: optical-model references, exposures, and jwst 3.0's WCS from them."""

import math
import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from gpucal.errors import ParameterError
from gpucal.io.exposure import write_exposure
from gpucal.sim import choose_subarray, detector_spec, make_exposure, make_reference_data, make_reference_files
from gpucal.sim import nirspec as optics
from gpucal.sim.instruments import IMAGE2_EXP_TYPES, filters_for, readout_for
from gpucal.sim.modes import MODE_DEFAULTS, simulate_mode
from gpucal.sim.nirspec_refs import exposure_wcs, optics_distortion
from gpucal.sim.scene import Scene, sky_offsets
from gpucal.sim.siaf import siaf_aperture

NIRSPEC_TYPES = IMAGE2_EXP_TYPES["nirspec"]
OPTICS = ("disperser", "collimator", "fore", "fpa", "camera", "ote", "wavelengthrange")


def _empty_scene():
    return Scene(*(np.zeros(0) for _ in range(2)), np.zeros(0, dtype=str), *(np.zeros(0) for _ in range(5)))


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """The NRS2 / F110W reference set (the optics files serve both detectors)."""
    return make_reference_files(tmp_path_factory.mktemp("nrs_refs"), instrument="nirspec", detector="nrs2",
                                filter="f110w")  # fmt: skip


def _read_asdf(path):
    import asdf

    with asdf.open(path, lazy_load=False, memmap=False) as af:
        return dict(af.tree)


def test_detectors_filters_subarrays_and_readout():
    nrs1, nrs2 = detector_spec("nirspec", "nrs1"), detector_spec("nirspec", "nrs2")
    assert (nrs1.detector, nrs1.sca_num, nrs2.sca_num, nrs1.exp_type) == ("NRS1", 491, 492, "NRS_IMAGE")
    assert nrs1.full_aperture.name == "NRS1_FULL" and nrs2.full_aperture.det_sci_yangle == 180.0
    assert [(f.filter, f.pupil, f.label) for f in filters_for(nrs1)] == [
        ("F110W", "N/A", "f110w"), ("F140X", "N/A", "f140x"), ("CLEAR", "N/A", "clear"),
    ]  # fmt: skip
    sub = choose_subarray(nrs1, 64)
    assert (sub.name, sub.xstart, sub.ystart, sub.shape) == ("GENERIC", 993, 993, (64, 64))
    assert choose_subarray(nrs2, 2048).is_full
    assert readout_for(nrs1, sub).pattern == "NRSRAPID" and readout_for(nrs1, choose_subarray(nrs1, 2048)).ngroups == 6
    # NRS2 is read rotated by 180 degrees: its DMS frame runs against the detector's fast and slow axes.
    assert siaf_aperture("nirspec", "NRS1_FULL").readout_axes("y") == (2, 1)
    assert siaf_aperture("nirspec", "NRS2_FULL").readout_axes("y") == (-2, -1)
    with pytest.raises(ParameterError, match="filter"):
        make_reference_data("nirspec", "nrs1", "f200w")
    with pytest.raises(ParameterError, match="gwa"):
        make_exposure(size=32, scene=_empty_scene(), gwa=optics.GwaReadings(0.3, 0.1))


def test_references_are_the_optics_and_a_flat_with_crds_meta(references):
    assert set(references) == {"flat", *OPTICS}  # no photom, area, distortion: CRDS has none for these modes
    imaging_types = "|".join(NIRSPEC_TYPES) + "|"
    for reftype in OPTICS:
        meta = _read_asdf(references[reftype])["meta"]
        assert (meta["reftype"], meta["instrument"]["name"], meta["instrument"]["p_detector"]) == (
            reftype, "NIRSPEC", "NRS1|NRS2|",
        )  # fmt: skip
        assert meta["exposure"]["p_exptype"] == imaging_types
        assert all(meta[key] for key in ("pedigree", "useafter", "author", "description"))
    assert _read_asdf(references["disperser"])["meta"]["instrument"]["grating"] == "MIRROR"
    assert _read_asdf(references["fore"])["meta"]["instrument"]["filter"] == "F110W"
    header = fits.getheader(references["flat"])
    assert (header["REFTYPE"], header["INSTRUME"], header["DETECTOR"], header["FILTER"]) == (
        "FLAT", "NIRSPEC", "NRS2", "F110W",
    )  # fmt: skip
    assert header["P_EXP_TY"] == imaging_types and "PUPIL" not in header
    with fits.open(references["flat"]) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "ERR", "DQ", "DQ_DEF"]
        assert hdul["SCI"].data.shape == (2048, 2048)


def test_stdatamodels_validates_every_reference(references):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    classes = {
        "disperser": datamodels.DisperserModel, "collimator": datamodels.CollimatorModel,
        "fore": datamodels.FOREModel, "fpa": datamodels.FPAModel, "camera": datamodels.CameraModel,
        "ote": datamodels.OTEModel, "wavelengthrange": datamodels.WavelengthrangeModel, "flat": datamodels.FlatModel,
    }  # fmt: skip
    for reftype, model_class in classes.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model = model_class(str(references[reftype]), strict_validation=True)
            model.validate()
        model.close()


def test_every_model_inverts_back(references):
    fpa = _read_asdf(references["fpa"])
    pixels = np.meshgrid(np.linspace(-0.5, 2047.5, 41), np.linspace(-0.5, 2047.5, 41))
    for name in ("nrs1_model", "nrs2_model"):
        x, y = fpa[name].inverse(*fpa[name](*pixels))
        np.testing.assert_allclose((x, y), pixels, rtol=0, atol=1e-9)
    # The camera's inverse is a fitted polynomial: good to 1e-4 pixel over both detectors.
    camera = _read_asdf(references["camera"])["model"]
    for name in ("nrs1_model", "nrs2_model"):
        plane = fpa[name](*pixels)
        back = camera.inverse(*camera(*plane))
        assert np.abs(np.subtract(back, plane)).max() / optics.PIXEL_PITCH_M < 1e-4
    collimator = _read_asdf(references["collimator"])["model"]
    tangents = np.meshgrid(np.linspace(-0.25, 0.25, 11), np.linspace(-0.12, 0.12, 11))
    np.testing.assert_allclose(collimator.inverse(*collimator(*tangents)), tangents, rtol=0, atol=1e-15)
    # The fore optics ignore the wavelength, and their inverse its third input (jwst passes x there).
    fore = _read_asdf(references["fore"])["model"]
    msa = np.meshgrid(np.linspace(-0.05, 0.05, 11), np.linspace(-0.03, 0.03, 11))
    ote = fore(*msa, 1.135e-6)
    np.testing.assert_array_equal(ote, fore(*msa, 4e-6))
    np.testing.assert_allclose(fore.inverse(*ote, ote[0]), msa, rtol=0, atol=1e-15)
    np.testing.assert_allclose(fore.inverse(*ote, 7.0), msa, rtol=0, atol=1e-15)
    telescope = _read_asdf(references["ote"])["model"]
    np.testing.assert_allclose(telescope.inverse(*telescope(*ote)), ote, rtol=0, atol=1e-13)
    ranges = _read_asdf(references["wavelengthrange"])
    assert {"F110W_MIRROR", "F140X_MIRROR", "CLEAR_MIRROR", "F070LP_G140M"} <= set(ranges["waverange_selector"])
    assert ranges["meta"]["wavelength_units"] == "m"


@pytest.mark.parametrize("name", ["nrs1", "nrs2"])
def test_detector_centres_land_on_their_siaf_reference_points(name):
    det = detector_spec("nirspec", name)
    to_v2v3 = optics_distortion(det, filters_for(det)[0])
    aperture = det.full_aperture
    centre = np.array([1023.5])
    v2, v3 = (float(v[0]) for v in to_v2v3(centre, centre))
    assert math.hypot(v2 - aperture.v2_ref, v3 - aperture.v3_ref) < 0.05  # arcsec
    # The DMS y axis lies at the SIAF's V3IdlYAngle, and the pixels have the SIAF's scales.
    up = [float(v[0]) for v in to_v2v3(centre, centre + 1)]
    right = [float(v[0]) for v in to_v2v3(centre + 1, centre)]
    angle = math.degrees(math.atan2(up[0] - v2, up[1] - v3))
    assert angle % 360 == pytest.approx(aperture.v3_idl_yangle, abs=0.01)
    assert math.hypot(right[0] - v2, right[1] - v3) == pytest.approx(aperture.sci_scale[0], rel=1e-3)
    assert math.hypot(up[0] - v2, up[1] - v3) == pytest.approx(aperture.sci_scale[1], rel=1e-3)


def test_the_detectors_sit_side_by_side_with_a_gap():
    nrs1, nrs2 = detector_spec("nirspec", "nrs1"), detector_spec("nirspec", "nrs2")
    left, right = optics_distortion(nrs1, filters_for(nrs1)[0]), optics_distortion(nrs2, filters_for(nrs2)[0])
    # Along the ideal x axis of NRS1 (DMS x), NRS2's first column follows NRS1's last one after a gap.
    angle = math.radians(nrs1.full_aperture.v3_idl_yangle)
    x_axis = np.array([math.cos(angle), -math.sin(angle)]) * nrs1.full_aperture.vidl_parity
    end_of_nrs1 = np.dot(np.ravel(left(2047.5, 1023.5)), x_axis)
    start_of_nrs2 = np.dot(np.ravel(right(-0.5, 1023.5)), x_axis)
    gap_pixels = (start_of_nrs2 - end_of_nrs1) / nrs1.full_aperture.sci_scale[0]
    assert 100 < gap_pixels < 200


def test_gwa_tilt_readings_shift_the_image_slightly():
    det = detector_spec("nirspec", "nrs1")
    spec = filters_for(det)[0]
    reference = make_reference_data("nirspec", "nrs1", "f110w")
    sub = choose_subarray(det, 64)
    sim = make_exposure(reference=reference, size=64, seed=8, scene=_empty_scene())
    calibration = exposure_wcs(det, spec, sub, sim.true_pointing, None)
    moved = np.hypot(*sky_offsets(*sim.wcs(31.5, 31.5), *calibration(31.5, 31.5)))
    assert sim.gwa.xtilt != optics.GWA_TILT_SENSORS["gwa_tiltx"][1]
    assert 0.001 < moved < 1.0  # arcsec: from a hundredth of a pixel to a few pixels


def test_simulated_flux_is_dn_per_second():
    reference = make_reference_data("nirspec", "nrs1", "f110w")
    sim0 = make_exposure(reference=reference, size=64, seed=4, scene=_empty_scene())
    ra, dec = sim0.wcs.forward_transform(31.3, 32.2)
    star = Scene(np.array([ra]), np.array([dec]), np.array(["star"]), np.array([1e-5]),
                 *(np.zeros(1) for _ in range(4)))  # fmt: skip
    sim = make_exposure(reference=reference, size=64, seed=4, scene=star, pointing=sim0.true_pointing, gwa=sim0.gwa)
    assert sim.gwa == sim0.gwa and (sim.x[0], sim.y[0]) == pytest.approx((31.3, 32.2), abs=1e-6)
    qe = reference.quantum_efficiency()[choose_subarray(reference.detector, 64).slices]
    source = (sim.expected - sim0.expected) / qe
    dn_per_jy = 1.0 / (reference.photmjsr() * 1e6 * reference.pixar_sr)
    assert source.sum() / dn_per_jy == pytest.approx(1e-5, rel=0.01)
    # The flat is the QE alone: no pixel-area factor in NIRSpec's flat.
    good = (reference.flat_dq == 0) & np.isfinite(reference.flat) & (reference.flat != 0)
    np.testing.assert_array_equal(reference.quantum_efficiency()[good], reference.flat[good])


@pytest.mark.parametrize("exp_type", NIRSPEC_TYPES)
def test_simulate_mode_makes_every_nirspec_imaging_type(tmp_path, exp_type):
    result = simulate_mode(tmp_path, exp_type, seed=6)
    defaults = MODE_DEFAULTS[exp_type]
    assert set(result.references) == {"flat", *OPTICS}
    header = fits.getheader(result.science[0])
    assert (header["INSTRUME"], header["EXP_TYPE"], header["DETECTOR"], header["GRATING"]) == (
        "NIRSPEC", exp_type, defaults.detector.upper(), "MIRROR",
    )  # fmt: skip
    assert (header["FILTER"], header["SUBSIZE2"], header["READPATT"]) == (defaults.filter.upper(), defaults.size,
                                                                         "NRSRAPID")  # fmt: skip
    assert (header["LAMP"], header["OPMODE"], header["FXD_SLIT"]) == ("NONE", "IMAGE", "NONE")
    assert abs(header["GWA_XTIL"] - 0.3346) < 0.05 and abs(header["GWA_YTIL"] - 0.1385) < 0.05
    assert fits.getheader(result.science[0], "SCI")["BUNIT"] == "DN/s"


def test_jwst_builds_the_simulators_wcs_from_these_files(tmp_path, references):
    pytest.importorskip("jwst")
    from gwcs import WCS
    from jwst.assign_wcs.nirspec import imaging
    from stdatamodels.jwst import datamodels

    sim = make_exposure(instrument="nirspec", detector="nrs2", filter="f110w", size=64, seed=3)
    path = write_exposure(sim.rate, tmp_path / "nrs2_rate.fits")
    with datamodels.ImageModel(str(path)) as model:
        model.validate()
        jwst_wcs = WCS(imaging(model, {reftype: str(p) for reftype, p in references.items()}))
        assert (model.meta.wcsinfo.spectral_order, model.meta.wcsinfo.waverange_start) == (0, 1.0e-6)
        model.meta.instrument.gwa_xtilt = optics.GWA_TILT_SENSORS["gwa_tiltx"][1]
        model.meta.instrument.gwa_ytilt = optics.GWA_TILT_SENSORS["gwa_tilty"][1]
        untilted = WCS(imaging(model, {reftype: str(p) for reftype, p in references.items()}))
    y, x = np.mgrid[-0.5:64:7.0, -0.5:64:7.0]
    ra, dec = jwst_wcs(x, y)
    ra_sim, dec_sim = sim.wcs(x, y)
    assert np.abs(ra - ra_sim).max() < 1e-9 and np.abs(dec - dec_sim).max() < 1e-9
    # jwst's correct_tilt makes a difference with the exposure's readings (a small one).
    shift = np.abs(np.subtract(untilted(x, y), (ra, dec))).max() * 3600
    assert 0.001 < shift < 1.0
    # And the truth positions of the scene are where jwst's WCS puts the sources.
    inside = (sim.x > 0) & (sim.x < 63) & (sim.y > 0) & (sim.y < 63)
    assert inside.any()
    x_jwst, y_jwst = jwst_wcs.invert(*sim.wcs(sim.x[inside], sim.y[inside]))
    np.testing.assert_allclose((x_jwst, y_jwst), (sim.x[inside], sim.y[inside]), atol=1e-3)


def test_cli_simulates_nirspec(tmp_path):
    from gpucal.cli import main

    args = ["--exposures", "1", "--backgrounds", "0", "--seed", "3"]
    assert main(["simulate", str(tmp_path / "tacq"), "--instrument", "nirspec", "--exp-type", "NRS_TACQ", *args]) == 0
    (rate,) = sorted((tmp_path / "tacq").glob("*_rate.fits"))
    header = fits.getheader(rate)
    assert (header["EXP_TYPE"], header["DETECTOR"], header["FILTER"]) == ("NRS_TACQ", "NRS1", "F110W")
    assert main(["simulate", str(tmp_path / "image"), "--instrument", "nirspec", "--detector", "nrs2", "--filter",
                 "clear", "--size", "32", *args]) == 0  # fmt: skip
    (rate,) = sorted((tmp_path / "image").glob("*_nrs2_rate.fits"))
    assert sorted(p.name for p in (tmp_path / "image").glob("*_asn.json")) == ["jw00001-o001_image2_00001_asn.json"]
    header = fits.getheader(rate)
    assert (header["EXP_TYPE"], header["DETECTOR"], header["FILTER"], header["SUBSIZE1"]) == (
        "NRS_IMAGE", "NRS2", "CLEAR", 32,
    )  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "image" / "references").iterdir()) == sorted([
        "gpucal_sim_nirspec_nrs2_clear_flat.fits", "gpucal_sim_nirspec_mirror_disperser.asdf",
        "gpucal_sim_nirspec_collimator.asdf", "gpucal_sim_nirspec_clear_fore.asdf", "gpucal_sim_nirspec_fpa.asdf",
        "gpucal_sim_nirspec_camera.asdf", "gpucal_sim_nirspec_ote.asdf", "gpucal_sim_nirspec_wavelengthrange.asdf",
    ])  # fmt: skip


@pytest.mark.parity
def test_jwst_image2_calibrates_a_simulated_nirspec_exposure(tmp_path):
    pytest.importorskip("jwst")
    from stdatamodels.jwst import datamodels

    from gpucal.sim import simulate
    from tests.jwst_offline import ASSIGN_WCS_NOT_APPLICABLE, run_pipeline

    result = simulate(tmp_path / "sim", instrument="nirspec", detector="nrs2", size=64, exposures=1, backgrounds=0,
                      seed=2)  # fmt: skip
    refs = {reftype: str(path.resolve()) for reftype, path in result.references.items()}
    not_applicable = {"distortion", "filteroffset", *ASSIGN_WCS_NOT_APPLICABLE} - set(OPTICS)
    assign_wcs = {f"override_{r}": refs[r] if r in OPTICS else "N/A" for r in (*OPTICS, *not_applicable)}
    options = {
        "bkg_subtract": {"override_bkg": "N/A", "override_wavelengthrange": "N/A"},
        "assign_wcs": assign_wcs,
        "flat_field": {"override_flat": refs["flat"], **{f"override_{r}": "N/A" for r in ("fflat", "sflat", "dflat")}},
        "photom": {"override_photom": "N/A", "override_area": "N/A"},
    }  # fmt: skip
    run = run_pipeline("Image2Pipeline", result.image2_asn[0], tmp_path / "out", options)
    assert run.returncode == 0, run.log[-4000:]
    (cal_path,) = run.products("cal")
    with datamodels.open(str(cal_path)) as cal:
        steps = cal.meta.cal_step
        assert (steps.assign_wcs, steps.flat_field, steps.photom) == ("COMPLETE", "COMPLETE", "SKIPPED")
        assert cal.meta.bunit_data == "DN/s"
        # jwst's WCS puts the truth sources where the simulator drew them (header pointing error aside).
        truth = Table.read(result.truth_catalog)
        root = result.science[0].name.removesuffix("_rate.fits")
        ra, dec = cal.meta.wcs(np.array(truth[f"x_{root}"]), np.array(truth[f"y_{root}"]), with_bounding_box=False)
        offsets = np.hypot(*sky_offsets(ra, dec, truth["ra"], truth["dec"]))
        assert np.median(offsets) < 0.2  # arcsec: the 0.10-0.15" header pointing error
