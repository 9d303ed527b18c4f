"""Parity tier: jwst 3.0's own calwebb_image2 accepts simulated data and references as real.

Each test runs jwst's Image2Pipeline offline (tests/jwst_offline.py: local
CRDS configuration, every reference overridden, run from the ASN's folder)
in a separate process, then checks the products.
"""

import numpy as np
import pytest

pytest.importorskip("jwst")

from tests.jwst_offline import run_image2

pytestmark = pytest.mark.parity

STAGE2_STEPS = ("S_WCS", "S_FLAT", "S_PHOTOM")


def _check_run(run, n_cal=1, suffix="cal"):
    assert run.returncode == 0, run.log[-4000:]
    cal = run.products(suffix)
    assert len(cal) == n_cal, [p.name for p in run.outputs]
    return cal


def _truth_offsets(result, cal_model, science):
    """Sky distance (arcsec) between the truth and jwst's WCS at the truth pixel positions."""
    from astropy.table import Table

    from gpucal.sim.scene import sky_offsets

    truth = Table.read(result.truth_catalog)
    root = science.name.removesuffix("_rate.fits").removesuffix("_rateints.fits")
    ra, dec = cal_model.meta.wcs(np.array(truth[f"x_{root}"]), np.array(truth[f"y_{root}"]), with_bounding_box=False)
    east, north = sky_offsets(ra, dec, truth["ra"], truth["dec"])
    return np.hypot(east, north)


def test_nircam_image2_with_backgrounds(tmp_path):
    from stdatamodels.jwst import datamodels

    from gpucal.sim import simulate

    result = simulate(tmp_path / "sim", size=160, exposures=1, backgrounds=2, seed=2)
    run = run_image2(result.image2_asn[0], result.references, tmp_path / "out")
    (cal_path,) = _check_run(run)
    with datamodels.open(str(cal_path)) as cal:
        for keyword in (*STAGE2_STEPS, "S_BKDSUB"):
            attribute = {
                "S_WCS": "assign_wcs",
                "S_FLAT": "flat_field",
                "S_PHOTOM": "photom",
                "S_BKDSUB": "bkg_subtract",
            }[keyword]
            assert getattr(cal.meta.cal_step, attribute) == "COMPLETE", keyword
        assert cal.meta.bunit_data == "MJy/sr"
        assert cal.meta.photometry.conversion_megajanskys > 0
        # Backgrounds of the same sky subtracted: what is left of the sky is noise around zero.
        good = (cal.dq & 1) == 0
        assert abs(np.median(cal.data[good])) < 0.02
        # jwst's WCS, built from the (slightly wrong) header pointing, lands within the injected errors.
        offsets = _truth_offsets(result, cal, result.science[0])
        assert np.median(offsets) < 0.15
    i2d = run.products("i2d")
    assert len(i2d) == 1
    with datamodels.open(str(i2d[0])) as model:
        assert model.meta.cal_step.resample == "COMPLETE"


def test_miri_image2_recovers_the_sky(tmp_path):
    from stdatamodels.jwst import datamodels

    from gpucal.sim import make_reference_data, simulate, sky_brightness

    result = simulate(tmp_path / "sim", instrument="miri", detector="mirimage", filter="f770w", size=128,
                      exposures=1, backgrounds=0, seed=3)  # fmt: skip
    run = run_image2(result.image2_asn[0], result.references, tmp_path / "out", steps={"resample": {"skip": True}})
    (cal_path,) = _check_run(run)
    reference = make_reference_data("miri", "mirimage", "f770w")
    with datamodels.open(str(cal_path)) as cal:
        for attribute in ("assign_wcs", "flat_field", "photom"):
            assert getattr(cal.meta.cal_step, attribute) == "COMPLETE", attribute
        assert cal.meta.subarray.name == "SUB128"
        assert cal.meta.photometry.conversion_megajanskys == pytest.approx(reference.photmjsr("SUB128"), rel=1e-6)
        # flat_field and photom turn the simulated sky back into its brightness in MJy/sr.
        good = (cal.dq & 1) == 0
        assert np.median(cal.data[good]) == pytest.approx(
            sky_brightness(reference.detector, reference.filter), rel=0.02
        )
        assert np.isnan(cal.data[:, :4]).all()  # reference columns
        assert np.median(_truth_offsets(result, cal, result.science[0])) < 0.15


def test_nircam_time_series_image2(tmp_path):
    from stdatamodels.jwst import datamodels

    from gpucal.sim import simulate

    result = simulate(tmp_path / "sim", size=64, exposures=1, backgrounds=0, nints=3, tso=True, detector="nrca3",
                      filter="f150w", seed=4)  # fmt: skip
    run = run_image2(result.image2_asn[0], result.references, tmp_path / "out")
    (calints_path,) = _check_run(run, suffix="calints")
    with datamodels.open(str(calints_path)) as cal:
        assert cal.data.shape == (3, 64, 64)
        for attribute in ("assign_wcs", "flat_field", "photom"):
            assert getattr(cal.meta.cal_step, attribute) == "COMPLETE", attribute
    assert run.products("i2d") == []  # time series are not resampled


@pytest.mark.parametrize(
    ("instrument", "detector", "filter_name", "size"),
    [("niriss", "nis", "f200w", 256), ("fgs", "guider1", "clear", 128)],
)
def test_niriss_and_fgs_image2_recover_the_sky_and_the_pointing(tmp_path, instrument, detector, filter_name, size):
    """jwst calibrates simulated NIS_IMAGE and FGS_IMAGE exposures (FGS without filteroffset) back to the sky."""
    from stdatamodels.jwst import datamodels

    from gpucal.sim import make_reference_data, simulate, sky_brightness

    result = simulate(tmp_path / "sim", instrument=instrument, detector=detector, filter=filter_name, size=size,
                      exposures=1, backgrounds=0, seed=6)  # fmt: skip
    run = run_image2(result.image2_asn[0], result.references, tmp_path / "out", steps={"resample": {"skip": True}})
    (cal_path,) = _check_run(run)
    reference = make_reference_data(instrument, detector, filter_name)
    with datamodels.open(str(cal_path)) as cal:
        for attribute in ("assign_wcs", "flat_field", "photom"):
            assert getattr(cal.meta.cal_step, attribute) == "COMPLETE", attribute
        assert cal.meta.exposure.type == f"{'NIS' if instrument == 'niriss' else 'FGS'}_IMAGE"
        assert cal.meta.photometry.conversion_megajanskys == pytest.approx(reference.photmjsr(), rel=1e-6)
        good = (cal.dq & 1) == 0
        assert np.median(cal.data[good]) == pytest.approx(
            sky_brightness(reference.detector, reference.filter), rel=0.05
        )
        assert np.median(_truth_offsets(result, cal, result.science[0])) < 0.15
