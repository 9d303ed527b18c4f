"""calwebb_image2: gpucal vs jwst 3.0.

On simulated NIRCam (with two dedicated backgrounds through the image2 ASN),
MIRI, NIRISS and FGS exposures with every reference overridden (NIRISS also
with the real pre-flight NIRISS distortion reference), gpucal's ``_cal`` and
``_bsub`` match jwst's: SCI, ERR, VAR_* to a max relative difference of 1e-6,
DQ bit for bit, the WCS to 1e-9 deg, and the header keywords that matter;
the ``_i2d`` has the same grid and CRVAL, SCI and WHT within 1e-5 relative
RMS where WHT > 0, CON identical, ERR and VAR_* within 1e-4. The CUDA path
(numba's simulator in CI) must give the same results.
"""

import numpy as np
import pytest
from astropy.io import fits

from gpucal.pipelines.image2 import Image2Pipeline
from gpucal.sim import simulate
from tests.jwst_offline import image2_step_options, run_image2
from tests.parity._compare import assert_arrays_match, assert_i2d_match, assert_keywords_match, assert_wcs_match

ARRAYS = ["SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT", "AREA"]
KEYWORDS = [
    "PRIMARY:S_WCS", "PRIMARY:S_FLAT", "PRIMARY:S_PHOTOM", "PRIMARY:S_BKDSUB", "PRIMARY:S_RESAMP",
    "PRIMARY:R_FLAT", "PRIMARY:R_PHOTOM", "PRIMARY:R_AREA", "PRIMARY:R_DISTOR", "PRIMARY:R_FILOFF",
    "SCI:BUNIT", "ERR:BUNIT", "SCI:PHOTMJSR", "SCI:PHOTUJA2", "SCI:PIXAR_SR", "SCI:PIXAR_A2", "SCI:S_REGION",
    "SCI:CTYPE1", "SCI:CTYPE2", "SCI:CRPIX1", "SCI:CRPIX2", "SCI:CRVAL1", "SCI:CRVAL2",
]  # fmt: skip


I2D_KEYWORDS = [
    "PRIMARY:S_RESAMP", "PRIMARY:S_FLAT", "PRIMARY:ASNPOOL", "PRIMARY:ASNTABLE", "SCI:BUNIT", "SCI:PIXAR_SR",
    "SCI:PIXAR_A2", "SCI:PHOTMJSR", "SCI:S_REGION", "SCI:CDELT1", "SCI:PC1_1", "SCI:PC2_1", "SCI:CTYPE1", "SCI:RA_REF",
    "SCI:V2_REF", "SCI:PXSCLRT", "SCI:PIXFRAC", "SCI:RESWHT", "SCI:XPOSURE", "SCI:TMEASURE", "SCI:TELAPSE",
    "PRIMARY:EXPSTART", "PRIMARY:EXPEND", "PRIMARY:EFFEXPTM",
]  # fmt: skip


def _gpucal_steps(references, **extra):
    """The same step options jwst gets, for gpucal (jwst's own option dict, unchanged)."""
    return image2_step_options(references, extra)


@pytest.fixture(scope="module")
def nircam(tmp_path_factory):
    root = tmp_path_factory.mktemp("nircam")
    sim = simulate(
        root / "sim",
        instrument="nircam",
        detector="nrcb1",
        filter="f150w",
        exposures=1,
        backgrounds=2,
        size=160,
        seed=7,
    )
    asn = sim.image2_asn[0]
    jwst = run_image2(asn, sim.references, root / "jwst", steps={"bkg_subtract": {"save_results": True}})
    assert jwst.returncode == 0, jwst.log[-3000:]
    return sim, asn, jwst, root


def _simulate_and_run_jwst(root, **options):
    sim = simulate(root / "sim", exposures=1, backgrounds=0, **options)
    rate = sim.science[0]
    jwst = run_image2(rate, sim.references, root / "jwst")
    assert jwst.returncode == 0, jwst.log[-3000:]
    return sim, rate, jwst, root


@pytest.fixture(scope="module")
def niriss(tmp_path_factory):
    """NIRISS F444W (FILTER=F444W, PUPIL=CLEARP, a non-zero filter offset) in SUB128."""
    return _simulate_and_run_jwst(tmp_path_factory.mktemp("niriss"), instrument="niriss", detector="nis",
                                  filter="f444w", size=128, seed=21)  # fmt: skip


@pytest.fixture(scope="module")
def fgs(tmp_path_factory):
    """FGS GUIDER2 (parity -1 science frame) in a 96-row generic subarray; no FILTER, no filteroffset."""
    return _simulate_and_run_jwst(tmp_path_factory.mktemp("fgs"), instrument="fgs", detector="guider2", size=96,
                                  seed=22)  # fmt: skip


@pytest.fixture(scope="module")
def miri(tmp_path_factory):
    root = tmp_path_factory.mktemp("miri")
    sim = simulate(root / "sim", instrument="miri", exposures=1, backgrounds=0, size=128, seed=3)
    rate = sim.science[0]
    jwst = run_image2(rate, sim.references, root / "jwst")
    assert jwst.returncode == 0, jwst.log[-3000:]
    return sim, rate, jwst, root


def _gpucal(input_path, references, out, device, resample=False, **extra):
    steps = _gpucal_steps(references, resample={"skip": not resample}, **extra)
    (result,) = Image2Pipeline.call(str(input_path), steps=steps, device=device, save_results=True, output_dir=str(out))
    return result


def _compare_cal(ours, theirs):
    with fits.open(ours) as a, fits.open(theirs) as b:
        assert [h.name for h in a] == [h.name for h in b]
    assert_arrays_match(ours, theirs, ARRAYS)
    assert_keywords_match(ours, theirs, [k for k in KEYWORDS if k != "PRIMARY:S_RESAMP"])
    with fits.open(ours) as a, fits.open(theirs) as b:
        sip = sorted(k for k in b["SCI"].header if k.startswith(("A_", "B_", "AP_", "BP_", "CD")))
        assert sip == sorted(k for k in a["SCI"].header if k.startswith(("A_", "B_", "AP_", "BP_", "CD")))
        for key in sip:
            assert np.isclose(a["SCI"].header[key], b["SCI"].header[key], rtol=1e-6, atol=1e-15), key
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    with datamodels.open(ours) as a, datamodels.open(theirs) as b:
        assert_wcs_match(a.meta.wcs, b.meta.wcs, a.data.shape[-2:])


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_nircam_cal_and_bsub_match_jwst(nircam, device, tmp_path):
    sim, asn, jwst, _ = nircam
    # The CUDA simulator drizzles slowly: its _i2d parity runs on a smaller exposure below.
    _gpucal(asn, sim.references, tmp_path, device, resample=(device == "cpu"), bkg_subtract={"save_results": True})
    (theirs_cal,) = jwst.products("cal")
    ours_cal = tmp_path / theirs_cal.name
    _compare_cal(ours_cal, theirs_cal)
    (theirs_bsub,) = jwst.products("bsub")
    ours_bsub = tmp_path / theirs_bsub.name
    assert_arrays_match(ours_bsub, theirs_bsub, ["SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE"])
    assert_keywords_match(ours_bsub, theirs_bsub, ["PRIMARY:S_BKDSUB", "SCI:BUNIT"])
    if device == "cpu":
        (theirs_i2d,) = jwst.products("i2d")
        assert_i2d_match(tmp_path / theirs_i2d.name, theirs_i2d)
        assert_keywords_match(tmp_path / theirs_i2d.name, theirs_i2d, I2D_KEYWORDS)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_miri_cal_matches_jwst(miri, device, tmp_path):
    sim, rate, jwst, _ = miri
    _gpucal(rate, sim.references, tmp_path, device, resample=(device == "cpu"))
    (theirs,) = jwst.products("cal")
    _compare_cal(tmp_path / theirs.name, theirs)
    if device == "cpu":
        (theirs_i2d,) = jwst.products("i2d")
        assert_i2d_match(tmp_path / theirs_i2d.name, theirs_i2d)
        assert_keywords_match(tmp_path / theirs_i2d.name, theirs_i2d, I2D_KEYWORDS)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("case", ["niriss", "fgs"])
def test_niriss_and_fgs_cal_match_jwst(request, case, device, tmp_path):
    """NIS_IMAGE and FGS_IMAGE: the _cal (and on the CPU the _i2d) as jwst's; PHOTMJSR from the right row."""
    sim, rate, jwst, _ = request.getfixturevalue(case)
    _gpucal(rate, sim.references, tmp_path, device, resample=(device == "cpu"))
    (theirs,) = jwst.products("cal")
    _compare_cal(tmp_path / theirs.name, theirs)
    with fits.open(theirs) as cal:
        assert cal["PRIMARY"].header["S_PHOTOM"] == "COMPLETE" and cal["SCI"].header["BUNIT"] == "MJy/sr"
        filteroffset = "N/A" if case == "fgs" else str(sim.references["filteroffset"].resolve())
        assert cal["PRIMARY"].header["R_FILOFF"] == filteroffset
        assert ("FILTER" in cal["PRIMARY"].header) == (case == "niriss")
    if device == "cpu":
        (theirs_i2d,) = jwst.products("i2d")
        assert_i2d_match(tmp_path / theirs_i2d.name, theirs_i2d)
        assert_keywords_match(tmp_path / theirs_i2d.name, theirs_i2d, I2D_KEYWORDS)


def test_niriss_with_the_real_distortion_reference_matches_jwst(real_data, tmp_path):
    """The pre-flight NIRISS distortion from CRDS's test data (no bounding box, SUBARRAY GENERIC) gives jwst's WCS."""
    distortion = real_data / "niriss_ref_distortion.asdf"
    if not distortion.is_file():
        pytest.skip(f"{distortion} is not present")
    sim = simulate(tmp_path / "sim", instrument="niriss", detector="nis", filter="f090w", exposures=1, backgrounds=0,
                   size=64, seed=23)  # fmt: skip
    references = {**sim.references, "distortion": distortion}
    (rate,) = sim.science
    jwst = run_image2(rate, references, tmp_path / "jwst", steps={"resample": {"skip": True}})
    assert jwst.returncode == 0, jwst.log[-3000:]
    _gpucal(rate, references, tmp_path / "ours", "cpu")
    (theirs,) = jwst.products("cal")
    _compare_cal(tmp_path / "ours" / theirs.name, theirs)
    with fits.open(theirs) as cal:
        assert cal["PRIMARY"].header["R_DISTOR"] == str(distortion.resolve())


def test_niriss_real_old_layout_photom_is_refused_with_one_line(real_data, niriss, tmp_path):
    """The pre-flight NIRISS photom (a SCI table of photflam, no PHOTOM extension) cannot calibrate: exit 5
    naming the file (jwst 3.0 fails on it too, with AttributeError: No attribute 'phot_table')."""
    from gpucal.errors import ReferenceFileError

    photom = real_data / "niriss_ref_photom.fits"
    if not photom.is_file():
        pytest.skip(f"{photom} is not present")
    sim, rate, _, _ = niriss
    with pytest.raises(ReferenceFileError, match=r"niriss_ref_photom\.fits: photom reference has no PHOTOM table"):
        _gpucal(rate, {**sim.references, "photom": photom}, tmp_path, "cpu")
    assert not list(tmp_path.glob("*_cal.fits"))


def test_cuda_i2d_matches_jwst(tmp_path):
    """The CUDA drizzle path (simulated in CI) on a 64-row NIRCam subarray."""
    sim = simulate(
        tmp_path / "sim",
        instrument="nircam",
        detector="nrca2",
        filter="f200w",
        exposures=1,
        backgrounds=0,
        size=64,
        seed=4,
    )
    (rate,) = sim.science
    jwst = run_image2(rate, sim.references, tmp_path / "jwst")
    assert jwst.returncode == 0, jwst.log[-3000:]
    _gpucal(rate, sim.references, tmp_path / "ours", "cuda", resample=True)
    (theirs,) = jwst.products("i2d")
    assert_i2d_match(tmp_path / "ours" / theirs.name, theirs)
    assert_keywords_match(tmp_path / "ours" / theirs.name, theirs, I2D_KEYWORDS)


def test_nircam_rateints_matches_jwst(tmp_path):
    sim = simulate(tmp_path / "sim", instrument="nircam", detector="nrca3", filter="f200w", exposures=1, backgrounds=0,
                   size=64, seed=11, nints=3)  # fmt: skip
    (cube,) = sim.science_ints
    jwst = run_image2(cube, sim.references, tmp_path / "jwst", steps={"resample": {"skip": True}})
    assert jwst.returncode == 0, jwst.log[-3000:]
    _gpucal(cube, sim.references, tmp_path / "ours", "cpu")
    (theirs,) = jwst.products("calints")
    ours = tmp_path / "ours" / theirs.name
    assert_arrays_match(ours, theirs, ["SCI", "ERR", "DQ", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT"])
    assert_keywords_match(ours, theirs, ["PRIMARY:S_FLAT", "PRIMARY:S_PHOTOM", "SCI:PHOTMJSR", "SCI:BUNIT"])
