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


def test_propagate_dq_is_refused():
    with pytest.raises(ParameterError, match="propagate_dq"):
        Resampler(types.SimpleNamespace(shape=(4, 4)), CPU, ResampleSettings(propagate_dq=True))


def test_gpu_without_memory_for_the_grid(monkeypatch, exposure):
    """With a (fake) GPU reporting little free memory, the engine refuses before allocating."""
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(memGetInfo=lambda: (100, 8 << 30)))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    grid = grid_from_exposures([exposure])
    with pytest.raises(DeviceMemoryError, match="GiB on cuda:0 but only 0.0 GiB"):
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
