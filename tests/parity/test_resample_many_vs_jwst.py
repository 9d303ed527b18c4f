"""The streaming resample API (image3's engine): many exposures into one grid, and blot, vs jwst 3.0.

Four dithered exposures are calibrated by gpucal's image2 (their ``_cal``
equals jwst's, see test_image2_vs_jwst), then drizzled onto one common grid
one at a time by :class:`gpucal.resample.engine.Resampler` and by jwst's own
``ResampleImage.resample_many_to_one``; the median-like image is blotted back
to an exposure by both.
"""

import numpy as np
import pytest

from gpucal.engine import CPU
from gpucal.io.exposure import read_exposure
from gpucal.pipelines.image2 import Image2Pipeline
from gpucal.resample.engine import Resampler, ResampleSettings
from gpucal.resample.grid import grid_from_exposures
from gpucal.sim import simulate
from tests.jwst_offline import image2_step_options
from tests.parity._compare import rel_rms


@pytest.fixture(scope="module")
def cals(tmp_path_factory):
    root = tmp_path_factory.mktemp("many")
    sim = simulate(
        root / "sim",
        instrument="nircam",
        detector="nrca3",
        filter="f200w",
        exposures=4,
        backgrounds=0,
        size=160,
        seed=21,
    )
    steps = image2_step_options(sim.references, {"resample": {"skip": True}})
    paths = []
    for rate in sim.science:
        Image2Pipeline.call(str(rate), steps=steps, device="cpu", save_results=True, output_dir=str(root / "cal"))
        paths.append(root / "cal" / rate.name.replace("_rate", "_cal"))
    return paths


def _jwst_many_to_one(paths):
    from jwst.datamodels import ModelLibrary
    from jwst.resample.resample import ResampleImage

    library = ModelLibrary([str(p) for p in paths], on_disk=False)
    resampler = ResampleImage(
        library, good_bits="~DO_NOT_USE+NON_SCIENCE", blendheaders=False, enable_var=True, compute_err="from_var"
    )
    return resampler.resample_many_to_one()


def test_many_to_one_matches_jwst(cals):
    exposures = [read_exposure(p) for p in cals]
    grid = grid_from_exposures(exposures)
    resampler = Resampler(grid, CPU, ResampleSettings(), n_inputs=len(exposures))
    for exposure in exposures:  # one exposure on the device at a time
        resampler.add(exposure)
    arrays, times = resampler.finalize()
    theirs = _jwst_many_to_one(cals)
    assert arrays["data"].shape == theirs.data.shape
    covered = theirs.wht > 0
    for name, ours, ref, rtol in (("SCI", arrays["data"], theirs.data, 1e-5), ("WHT", arrays["wht"], theirs.wht, 1e-5),
                                   ("ERR", arrays["err"], theirs.err, 1e-4), ("VAR_RNOISE", arrays["var_rnoise"], theirs.var_rnoise, 1e-4),
                                   ("VAR_POISSON", arrays["var_poisson"], theirs.var_poisson, 1e-4), ("VAR_FLAT", arrays["var_flat"], theirs.var_flat, 1e-4)):  # fmt: skip
        assert rel_rms(ours, ref, covered) <= rtol, name
    np.testing.assert_array_equal(arrays["con"], theirs.con)
    assert times["pointings"] == theirs.meta.resample.pointings == 4
    assert times["exposure_time"] == pytest.approx(theirs.meta.exposure.exposure_time)
    assert times["start_time"] == pytest.approx(theirs.meta.exposure.start_time)


def test_blot_matches_drizzle(cals):
    from drizzle.resample import blot_image
    from stcal.resample.utils import calc_pixmap

    exposures = [read_exposure(p) for p in cals]
    grid = grid_from_exposures(exposures)
    resampler = Resampler(grid, CPU, ResampleSettings(), n_inputs=len(exposures))
    pixmaps = [resampler.add(e) for e in exposures]
    median, _ = resampler.finalize()
    target = exposures[2]
    ours = resampler.blot(median["data"], target, pixmaps[2])
    pixmap = calc_pixmap(target.wcs, grid.wcs, target.shape)
    pixmap[np.isnan(pixmap)] = -1
    theirs = blot_image(median["data"], pixmap, fillval=np.nan, interp="linear")  # as stcal gwcs_blot calls it
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=1e-5, atol=1e-6)


def test_drizzled_err_matches_jwst(cals):
    """``single=True``'s ERR mode (drizzle ERR itself, no variances) vs jwst's ``compute_err="driz_err"``."""
    from jwst.datamodels import ModelLibrary
    from jwst.resample.resample import ResampleImage

    exposures = [read_exposure(p) for p in cals[:2]]
    grid = grid_from_exposures(exposures)
    resampler = Resampler(grid, CPU, ResampleSettings(enable_var=False, compute_err="driz_err"), n_inputs=2)
    for exposure in exposures:
        resampler.add(exposure)
    arrays, _ = resampler.finalize()
    assert "var_rnoise" not in arrays
    library = ModelLibrary([str(p) for p in cals[:2]], on_disk=False)
    theirs = ResampleImage(library, good_bits="~DO_NOT_USE+NON_SCIENCE", blendheaders=False, enable_var=False, compute_err="driz_err").resample_many_to_one()
    covered = theirs.wht > 0
    assert rel_rms(arrays["err"], theirs.err, covered) <= 1e-5
    assert rel_rms(arrays["data"], theirs.data, covered) <= 1e-5
