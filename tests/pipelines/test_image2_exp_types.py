"""image2 per EXP_TYPE: which types are calibrated, refused (exit 4, naming the file), resampled; NIRISS/FGS photom."""

import json
import pathlib

import numpy as np
import pytest
from astropy.io import fits

from gpucal.errors import InputFileError, ReferenceFileError
from gpucal.io.meta import Node
from gpucal.pipelines.image2 import Image2Pipeline
from gpucal.pipelines.image2.exp_types import (
    IMAGE2_EXP_TYPES,
    IMAGING_WCS_EXP_TYPES,
    NIRSPEC_IMAGING_EXP_TYPES,
    RESAMPLED_EXP_TYPES,
    SPECTROSCOPIC_EXP_TYPES,
    check_image2_exp_type,
)
from gpucal.pipelines.image2.photom import photom_row
from tests.factories import write_reference_files, write_small_rate


def _meta(exp_type, instrument="NIRCAM"):
    return Node({"exposure": {"type": exp_type}, "instrument": {"name": instrument}})


def test_the_official_table_is_calibrated_and_everything_else_refused():
    table = {
        "NIRCAM": ("NRC_IMAGE", "NRC_TSIMAGE", "NRC_CORON", "NRC_TACQ", "NRC_TACONFIRM", "NRC_FOCUS"),
        "MIRI": ("MIR_IMAGE", "MIR_LYOT", "MIR_4QPM", "MIR_CORONCAL", "MIR_TACQ", "MIR_TACONFIRM"),
        "NIRISS": ("NIS_IMAGE", "NIS_AMI", "NIS_TACQ", "NIS_TACONFIRM", "NIS_FOCUS"),
        "FGS": ("FGS_IMAGE", "FGS_FOCUS"),
    }
    nirspec = ("NRS_TACQ", "NRS_TASLIT", "NRS_TACONFIRM", "NRS_CONFIRM", "NRS_FOCUS", "NRS_IMAGE", "NRS_MIMF",
               "NRS_WATA", "NRS_MSATA", "NRS_VERIFY")  # fmt: skip
    for instrument, types in (*table.items(), ("NIRSPEC", nirspec)):
        for exp_type in types:
            assert check_image2_exp_type(_meta(exp_type.lower(), instrument), "x.fits") == exp_type
    assert set(IMAGING_WCS_EXP_TYPES) == {t for types in table.values() for t in types}
    assert set(NIRSPEC_IMAGING_EXP_TYPES) == set(nirspec)
    assert set(IMAGE2_EXP_TYPES) == set(IMAGING_WCS_EXP_TYPES) | set(nirspec)
    assert set(RESAMPLED_EXP_TYPES) == {"NRC_IMAGE", "MIR_IMAGE", "NIS_IMAGE", "FGS_IMAGE"}


@pytest.mark.parametrize(
    ("exp_type", "instrument", "says"),
    [
        ("NRC_WFSS", "NIRCAM", "spectroscopic mode: calibrate it with calwebb_spec2"),
        ("NIS_SOSS", "NIRISS", "spectroscopic mode"),
        ("NRS_IFU", "NIRSPEC", "spectroscopic mode"),
        ("NRS_IMAGE", "NIRCAM", "NIRSPEC exposure type but INSTRUME is NIRCAM"),
        ("NRS_DARK", "NIRSPEC", "not an imaging exposure type"),
        ("NRC_DARK", "NIRCAM", "not an imaging exposure type calwebb_image2 calibrates"),
        ("FGS_FINEGUIDE", "FGS", "not an imaging exposure type"),
        ("NIS_IMAGE", "NIRCAM", "NIRISS exposure type but INSTRUME is NIRCAM"),
        ("", "NIRCAM", "EXP_TYPE \\(missing\\)"),
    ],
)
def test_refused_types_name_the_file_and_the_type(exp_type, instrument, says):
    with pytest.raises(InputFileError, match=says) as info:
        check_image2_exp_type(_meta(exp_type, instrument), "/data/jw_x_rate.fits")
    assert info.value.exit_code == 4
    assert str(info.value).startswith("/data/jw_x_rate.fits: EXP_TYPE ")
    assert set(SPECTROSCOPIC_EXP_TYPES).isdisjoint(IMAGE2_EXP_TYPES)


def test_nirspec_imaging_without_its_optics_references_is_exit_5_naming_the_type(tmp_path, capsys):
    """A NIRSpec imaging exposure is calibrated; without the optical-model references it stops with exit 5."""
    from gpucal.cli import main

    rate = write_small_rate(
        tmp_path, **{"exposure.type": "NRS_IMAGE", "instrument.name": "NIRSPEC", "instrument.detector": "NRS1"}
    )
    args = ["image2", str(rate), "--device", "cpu", "--output-dir", str(tmp_path / "out")]
    assert main([*args, "--steps.assign_wcs.override_disperser=N/A"]) == 5
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.startswith("gpucal: error:")]
    assert str(rate) in line and "no disperser reference" in line and "collimator" in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_refused_type_stops_before_background_subtraction(tmp_path, steps):
    """The check runs before any step: a WFSS exposure with backgrounds is exit 4, not bkg_subtract's error."""
    science = write_small_rate(tmp_path, **{"exposure.type": "NRC_WFSS"})
    background = write_small_rate(tmp_path, name="jw01345002001_02101_00001_nrca1_rate.fits", seed=3)
    asn = tmp_path / "x_asn.json"
    members = [{"expname": science.name, "exptype": "science"}, {"expname": background.name, "exptype": "background"}]
    asn.write_text(json.dumps({"asn_type": "image2", "products": [{"name": "x", "members": members}]}))
    with pytest.raises(InputFileError, match=rf"{science}: EXP_TYPE NRC_WFSS is a spectroscopic mode"):
        Image2Pipeline.call(str(asn), steps=steps, device="cpu", output_dir=str(tmp_path / "out"))


def _table(columns):
    names = list(columns)
    return np.rec.fromarrays([np.asarray(columns[n]) for n in names], names=names)


def test_photom_rows_per_instrument():
    niriss = _table({"filter": ["CLEAR", "CLEAR", "F444W"], "pupil": ["F150W", "F200W", "CLEARP"],
                     "subarray": ["FULL", "FULL", "FULL"], "photmjsr": [1.0, 2.0, 3.0]})  # fmt: skip
    # NIRISS matches filter and pupil only: jwst ignores a subarray column (NIRCam would match it).
    assert photom_row(niriss, "NIRISS", "CLEAR", "F200W", "SUB64", "p.fits") == 1
    assert photom_row(niriss, "NIRISS", "F444W", "CLEARP", "SUB64", "p.fits") == 2
    assert photom_row(niriss, "NIRCAM", "CLEAR", "F200W", "SUB64", "p.fits") is None
    assert photom_row(niriss, "NIRISS", "F090W", "CLEAR", "FULL", "p.fits") is None
    fgs = _table({"photmjsr": [0.5, 0.7], "uncertainty": [0.0, 0.0]})
    assert photom_row(fgs, "FGS", None, None, "FULL", "p.fits") == 0  # jwst reads row 0, whatever the table holds
    with pytest.raises(ReferenceFileError, match=r"p\.fits: PHOTOM table is empty"):
        photom_row(fgs[:0], "FGS", None, None, "FULL", "p.fits")


@pytest.fixture(scope="module")
def fgs_sim(tmp_path_factory):
    pytest.importorskip("pysiaf")
    from gpucal.sim.modes import simulate_mode

    root = tmp_path_factory.mktemp("fgs")
    return {mode: simulate_mode(root / mode, mode, detector="guider1", size=64, seed=6)
            for mode in ("FGS_IMAGE", "FGS_FOCUS")}  # fmt: skip


def test_fgs_needs_no_filteroffset_and_only_science_imaging_is_resampled(fgs_sim, tmp_path):
    """From a reference folder without any filteroffset (CRDS has none for FGS): R_FILOFF N/A, PHOTMJSR from
    the single row; FGS_IMAGE gets an _i2d, FGS_FOCUS does not (jwst's image_exptypes)."""
    from gpucal.sim import make_reference_data

    expected = make_reference_data("fgs", "guider1", "clear").photmjsr()
    for mode, sim in fgs_sim.items():
        ref_dir = pathlib.Path(sim.references["flat"]).parent
        assert not list(ref_dir.glob("*filteroffset*"))
        out = tmp_path / mode
        Image2Pipeline.call(str(sim.science[0]), device="cpu", save_results=True, output_dir=str(out),
                            ref_dir=str(ref_dir))  # fmt: skip
        with fits.open(out / sim.science[0].name.replace("_rate", "_cal")) as cal:
            assert cal[0].header["EXP_TYPE"] == mode
            assert cal[0].header["R_FILOFF"] == "N/A" and cal[0].header["S_PHOTOM"] == "COMPLETE"
            assert cal["SCI"].header["PHOTMJSR"] == pytest.approx(expected, rel=1e-6)
        assert (out / sim.science[0].name.replace("_rate", "_i2d")).exists() == (mode == "FGS_IMAGE")


def test_nirspec_imaging_refuses_a_photom_override_and_otherwise_stays_in_dn_per_second(tmp_path):
    """CRDS has no photom for NIRSpec imaging: a given one is an error naming the file (exit 5), none is N/A."""
    pytest.importorskip("pysiaf")
    from gpucal.errors import StepSkippedWarning
    from gpucal.sim.modes import simulate_mode

    sim = simulate_mode(tmp_path / "sim", "NRS_TACQ", size=32, seed=4)
    (rate,) = sim.science
    ref_dir = str(pathlib.Path(sim.references["flat"]).parent)
    photom = write_reference_files(tmp_path / "nircam_refs")["photom"]
    with pytest.raises(ReferenceFileError, match=rf"{rate}: override_photom given, but NIRSpec imaging mode NRS_TACQ"):
        Image2Pipeline.call(str(rate), device="cpu", save_results=True, output_dir=str(tmp_path / "bad"),
                            ref_dir=ref_dir, steps={"photom": {"override_photom": photom}})  # fmt: skip
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())
    with pytest.warns(StepSkippedWarning, match="NIRSpec imaging-mode exposures have no photom reference"):
        Image2Pipeline.call(str(rate), device="cpu", save_results=True, output_dir=str(tmp_path / "out"),
                            ref_dir=ref_dir)  # fmt: skip
    with fits.open(tmp_path / "out" / rate.name.replace("_rate", "_cal")) as cal:
        header = cal[0].header
        assert (header["S_PHOTOM"], header["R_PHOTOM"], header["R_AREA"], header["S_FLAT"]) == (
            "SKIPPED", "N/A", "N/A", "COMPLETE",
        )  # fmt: skip
        assert cal["SCI"].header["BUNIT"] == "DN/s" and "PHOTMJSR" not in cal["SCI"].header


def test_niriss_cube_keeps_dn_per_second_as_jwst_does(tmp_path):
    """jwst 3.0's NIRISS photom refuses a CubeModel: S_PHOTOM SKIPPED, data in DN/s, AREA and PIXAR_* already set."""
    pytest.importorskip("pysiaf")
    from gpucal.errors import StepSkippedWarning
    from gpucal.io.exposure import read_exposure
    from gpucal.sim.modes import simulate_mode

    sim = simulate_mode(tmp_path / "sim", "NIS_AMI", nints=2, seed=7)
    (cube,) = sim.science_ints
    ref_dir = str(pathlib.Path(sim.references["flat"]).parent)
    with pytest.warns(StepSkippedWarning, match="NIRISS rateints cube"):
        Image2Pipeline.call(str(cube), device="cpu", save_results=True, output_dir=str(tmp_path / "out"),
                            ref_dir=ref_dir)  # fmt: skip
    with fits.open(tmp_path / "out" / cube.name.replace("_rateints", "_calints")) as cal:
        assert cal[0].header["S_PHOTOM"] == "SKIPPED" and cal[0].header["S_FLAT"] == "COMPLETE"
        assert cal["SCI"].header["BUNIT"] == "DN/s" and "PHOTMJSR" not in cal["SCI"].header
        assert cal["SCI"].header["PIXAR_SR"] > 0 and cal["AREA"].data.shape == (80, 80)
        flat = read_exposure(cube)
        assert np.nanmedian(cal["SCI"].data) == pytest.approx(np.nanmedian(flat.data), rel=0.05)  # flat only


def test_the_simulator_makes_exactly_the_calibrated_types():
    from gpucal.sim.instruments import IMAGE2_EXP_TYPES as SIMULATED_TYPES

    simulated = {t: instrument.upper() for instrument, types in SIMULATED_TYPES.items() for t in types}
    assert simulated == IMAGE2_EXP_TYPES  # NIRSpec's imaging types included
