"""The simulator's NIRISS and FGS imagers and its exposures of every image2 EXP_TYPE (gpucal.sim.modes)."""

import pathlib
import warnings

import numpy as np
import pytest
from astropy.io import fits

from gpucal.errors import ParameterError
from gpucal.io.exposure import read_exposure
from gpucal.sim import choose_subarray, detector_spec, make_reference_data, readout_for, simulate
from gpucal.sim.instruments import IMAGE2_EXP_TYPES, filter_spec, filters_for
from gpucal.sim.modes import MODE_DEFAULTS, instrument_of, simulate_mode


@pytest.fixture(scope="module")
def niriss_sim(tmp_path_factory):
    """NIRISS F444W (filter wheel; PUPIL=CLEARP) in SUB64, one exposure and one background."""
    return simulate(tmp_path_factory.mktemp("niriss"), instrument="niriss", filter="f444w", size=64, exposures=1,
                    backgrounds=1, seed=4)  # fmt: skip


@pytest.fixture(scope="module")
def fgs_sim(tmp_path_factory):
    """FGS GUIDER2 in a 64-row generic subarray."""
    return simulate(tmp_path_factory.mktemp("fgs"), instrument="fgs", detector="guider2", size=64, exposures=1,
                    backgrounds=0, seed=5)  # fmt: skip


def test_niriss_and_fgs_detectors_filters_and_subarrays():
    nis = detector_spec("niriss", "nis")
    assert (nis.detector, nis.full_aperture.name, nis.exp_type) == ("NIS", "NIS_CEN", "NIS_IMAGE")
    # Short-wave filters sit in the pupil wheel, long-wave ones in the filter wheel; AMI puts the NRM in the pupil.
    assert (filter_spec(nis, "f150w").filter, filter_spec(nis, "f150w").pupil) == ("CLEAR", "F150W")
    assert (filter_spec(nis, "f444w").filter, filter_spec(nis, "f444w").pupil) == ("F444W", "CLEARP")
    assert (filter_spec(nis, "f480m-nrm").filter, filter_spec(nis, "f480m-nrm").pupil) == ("F480M", "NRM")
    assert [filter_spec(nis, f).label for f in ("f150w", "f444w", "f480m-nrm")] == [
        "clear-f150w", "clearp-f444w", "f480m-nrm",
    ]  # fmt: skip
    sub64, sub80 = choose_subarray(nis, 64), choose_subarray(nis, 80)
    assert (sub64.name, sub64.xstart, sub64.ystart) == ("SUB64", 1985, 1985)
    assert (sub80.name, sub80.aperture, sub80.xstart, sub80.ystart) == ("SUB80", "NIS_AMI1", 1045, 1)
    assert readout_for(nis, choose_subarray(nis, 2048)).pattern == "NIS"
    assert readout_for(nis, sub64).pattern == "NIS" and readout_for(nis, sub64, tso=True).pattern == "NISRAPID"
    for name, aperture in (("guider1", "FGS1_FULL"), ("guider2", "FGS2_FULL")):
        fgs = detector_spec("fgs", name)
        assert (fgs.full_aperture.name, fgs.exp_type, fgs.has_filter_wheel) == (aperture, "FGS_IMAGE", False)
        assert [f.label for f in filters_for(fgs)] == ["clear"]
        assert choose_subarray(fgs, 128).name == "SUB128CNTR"
        assert readout_for(fgs, choose_subarray(fgs, 128)).pattern == "FGSRAPID"
    with pytest.raises(ParameterError, match="filter"):
        filter_spec(detector_spec("fgs", "guider1"), "f200w")
    with pytest.raises(ParameterError, match="detector"):
        detector_spec("niriss", "nrca1")


def test_rate_files_carry_the_instrument_keywords(niriss_sim, fgs_sim):
    nis = fits.getheader(niriss_sim.science[0])
    assert (nis["INSTRUME"], nis["DETECTOR"], nis["EXP_TYPE"], nis["FILTER"], nis["PUPIL"]) == (
        "NIRISS", "NIS", "NIS_IMAGE", "F444W", "CLEARP",
    )  # fmt: skip
    assert (nis["SUBARRAY"], nis["FASTAXIS"], nis["SLOWAXIS"]) == ("SUB64", -2, -1)  # NIRISS reads along detector y
    fgs = fits.getheader(fgs_sim.science[0])
    assert (fgs["INSTRUME"], fgs["DETECTOR"], fgs["EXP_TYPE"], fgs["SUBARRAY"]) == ("FGS", "GUIDER2", "FGS_IMAGE",
                                                                                   "GENERIC")  # fmt: skip
    assert "FILTER" not in fgs and "PUPIL" not in fgs  # FGS has no filters
    assert fgs_sim.science[0].name.endswith("_guider2_rate.fits")


def test_references_have_the_instrument_layouts(niriss_sim, fgs_sim):
    assert "filteroffset" not in fgs_sim.references  # CRDS has no FGS filteroffset
    with fits.open(niriss_sim.references["photom"]) as hdul:
        table = hdul["PHOTOM"].data
        assert hdul[0].header["DATAMODL"] == "NisImgPhotomModel"
        assert list(table.columns.names) == ["filter", "pupil", "photmjsr", "uncertainty"]
        pairs = set(zip(table["filter"], table["pupil"], strict=True))
        assert {("F444W", "CLEARP"), ("CLEAR", "F150W"), ("F480M", "NRM")} <= pairs
    with fits.open(fgs_sim.references["photom"]) as hdul:
        assert hdul[0].header["DATAMODL"] == "FgsImgPhotomModel"
        assert list(hdul["PHOTOM"].data.columns.names) == ["photmjsr", "uncertainty"]
        assert len(hdul["PHOTOM"].data) == 1
        assert "FILTER" not in hdul[0].header
    for sim, exp_types in ((niriss_sim, IMAGE2_EXP_TYPES["niriss"]), (fgs_sim, IMAGE2_EXP_TYPES["fgs"])):
        header = fits.getheader(sim.references["flat"])
        assert header["P_EXP_TY"].rstrip("|").split("|") == list(exp_types)
    # The NRM passes ~15 % of the pupil: its conversion is larger by that much.
    data = make_reference_data("niriss", "nis", "f480m")
    rows = {(r["filter"], r["pupil"]): r["photmjsr"] for r in data.photom_rows}
    assert rows[("F480M", "NRM")] == pytest.approx(rows[("F480M", "CLEARP")] / 0.15)


def test_references_fit_their_exposures_as_crds_would_select_them(niriss_sim, fgs_sim):
    from gpucal.io.refs import ReferenceSelector, check_reference

    for sim in (niriss_sim, fgs_sim):
        folder = pathlib.Path(sim.references["flat"]).parent
        for product in (*sim.science, *sim.background):
            meta = read_exposure(product).meta
            selector = ReferenceSelector(ref_dir=folder, use_crds=False)
            for reftype, path in sim.references.items():
                check_reference(reftype, path, meta, source=product)
                assert pathlib.Path(selector.select(reftype, meta)).resolve() == pathlib.Path(path).resolve()


def test_stdatamodels_opens_the_references_as_their_models(niriss_sim, fgs_sim):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    expected = {
        "flat": datamodels.FlatModel, "area": datamodels.PixelAreaModel, "distortion": datamodels.DistortionModel,
    }  # fmt: skip
    for sim, photom, apcorr in (
        (niriss_sim, datamodels.NisImgPhotomModel, datamodels.NisImgApcorrModel),
        (fgs_sim, datamodels.FgsImgPhotomModel, datamodels.FgsImgApcorrModel),
    ):
        for reftype, model_class in {**expected, "photom": photom, "apcorr": apcorr}.items():
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                model = model_class(str(sim.references[reftype]), strict_validation=True)
                model.validate()
            model.close()
        with datamodels.open(str(sim.science[0])) as model:
            model.validate()


def test_mode_defaults_cover_the_image2_table():
    table = {t for types in IMAGE2_EXP_TYPES.values() for t in types}
    assert set(MODE_DEFAULTS) == table
    assert instrument_of("nis_ami") == "niriss" and instrument_of("FGS_FOCUS") == "fgs"
    for bad in ("NRS_IFU", "NRC_WFSS", "X"):
        with pytest.raises(ParameterError, match="exp_type"):
            instrument_of(bad)


def test_simulate_mode_writes_the_mode_and_keeps_everything_else(tmp_path):
    plain = simulate(tmp_path / "plain", instrument="niriss", filter="f480m-nrm", size=80, exposures=1, backgrounds=0,
                     seed=9)  # fmt: skip
    ami = simulate_mode(tmp_path / "ami", "NIS_AMI", seed=9)
    with fits.open(plain.science[0]) as a, fits.open(ami.science[0]) as b:
        assert (b[0].header["EXP_TYPE"], b[0].header["SUBARRAY"], b[0].header["PUPIL"]) == ("NIS_AMI", "SUB80", "NRM")
        differ = {k for k in set(a[0].header) | set(b[0].header) if a[0].header.get(k) != b[0].header.get(k)}
        assert differ <= {"EXP_TYPE", "DATE"}
        for name in ("SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE"):
            np.testing.assert_array_equal(a[name].data, b[name].data)
    assert read_exposure(ami.science[0]).meta.exposure.type == "NIS_AMI"  # the ASDF tree agrees with the header
    with pytest.raises(ParameterError, match="NIRCAM mode"):
        simulate_mode(tmp_path / "x", "NRC_CORON", instrument="miri")
    with pytest.raises(ParameterError, match="tso"):
        simulate_mode(tmp_path / "y", "NRC_CORON", tso=True)


def test_simulate_cli_exp_type(tmp_path, capsys):
    from gpucal.cli import main

    args = ["--exposures", "1", "--backgrounds", "0", "--seed", "3"]
    assert main(["simulate", str(tmp_path / "out"), "--exp-type", "fgs_focus", *args]) == 0
    (rate,) = sorted((tmp_path / "out").glob("*_rate.fits"))
    header = fits.getheader(rate)
    assert (header["EXP_TYPE"], header["DETECTOR"]) == ("FGS_FOCUS", "GUIDER2")
    assert main(["simulate", str(tmp_path / "bad"), "--exp-type", "NRS_MSASPEC", *args]) == 2
    assert "NRS_MSASPEC" in capsys.readouterr().err
