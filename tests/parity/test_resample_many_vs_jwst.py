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
from gpucal.errors import ParameterError
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
    tolerances = {"data": 1e-5, "wht": 1e-5, "err": 1e-4, "var_rnoise": 1e-4, "var_poisson": 1e-4, "var_flat": 1e-4}
    for name, rtol in tolerances.items():
        assert rel_rms(arrays[name], getattr(theirs, name), covered) <= rtol, name
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
    theirs = ResampleImage(
        library, good_bits="~DO_NOT_USE+NON_SCIENCE", blendheaders=False, enable_var=False, compute_err="driz_err"
    ).resample_many_to_one()
    covered = theirs.wht > 0
    assert rel_rms(arrays["err"], theirs.err, covered) <= 1e-5
    assert rel_rms(arrays["data"], theirs.data, covered) <= 1e-5


@pytest.mark.parametrize("weight_type", ["ivm", "exptime"])
def test_numeric_fillval_leaves_variances_alone(cals, weight_type):
    """fillval=0 with three partly overlapping exposures: SCI/WHT/CON/ERR/VAR_* vs jwst (stcal fills only SCI).

    The variances are separate drizzles whose empty pixels are always NaN, so
    pixels covered by only some exposures keep undiluted variances and pixels
    no exposure covers have NaN VAR_*/ERR while SCI holds 0.
    """
    from jwst.datamodels import ModelLibrary
    from jwst.resample.resample import ResampleImage

    paths = cals[:3]
    exposures = [read_exposure(p) for p in paths]
    grid = grid_from_exposures(exposures)
    settings = ResampleSettings(fillval="0", weight_type=weight_type)
    resampler = Resampler(grid, CPU, settings, n_inputs=len(exposures))
    for exposure in exposures:
        resampler.add(exposure)
    arrays, _ = resampler.finalize()
    library = ModelLibrary([str(p) for p in paths], on_disk=False)
    theirs = ResampleImage(
        library, fillval="0", weight_type=weight_type, good_bits="~DO_NOT_USE+NON_SCIENCE", blendheaders=False,
        enable_var=True, compute_err="from_var",
    ).resample_many_to_one()  # fmt: skip
    empty = theirs.wht == 0
    assert empty.any() and (theirs.con[0] != 7).any() and (theirs.con[0] == 7).any()  # partial overlaps exist
    covered = ~empty
    np.testing.assert_array_equal(arrays["data"][empty], 0.0)
    np.testing.assert_array_equal(arrays["con"], theirs.con)
    for name in ("err", "var_rnoise", "var_poisson", "var_flat"):
        ours, ref = arrays[name], getattr(theirs, name)
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg=name)
        assert np.isnan(ours[empty]).all(), name
        assert rel_rms(ours, ref, covered & np.isfinite(ref)) <= 1e-4, name
    assert rel_rms(arrays["data"], theirs.data, covered) <= 1e-5
    assert rel_rms(arrays["wht"], theirs.wht, covered) <= 1e-5


def test_unit_weights_match_stcal(cals):
    """weight_type=None: drizzle weights are stcal's ``build_driz_weight(weight_type=None)`` (the DQ mask)."""
    from drizzle.resample import Drizzle
    from jwst.datamodels import ImageModel
    from stcal.resample.utils import build_driz_weight
    from stdatamodels.jwst.datamodels.dqflags import pixel

    exposures = [read_exposure(p) for p in cals[:2]]
    grid = grid_from_exposures(exposures)
    resampler = Resampler(grid, CPU, ResampleSettings(weight_type=None, enable_var=False, compute_err=None), 2)
    pixmaps = [resampler.add(e) for e in exposures]
    arrays, _ = resampler.finalize()
    driz = Drizzle(kernel="square", fillval="NAN", out_shape=grid.shape, max_ctx_id=1)
    for path, pixmap in zip(cals[:2], pixmaps, strict=True):
        with ImageModel(str(path)) as model:
            info = {"data": model.data, "dq": model.dq}
            weight = build_driz_weight(info, None, "~DO_NOT_USE+NON_SCIENCE", flag_name_map=pixel)
            assert set(np.unique(weight)) <= {0.0, 1.0}
            driz.add_image(
                model.data, exptime=1.0, pixmap=pixmap, weight_map=weight, pixel_scale_ratio=grid.kernel_ratio,
                in_units="cps",
            )  # fmt: skip
    covered = driz.out_wht > 0
    np.testing.assert_array_equal(arrays["con"], driz.out_ctx)
    assert rel_rms(arrays["wht"], driz.out_wht, covered) <= 1e-6
    assert rel_rms(arrays["data"], driz.out_img, covered) <= 1e-6


def test_unit_weights_have_no_stcal_variance_combination(cals):
    """stcal 1.20 cannot weight variances for weight_type=None; gpucal refuses that combination up front."""
    from stcal.resample import Resample

    with pytest.raises((AttributeError, ValueError)):
        Resample(n_input_models=1, weight_type=None, output_wcs={"wcs": None})
    grid = grid_from_exposures([read_exposure(cals[0])])
    with pytest.raises(ParameterError, match="weight_type"):
        Resampler(grid, CPU, ResampleSettings(weight_type=None))
