"""The resample engine's behaviour on bad or awkward input (numbers are checked in the parity tier)."""

import sys
import types

import numpy as np
import pytest

from gpucal.engine import CPU, Device
from gpucal.errors import DeviceMemoryError, ParameterError
from gpucal.resample.engine import Resampler, ResampleSettings, parse_fillval
from gpucal.resample.grid import grid_from_exposures
from tests.factories import small_exposure


@pytest.fixture
def exposure():
    from gpucal.wcs.footprint import s_region_imaging

    e = small_exposure(shape=(24, 28))
    e.meta.wcsinfo.s_region = s_region_imaging(e.wcs, e.shape)
    e.meta.photometry.pixelarea_steradians = 2.3e-14
    return e


def test_fillval_parsing():
    assert np.isnan(parse_fillval("NAN")) and parse_fillval("indef") is None and parse_fillval("0") == 0.0
    with pytest.raises(ParameterError, match="fillval"):
        parse_fillval("banana")


def test_input_with_no_valid_pixels_adds_nothing(exposure, caplog):
    grid = grid_from_exposures([exposure])
    exposure.dq[:] = 1
    resampler = Resampler(grid, CPU, ResampleSettings())
    resampler.add(exposure)
    arrays, times = resampler.finalize()
    assert np.all(arrays["wht"] == 0) and np.all(np.isnan(arrays["data"]))
    assert times["pointings"] == 1
    assert "no valid pixels" in caplog.text


def test_wcs_that_maps_to_nan_is_a_clear_error(exposure):
    grid = grid_from_exposures([exposure])
    resampler = Resampler(grid, CPU, ResampleSettings())
    resampler.pixmap = lambda e: np.full((*e.shape, 2), np.nan)
    with pytest.raises(ParameterError, match="maps no pixel onto the output grid"):
        resampler.add(exposure)


def test_grid_far_from_the_input_gives_an_empty_product(exposure):
    from tests.factories import simple_wcs

    far = small_exposure(shape=(24, 28))
    far.meta.wcs = simple_wcs((24, 28), crval=(120.0, 10.0))
    from gpucal.wcs.footprint import s_region_imaging

    far.meta.wcsinfo.s_region = s_region_imaging(far.wcs, far.shape)
    grid = grid_from_exposures([far])
    resampler = Resampler(grid, CPU, ResampleSettings())
    resampler.add(exposure)  # its pixels map far outside this grid
    arrays, _ = resampler.finalize()
    assert not np.any(arrays["wht"] > 0)


def _with_nans(exposure):
    """Make match_nans matter: NaN in one variance, DO_NOT_USE in DQ elsewhere."""
    exposure.var_rnoise[3, 4] = np.nan
    exposure.dq[5, 6] |= 1
    exposure.data[7, 8] = np.nan
    return exposure


def test_add_leaves_the_callers_arrays_alone(exposure):
    _with_nans(exposure)
    before = {name: array.copy() for name, array in exposure.arrays.items() if array is not None}
    grid = grid_from_exposures([exposure])
    for settings in (ResampleSettings(propagate_dq=True), ResampleSettings(enable_var=False, compute_err="driz_err")):
        Resampler(grid, CPU, settings).add(exposure)
    for name, array in before.items():
        np.testing.assert_array_equal(exposure.arrays[name], array, err_msg=name)


def test_propagated_dq_matches_drizzle(exposure):
    """Output DQ = drizzle's: the input DQ (after match_nans) of every contributing pixel, OR-ed."""
    from drizzle.resample import Drizzle

    from gpucal.kernels.match_nans import match_nans_ref

    _with_nans(exposure)
    rng = np.random.default_rng(3)
    exposure.dq[:] = rng.choice(np.array([0, 0, 0, 4, 16, 1 << 20, 512], np.uint32), exposure.shape)
    grid = grid_from_exposures([exposure])
    resampler = Resampler(grid, CPU, ResampleSettings(propagate_dq=True, weight_type="exptime"))
    pixmap = resampler.add(exposure)
    arrays, _ = resampler.finalize()
    a = exposure.arrays
    zeros = np.zeros(exposure.shape, np.float32)
    sci, *_, dq = match_nans_ref(a["data"], a["err"], a["var_poisson"], a["var_rnoise"], zeros, a["dq"])
    weight = np.where(dq & 513, 0, exposure.meta.exposure.measurement_time or exposure.meta.exposure.exposure_time)
    driz = Drizzle(kernel="square", fillval="NAN", out_shape=grid.shape)
    driz.add_image(
        sci, exptime=1.0, pixmap=pixmap, weight_map=weight.astype(np.float32), dq=dq,
        pixel_scale_ratio=grid.kernel_ratio, in_units="cps",
    )  # fmt: skip
    assert arrays["dq"].dtype == np.uint32 and np.any(arrays["dq"] & 16)
    np.testing.assert_array_equal(arrays["dq"], driz.out_dq)
    np.testing.assert_array_equal(arrays["wht"], driz.out_wht)


@pytest.mark.parametrize("kernel", ["square", "turbo", "gaussian", "lanczos3", "point"])
def test_variance_window_gives_the_full_grid_result(exposure, kernel):
    """Drizzling the variances into the exposure's window only changes nothing (bit for bit)."""
    from gpucal.wcs.footprint import s_region_imaging
    from tests.factories import simple_wcs

    other = small_exposure(shape=(24, 28))
    other.meta.wcs = simple_wcs((24, 28), crval=(53.16 + 1.2 / 3600, -27.78 + 0.9 / 3600))
    other.meta.wcsinfo.s_region = s_region_imaging(other.wcs, other.shape)
    grid = grid_from_exposures([exposure, other], pixel_scale_ratio=0.7, rotation=25.0)
    results = []
    for full in (False, True):
        resampler = Resampler(grid, CPU, ResampleSettings(kernel=kernel, pixfrac=0.8, fillval="-1"))
        if full:
            resampler._window = lambda pixmap, box: (0, 0, grid.shape[1], grid.shape[0])
        else:
            _x0, _y0, nx, ny = resampler._window(resampler.pixmap(exposure), (0, 27, 0, 23))
            assert nx * ny < 0.8 * grid.shape[0] * grid.shape[1]
        resampler.add(exposure)
        results.append(resampler.finalize()[0])
    for name in ("data", "wht", "err", "var_rnoise", "var_poisson", "var_flat"):
        np.testing.assert_array_equal(results[0][name], results[1][name], err_msg=name)


def test_context_grows_in_chunks_and_is_trimmed(exposure):
    grid = grid_from_exposures([exposure])
    resampler = Resampler(grid, CPU, ResampleSettings(enable_var=False, compute_err=None), n_inputs=1)
    reallocations = 0
    for _ in range(34):
        planes = resampler.con.shape[0]
        resampler.add(exposure)
        reallocations += resampler.con.shape[0] != planes
    assert reallocations == 1 and resampler.con.shape[0] == 2
    arrays, _ = resampler.finalize()
    assert arrays["con"].shape[0] == 2
    covered = arrays["wht"] > 0
    assert np.all(arrays["con"][0][covered] == -1) and np.all(arrays["con"][1][covered] == 3)


def test_unit_weights_need_no_variances(exposure):
    grid = grid_from_exposures([exposure])
    with pytest.raises(ParameterError, match="weight_type"):
        Resampler(grid, CPU, ResampleSettings(weight_type=None))
    with pytest.raises(ParameterError, match="weight_type"):
        Resampler(grid, CPU, ResampleSettings(weight_type="sky"))
    resampler = Resampler(grid, CPU, ResampleSettings(weight_type=None, enable_var=False, compute_err=None))
    exposure.dq[0, :] = 1
    resampler.add(exposure)
    arrays, _ = resampler.finalize()
    assert arrays["wht"].max() <= 1.0 + 1e-6 and arrays["wht"].max() > 0.5


def test_gpu_memory_check_counts_the_per_add_temporaries():
    settings = ResampleSettings()
    resampler = Resampler.__new__(Resampler)
    resampler.settings = settings
    assert resampler._grid_planes(33) == (2 + 2 + 6, 6)
    resampler.settings = ResampleSettings(propagate_dq=True, enable_ctx=False, enable_var=False, compute_err=None)
    assert resampler._grid_planes(1) == (3, 0)


def test_gpu_without_memory_for_the_grid(monkeypatch, exposure):
    """With a (fake) GPU reporting little free memory, the engine refuses before allocating."""
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(memGetInfo=lambda: (100, 8 << 30)))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    grid = grid_from_exposures([exposure])
    with pytest.raises(DeviceMemoryError, match=r"GiB on cuda:0 but only 0\.0 GiB"):
        Resampler(grid, Device("cuda", 0), ResampleSettings())


def test_step_falls_back_to_the_cpu_when_the_gpu_is_too_small(monkeypatch, exposure):
    from gpucal.errors import HostFallbackWarning
    from gpucal.resample import step as step_module

    calls = []

    class TooSmall(Resampler):
        def __init__(self, grid, device, settings, n_inputs=1):
            calls.append(device)
            if device.is_cuda:
                raise DeviceMemoryError("output grid needs 9.0 GiB on cuda:0 but only 1.0 GiB are free")
            super().__init__(grid, device, settings, n_inputs)

    monkeypatch.setattr(step_module, "Resampler", TooSmall)
    grid = grid_from_exposures([exposure])
    with pytest.warns(HostFallbackWarning, match="resampling on the CPU instead"):
        resampler, sources = step_module._resampler(
            grid, ResampleSettings(), Device("cuda", 0, simulated=True), 1, [exposure]
        )
    assert resampler.device == CPU and calls[0].is_cuda and len(sources) == 1


def test_i2d_carries_the_propagated_dq(exposure, tmp_path):
    from gpucal.io.exposure import read_exposure, write_exposure
    from gpucal.pipelines.resample import ResampleStep
    from gpucal.resample.step import build_product

    step = ResampleStep(propagate_dq=True)
    grid = grid_from_exposures([exposure])
    resampler = Resampler(grid, CPU, ResampleSettings.from_step(step))
    resampler.add(exposure)
    arrays, times = resampler.finalize()
    product = build_product(exposure, arrays, times, grid, step, [exposure])
    path = tmp_path / "x_i2d.fits"
    write_exposure(product, str(path))
    np.testing.assert_array_equal(read_exposure(path).dq, arrays["dq"])
    assert ResampleStep(weight_type="none").weight_type is None
