"""The resample step's driver: one exposure (image2) or many (image3) into an ``_i2d`` product.

The product's meta is built as jwst's ``ResampleImage`` builds it: the
keyworded meta of the first input (``model.update``), then the drizzle
parameters, the exposure-time sums over pointings, the grid's pixel area, the
grid's FITS WCS keywords (pointing and SIP keywords removed), the combined
S_REGION and ``S_RESAMP = COMPLETE``.
"""

import logging
import warnings

from gpucal.engine import CPU
from gpucal.errors import DeviceMemoryError, GpucalWarning, HostFallbackWarning
from gpucal.io.exposure import Exposure
from gpucal.io.schema import keyword_meta
from gpucal.resample.engine import Resampler, ResampleSettings
from gpucal.resample.grid import combined_s_region, grid_from_exposures, grid_from_file

__all__ = ["build_product", "output_grid", "resample_exposure"]

log = logging.getLogger("gpucal")


def output_grid(step, exposures):
    """The output grid a resample step asks for (``output_wcs`` file, or built from the inputs)."""
    if step.output_wcs:
        return grid_from_file(step.output_wcs, output_shape=step.output_shape).with_reference_exposure(exposures[0])
    return grid_from_exposures(
        exposures, pixel_scale_ratio=step.pixel_scale_ratio, pixel_scale=step.pixel_scale, rotation=step.rotation,
        crpix=step.crpix, crval=step.crval, output_shape=step.output_shape,
    )  # fmt: skip


def build_product(first, arrays, times, grid, step, exposures, *, meta=None):
    """The ``_i2d`` Exposure from the resampled arrays (jwst's ``update_output_model`` and ``finalize``).

    ``meta`` is the meta tree to start from (default: the keyworded meta of
    ``first``; image3 passes the inputs' blended meta, see :mod:`gpucal.io.blend`).
    """
    meta = keyword_meta(first.meta_tree) if meta is None else meta
    product = Exposure(dict(arrays), meta, model_type="ImageModel")
    m = product.meta
    m.wcs = grid.wcs
    m.photometry.pixelarea_steradians = grid.pixar_sr
    m.photometry.pixelarea_arcsecsq = grid.pixar_a2
    m.resample.pointings = times["pointings"]
    m.resample.pixel_scale_ratio = grid.pixel_scale_ratio
    m.resample.pixfrac = step.pixfrac
    m.resample.kernel = step.kernel
    m.resample.fillval = step.fillval
    m.resample.weight_type = step.weight_type
    m.exposure.exposure_time = times["exposure_time"]
    m.exposure.start_time = times["start_time"]
    m.exposure.end_time = times["end_time"]
    m.exposure.duration = times["duration"]
    m.exposure.measurement_time = times["measurement_time"]
    m.exposure.effective_exposure_time = times["exposure_time"]
    m.exposure.elapsed_exposure_time = times["duration"]
    m.background.level = None
    m.background.subtracted = None
    if "err" not in arrays:
        m.bunit_err = None
    wcsinfo = grid.fits_wcsinfo(product.meta_tree.get("wcsinfo", {}))
    s_region = combined_s_region(exposures, grid)
    if s_region is not None:
        wcsinfo["s_region"] = s_region
    product.meta_tree["wcsinfo"] = wcsinfo
    m.cal_step.resample = "COMPLETE"
    return product


def _resampler(grid, settings, device, n_inputs, exposures):
    """A Resampler on ``device``, or on the CPU (with a warning) when the GPU lacks memory for the grid."""
    try:
        return Resampler(grid, device, settings, n_inputs=n_inputs), exposures
    except DeviceMemoryError as exc:
        warnings.warn(f"{exc}; resampling on the CPU instead", HostFallbackWarning, stacklevel=3)
        return Resampler(grid, CPU, settings, n_inputs=n_inputs), [e.host_copy() for e in exposures]


def resample_exposure(step, exposure, ctx):
    """image2's resample: drizzle one calibrated exposure onto its own grid; returns the ``_i2d``."""
    if step.pixmap_stepsize != 1:
        log.info(
            "resample: pixmap_stepsize=%s ignored: gpucal evaluates the exact pixel map, faster than a sampled one",
            step.pixmap_stepsize,
        )
    grid = output_grid(step, [exposure])
    log.info(
        "resample: output grid %d x %d, pixel scale %.5f arcsec", grid.shape[1], grid.shape[0], grid.pixel_scale * 3600
    )
    resampler, (source,) = _resampler(grid, ResampleSettings.from_step(step), ctx.device, 1, [exposure])
    resampler.add(source)
    arrays, times = resampler.finalize()
    if not bool((arrays["wht"] > 0).any()):
        warnings.warn(
            f"resample: no pixel of {exposure.path or exposure.meta.filename} landed on the output grid; "
            "the _i2d is empty",
            GpucalWarning,
            stacklevel=2,
        )
    if not step.report_var:
        for name in ("var_rnoise", "var_flat", "var_poisson"):
            arrays.pop(name, None)
    product = build_product(exposure, arrays, times, grid, step, [exposure])
    product.meta.filename = f"{ctx.product_name}_i2d.fits"
    return product
