"""Single simulated exposures: rate-file layout and meta, noise, flags, flat/photom round trip."""

import warnings

import numpy as np
import pytest

from gpucal import dqflags
from gpucal.errors import ParameterError
from gpucal.io.exposure import write_exposure
from gpucal.sim import make_exposure, make_reference_data, sky_brightness
from gpucal.sim.scene import Scene

DQ = dqflags.PIXEL
DNU = DQ["DO_NOT_USE"]


def _empty_scene():
    return Scene(*(np.zeros(0) for _ in range(2)), np.zeros(0, dtype=str), *(np.zeros(0) for _ in range(5)))


@pytest.fixture(scope="module")
def datamodels():
    return pytest.importorskip("stdatamodels.jwst.datamodels")


@pytest.fixture(scope="module")
def sky_only():
    """NIRCam NRCA1 SUB640 with no sources: sky, defects, cosmic rays and noise only."""
    return make_exposure(size=640, seed=21, scene=_empty_scene())


def _open(datamodels, path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = datamodels.open(str(path), strict_validation=True)
        model.validate()
    return model


def test_rate_file_has_the_meta_of_a_stage1_product(datamodels, tmp_path):
    sim = make_exposure(size=320, seed=2, detector="nrcb3", filter="f182m")
    model = _open(datamodels, write_exposure(sim.rate, tmp_path / f"{sim.root}_rate.fits"))
    meta = model.meta
    assert type(model).__name__ == "ImageModel" and model.data.shape == (320, 320)
    assert (meta.instrument.name, meta.instrument.detector, meta.instrument.module, meta.instrument.channel) == (
        "NIRCAM",
        "NRCB3",
        "B",
        "SHORT",
    )
    assert (meta.instrument.filter, meta.instrument.pupil, meta.exposure.type) == ("F182M", "CLEAR", "NRC_IMAGE")
    assert (meta.subarray.name, meta.subarray.xsize, meta.subarray.ysize) == ("SUB320", 320, 320)
    assert meta.subarray.xstart >= 1 and meta.subarray.ystart >= 1
    assert meta.aperture.name == "NRCB3_SUB320"
    assert meta.bunit_data == "DN/s" and meta.bunit_err == "DN/s"
    exposure = meta.exposure
    assert exposure.start_time < exposure.mid_time < exposure.end_time
    assert exposure.group_time == pytest.approx((exposure.nframes + exposure.groupgap) * exposure.frame_time)
    assert exposure.effective_exposure_time == pytest.approx(
        (exposure.ngroups - 1) * exposure.group_time * exposure.nints
    )
    assert exposure.measurement_time == exposure.exposure_time == exposure.effective_exposure_time
    assert exposure.duration >= exposure.effective_exposure_time
    assert (exposure.end_time - exposure.start_time) * 86400 == pytest.approx(exposure.duration)
    obs = meta.observation
    assert (obs.program_number, obs.observation_number, obs.visit_number) == ("00001", "001", "001")
    assert (obs.visit_group, obs.sequence_id, obs.activity_id, obs.exposure_number) == ("02", "1", "01", "00001")
    assert obs.bkgdtarg is False and meta.visit.tsovisit is False
    wcsinfo = meta.wcsinfo
    for name in (
        "ra_ref",
        "dec_ref",
        "roll_ref",
        "v2_ref",
        "v3_ref",
        "v3yangle",
        "vparity",
        "crpix1",
        "crval1",
        "cdelt1",
        "pc1_1",
    ):
        assert getattr(wcsinfo, name) is not None, name
    assert wcsinfo.ctype1 == "RA---TAN" and wcsinfo.s_region.startswith("POLYGON ICRS")
    assert meta.velocity_aberration.scale_factor == pytest.approx(1.00005)
    assert meta.pointing.ra_v1 is not None and meta.pointing.pa_v3 is not None
    assert meta.cal_step.ramp_fit == "COMPLETE" and meta.cal_step.jump == "COMPLETE"
    assert meta.cal_step.flat_field is None  # stage 2 has not run


def test_v1_attitude_is_consistent_with_the_reference_point():
    from gpucal.sim.meta import v1_attitude
    from gpucal.wcs.pointing import Pointing, v23tosky

    pointing = Pointing(10.0, -30.0, 120.0, 120.6, -527.5, 1.0)
    ra_v1, dec_v1, pa_v3 = v1_attitude(pointing)
    # The same attitude described from V1: the reference point maps back to RA_REF/DEC_REF.
    from_v1 = Pointing(ra_v1, dec_v1, pa_v3, 0.0, 0.0, 1.0)
    ra, dec = v23tosky(from_v1)(120.6, -527.5)
    assert ra == pytest.approx(10.0, abs=2e-6) and dec == pytest.approx(-30.0, abs=2e-6)


def test_noise_is_described_by_err(sky_only):
    rate = sky_only.rate
    good = (rate.dq == 0) & ~sky_only.residual_cr
    z = (rate.data[good] - sky_only.expected[good]) / rate.err[good]
    assert abs(np.mean(z)) < 0.05
    assert np.std(z) == pytest.approx(1.0, abs=0.05)
    np.testing.assert_allclose(rate.err**2, rate.var_poisson + rate.var_rnoise, rtol=1e-5)
    assert np.all(rate.var_poisson[good] > 0) and np.all(rate.var_rnoise[good] > 0)


def test_do_not_use_pixels_are_nan_with_zero_error(sky_only):
    rate = sky_only.rate
    bad = (rate.dq & DNU) != 0
    assert bad.any()
    assert np.isnan(rate.data[bad]).all() and not np.isnan(rate.data[~bad]).any()
    assert (rate.err[bad] == 0).all() and (rate.var_poisson[bad] == 0).all() and (rate.var_rnoise[bad] == 0).all()


def test_reference_pixels_and_defects_are_flagged(sky_only):
    dq = sky_only.rate.dq
    # NRCA1 SUB640 sits in the detector corner: its last 4 rows and columns are reference pixels.
    refpix = DNU | DQ["REFERENCE_PIXEL"]
    assert ((dq[-4:, :] & refpix) == refpix).all() and ((dq[:, -4:] & refpix) == refpix).all()
    assert not (dq[:-4, :-4] & DQ["REFERENCE_PIXEL"]).any()
    assert (dq & DQ["JUMP_DET"]).any()
    assert sky_only.residual_cr.any()
    assert sky_only.counts["cosmic_rays_flagged"] > sky_only.counts["cosmic_rays_residual"] > 0


def test_cosmic_rays_left_unflagged_are_no_brighter_than_a_missed_jump(sky_only):
    """The jump step finds every jump above 4 sigma of a group difference; what it misses leaves a faint residual.

    A ray the jump step would have found must not survive as a bright unflagged point (tweakreg's star finder
    takes those for stars, and the matcher pairs them with real sources).
    """
    from gpucal.sim.detector import jump_slope_response
    from gpucal.sim.instruments import choose_subarray, readout_for

    rate = sky_only.rate
    detector = make_reference_data("nircam", "nrca1", "f200w").detector
    readout = readout_for(detector, choose_subarray(detector, 640))
    counts = sky_only.counts
    assert counts["cosmic_rays_flagged"] > 5 * counts["cosmic_rays_residual"] > 0
    residual = sky_only.residual_cr & ((rate.dq & DQ["HOT"]) == 0)
    tgroup = readout.group_time
    sigma_diff = np.sqrt(2 * readout.group_read_noise(detector.read_noise) ** 2
                         + sky_only.expected[residual] * tgroup / detector.gain)  # fmt: skip
    largest_missed = 4.0 * sigma_diff * jump_slope_response(readout.ngroups).max() / tgroup  # DN/s
    excess = rate.data[residual] - sky_only.expected[residual]
    # Two faint hits may share a pixel; the pixel's own noise comes on top.
    assert np.all(excess <= 2 * largest_missed + 5 * rate.err[residual])
    assert np.max(excess / rate.err[residual]) < 15
    flagged = (rate.dq & DQ["JUMP_DET"]) != 0
    assert flagged.sum() > 5 * sky_only.residual_cr.sum()


def test_jump_slope_response_is_the_least_squares_slope_of_a_step():
    from gpucal.sim.detector import jump_slope_response

    for ngroups in (2, 6, 10):
        response = jump_slope_response(ngroups)
        assert response[0] == pytest.approx(0.0, abs=1e-12)  # a hit before the first read only offsets the ramp
        for j in range(ngroups):
            step = (np.arange(ngroups) >= j).astype(float)
            assert response[j] == pytest.approx(np.polyfit(np.arange(ngroups), step, 1)[0], abs=1e-12)


def test_hot_and_warm_pixels_are_dark_subtracted_but_noisier(sky_only):
    """Stage 1 subtracts the dark (dark_sub COMPLETE): hot pixels are not bright, only noisier than ERR says."""
    rate = sky_only.rate
    assert rate.meta.cal_step.dark_sub == "COMPLETE"
    usable = (rate.dq & DNU) == 0
    good = (rate.dq == 0) & ~sky_only.residual_cr
    sky = np.median(rate.data[good])
    for flag in ("HOT", "WARM"):
        pixels = usable & ((rate.dq & DQ[flag]) != 0) & ~sky_only.residual_cr
        assert pixels.sum() > 50
        z = (rate.data[pixels] - sky_only.expected[pixels]) / rate.err[pixels]
        assert abs(np.median(z)) < 4 * 1.2533 * np.std(z) / np.sqrt(z.size), flag  # 4 standard errors
        assert np.median(rate.data[pixels]) == pytest.approx(sky, rel=0.15), flag  # the flat varies the QE
    hot = usable & ((rate.dq & DQ["HOT"]) != 0)
    z = (rate.data[hot] - sky_only.expected[hot]) / rate.err[hot]
    assert np.std(z) > 2  # the dark current's shot noise, which ramp fitting's VAR_POISSON does not count


def test_static_defects_repeat_on_every_exposure():
    first = make_exposure(size=2048, seed=1, scene=_empty_scene(), detector="nrca4", filter="f090w")
    second = make_exposure(size=2048, seed=2, scene=_empty_scene(), detector="nrca4", filter="f090w")
    static = DQ["HOT"] | DQ["WARM"] | DQ["DEAD"] | DQ["REFERENCE_PIXEL"]
    np.testing.assert_array_equal(first.rate.dq & static, second.rate.dq & static)
    hot = (first.rate.dq & DQ["HOT"]) != 0
    assert hot.sum() > 1000 and ((first.rate.dq[hot] & DNU) != 0).any() and ((first.rate.dq[hot] & DNU) == 0).any()
    dead = (first.rate.dq & DQ["DEAD"]) != 0
    assert dead.any() and np.isnan(first.rate.data[dead]).all()
    assert ((first.rate.dq[:4] & DQ["REFERENCE_PIXEL"]) != 0).all()


def test_flat_and_photom_recover_the_sky_in_mjy_per_sr():
    reference = make_reference_data("nircam", "nrca1", "f200w")
    sim = make_exposure(size=2048, seed=3, scene=_empty_scene(), reference=reference)
    good = (sim.rate.dq == 0) & np.isfinite(reference.flat) & (reference.flat_dq == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        surface = sim.expected / reference.flat * reference.photmjsr("FULL")
    brightness = sky_brightness(reference.detector, reference.filter)
    # Uniform to the 1 % gradient the simulator puts on the sky, in MJy/sr.
    assert np.median(surface[good]) == pytest.approx(brightness, rel=0.002)
    assert np.percentile(surface[good], 99.5) / np.percentile(surface[good], 0.5) < 1.02


def test_saturated_star_core_is_flagged():
    reference = make_reference_data("nircam", "nrca1", "f200w")
    sim0 = make_exposure(size=160, seed=4, scene=_empty_scene(), reference=reference)
    ra, dec = sim0.wcs.forward_transform(80.2, 79.7)
    star = Scene(
        np.array([ra]), np.array([dec]), np.array(["star"]), np.array([0.05]), *(np.zeros(1) for _ in range(4))
    )
    sim = make_exposure(size=160, seed=4, scene=star, reference=reference, pointing=sim0.true_pointing)
    dq = sim.rate.dq
    assert dq[80, 80] & DQ["SATURATED"] and dq[80, 80] & DNU and np.isnan(sim.rate.data[80, 80])
    ring = ((dq & DQ["SATURATED"]) != 0) & ((dq & DNU) == 0)
    assert ring.any()  # partially saturated pixels keep a rate from their early groups
    assert np.isfinite(sim.rate.data[ring]).all()


def test_rateints_is_a_cube_whose_mean_is_the_rate(datamodels, tmp_path):
    sim = make_exposure(size=64, seed=5, nints=3, detector="nrca3", filter="f150w")
    assert sim.rateints is not None
    model = _open(datamodels, write_exposure(sim.rateints, tmp_path / f"{sim.root}_rateints.fits"))
    assert type(model).__name__ == "CubeModel" and model.data.shape == (3, 64, 64)
    assert model.meta.exposure.nints == 3 and model.meta.subarray.name == "SUB64P"
    assert len(model.int_times) == 3 and list(model.int_times["integration_number"]) == [1, 2, 3]
    assert np.all(np.diff(model.int_times["int_mid_MJD_UTC"]) > 0)
    good = (sim.rate.dq & DNU) == 0
    np.testing.assert_allclose(sim.rate.data[good], sim.rateints.data[:, good].mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sim.rate.var_rnoise[good], sim.rateints.var_rnoise[:, good].sum(axis=0) / 9, rtol=1e-5)


def test_miri_reference_columns_and_meta(datamodels, tmp_path):
    sim = make_exposure(instrument="miri", detector="mirimage", filter="f1000w", size=64, seed=6)
    model = _open(datamodels, write_exposure(sim.rate, tmp_path / f"{sim.root}_rate.fits"))
    assert model.data.shape == (64, 72)
    meta = model.meta
    assert (meta.instrument.name, meta.instrument.detector, meta.exposure.type) == ("MIRI", "MIRIMAGE", "MIR_IMAGE")
    assert (meta.subarray.name, meta.subarray.xstart, meta.exposure.readpatt) == ("SUB64", 1, "FASTR1")
    refpix = DNU | DQ["REFERENCE_PIXEL"]
    assert ((model.dq[:, :4] & refpix) == refpix).all()
    assert not (model.dq[:, 4:] & DQ["REFERENCE_PIXEL"]).any()
    assert np.isnan(model.data[:, :4]).all()


def test_time_series_exposure(datamodels, tmp_path):
    sim = make_exposure(size=160, seed=7, nints=4, tso=True, detector="nrcb1", filter="f210m")
    model = _open(datamodels, write_exposure(sim.rateints, tmp_path / f"{sim.root}_rateints.fits"))
    assert model.meta.exposure.type == "NRC_TSIMAGE" and model.meta.visit.tsovisit is True
    assert model.meta.wcsinfo.siaf_xref_sci is not None
    with pytest.raises(ParameterError, match="nints"):
        make_exposure(size=160, tso=True, nints=1)


def test_same_seed_same_arrays():
    first = make_exposure(size=128, seed=9)
    second = make_exposure(size=128, seed=9)
    third = make_exposure(size=128, seed=10)
    for name in ("data", "err", "dq", "var_poisson", "var_rnoise"):
        np.testing.assert_array_equal(first.rate.arrays[name], second.rate.arrays[name])
    assert not np.array_equal(first.rate.data, third.rate.data, equal_nan=True)
