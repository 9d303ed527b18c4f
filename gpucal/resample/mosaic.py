"""image3's resample: every exposure of a library drizzled onto one mosaic grid (jwst ``ResampleImage``).

Exposures are read one at a time, moved to the device, added to a
:class:`~gpucal.resample.engine.Resampler` whose output planes stay on the
device for the whole run, and dropped; only the mosaic grows with the sky
area, nothing grows with the number of exposures.

:class:`MosaicBuilder` lets image3 feed the mosaic from outlier detection's
flagging pass (the exposure just flagged and its pixel map onto the same grid),
so that each exposure is neither read back nor mapped again; the result is the
same drizzle, in the same order, of the same arrays.

With ``blendheaders`` (the default, as in jwst's image3) the mosaic's metadata
is the blend of its inputs' (:mod:`gpucal.io.blend`) and the product carries
the ``HDRTAB`` table of their keywords; without it, the first input's
metadata and no table.
"""

import logging
import warnings

from gpucal.errors import GpucalWarning
from gpucal.io.blend import RESAMPLE_IGNORES, MetaBlender, apply_blended, hdrtab_extension
from gpucal.io.schema import keyword_meta
from gpucal.resample.engine import ResampleSettings
from gpucal.resample.step import _resampler, build_product, output_grid

__all__ = ["MosaicBuilder", "blended_meta", "resample_library"]

log = logging.getLogger("gpucal")


class MosaicBuilder:
    """The mosaic of a library, built one exposure at a time (see :func:`resample_library`).

    Attributes
    ----------
    grid : gpucal.resample.grid.OutputGrid
    n_added : int
        Exposures drizzled so far (they must come in library order).
    seconds : float
        Wall time spent building it (so a caller feeding it from another step
        can report it as resample's); ``add_seconds`` the part in :meth:`add`.
    """

    def __init__(self, step, library, device):
        import time

        self._clock = time.perf_counter
        self.step = step
        self.library = library
        self.members = list(library)
        self.metas = [m.meta_exposure for m in self.members]
        begin = self._clock()
        self.grid = output_grid(step, self.metas)
        log.info(
            "resample: mosaic grid %d x %d, pixel scale %.5f arcsec, %d exposures",
            self.grid.shape[1], self.grid.shape[0], self.grid.pixel_scale * 3600, len(self.members),
        )  # fmt: skip
        self.resampler, _ = _resampler(
            self.grid, ResampleSettings.from_step(step), device, len(self.members), []
        )  # fmt: skip
        self.seconds = self._clock() - begin
        self.add_seconds = 0.0

    @property
    def n_added(self):
        return self.resampler.n_added

    def add(self, exposure, pixmap=None):
        """Drizzle the next member's exposure (host or device arrays); ``pixmap`` onto :attr:`grid` if known."""
        begin = self._clock()
        if self.resampler.device.uses_cupy:
            exposure.to_device(self.resampler.device)
        self.resampler.add(exposure, pixmap)
        elapsed = self._clock() - begin
        self.seconds += elapsed
        self.add_seconds += elapsed

    def finish(self):
        """The ``_i2d`` Exposure."""
        begin = self._clock()
        step, library, metas = self.step, self.library, self.metas
        arrays, times = self.resampler.finalize()
        if not bool((arrays["wht"] > 0).any()):
            warnings.warn(
                "resample: no input pixel landed on the mosaic grid; the _i2d is empty", GpucalWarning, stacklevel=3
            )
        if not step.report_var:
            for name in ("var_rnoise", "var_flat", "var_poisson"):
                arrays.pop(name, None)
        meta, hdrtab = blended_meta(metas) if step.blendheaders else (None, None)
        product = build_product(metas[0], arrays, times, self.grid, step, metas, meta=meta)
        if hdrtab is not None:
            product.tables.append(hdrtab)
        product.meta.filename = f"{library.product_name}_i2d.fits"
        product.meta.asn.pool_name = library.asn_pool
        product.meta.asn.table_name = library.asn_table
        self.seconds += self._clock() - begin
        return product


def blended_meta(exposures):
    """The mosaic's starting meta tree and ``HDRTAB`` extension from its inputs (jwst's ``ModelBlender``).

    As jwst's ``ResampleImage``: the output starts from the first input's
    keyworded meta (``model.update``), then takes the blender's result (the
    first input's whole meta, less the pixel areas and the file name that
    resample sets itself, with every blend rule applied over the inputs, in
    their order). The inputs' meta is read as it is now, after the steps
    before resample changed it, which is what jwst's models hold when they are
    added.

    Parameters
    ----------
    exposures : sequence of gpucal.io.exposure.Exposure
        The inputs (their meta; arrays are not needed).

    Returns
    -------
    meta : dict
        The meta tree for :func:`~gpucal.resample.step.build_product`.
    hdrtab : (astropy.io.fits.Header, bytes)
        The ``HDRTAB`` extension for ``Exposure.tables``.
    """
    blender = MetaBlender(ignore=RESAMPLE_IGNORES)
    for exposure in exposures:
        blender.accumulate(exposure)
    blended, table = blender.finalize()
    meta = keyword_meta(exposures[0].meta_tree)
    apply_blended(meta, blended, blender.objects)
    return meta, hdrtab_extension(table)


def resample_library(step, library, device, *, allocator=None, progress=None, builder=None):
    """Drizzle every member of ``library`` onto the mosaic grid; returns the ``_i2d`` Exposure.

    Parameters
    ----------
    step : gpucal.pipelines.resample.ResampleStep
        The resample parameters (jwst's names).
    library : gpucal.io.library.ExposureLibrary
    device : gpucal.engine.Device
    allocator : callable, optional
        Host allocator for reads (pinned memory on a GPU).
    progress : callable, optional
        Called once per exposure added.
    builder : MosaicBuilder, optional
        A mosaic already fed with the first ``builder.n_added`` members; the
        rest are read and added.
    """
    if builder is None:
        builder = MosaicBuilder(step, library, device)
    for member in builder.members[builder.n_added :]:
        exposure = member.load(**({"allocator": allocator} if allocator else {}))
        builder.add(exposure)
        del exposure
        if progress is not None:
            progress()
    return builder.finish()
