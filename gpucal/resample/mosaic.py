"""image3's resample: every exposure of a library drizzled onto one mosaic grid (jwst ``ResampleImage``).

Exposures are read one at a time, moved to the device, added to a
:class:`~gpucal.resample.engine.Resampler` whose output planes stay on the
device for the whole run, and dropped; only the mosaic grows with the sky
area, nothing grows with the number of exposures.
"""

import logging
import warnings

from gpucal.errors import GpucalWarning
from gpucal.resample.engine import ResampleSettings
from gpucal.resample.step import _resampler, build_product, output_grid

__all__ = ["resample_library"]

log = logging.getLogger("gpucal")


def resample_library(step, library, device, *, allocator=None, progress=None):
    """Drizzle every member of ``library`` onto the mosaic grid; returns the ``_i2d`` Exposure.

    Parameters
    ----------
    step : gpucal.pipelines.image2.resample.ResampleStep
        The resample parameters (jwst's names).
    library : gpucal.io.library.ExposureLibrary
    device : gpucal.engine.Device
    allocator : callable, optional
        Host allocator for reads (pinned memory on a GPU).
    progress : callable, optional
        Called once per exposure added.
    """
    members = list(library)
    metas = [m.meta_exposure for m in members]
    grid = output_grid(step, metas)
    log.info(
        "resample: mosaic grid %d x %d, pixel scale %.5f arcsec, %d exposures",
        grid.shape[1], grid.shape[0], grid.pixel_scale * 3600, len(members),
    )  # fmt: skip
    resampler, _ = _resampler(grid, ResampleSettings.from_step(step), device, len(members), [])
    for member in members:
        exposure = member.load(**({"allocator": allocator} if allocator else {}))
        if resampler.device.uses_cupy:
            exposure.to_device(resampler.device)
        resampler.add(exposure)
        del exposure
        if progress is not None:
            progress()
    arrays, times = resampler.finalize()
    if not bool((arrays["wht"] > 0).any()):
        warnings.warn("resample: no input pixel landed on the mosaic grid; the _i2d is empty", GpucalWarning, stacklevel=2)
    if not step.report_var:
        for name in ("var_rnoise", "var_flat", "var_poisson"):
            arrays.pop(name, None)
    product = build_product(metas[0], arrays, times, grid, step, metas)
    product.meta.filename = f"{library.product_name}_i2d.fits"
    product.meta.asn.pool_name = library.asn_pool
    product.meta.asn.table_name = library.asn_table
    return product
