"""source_catalog: the mosaic's catalog and segmentation map (jwst ``SourceCatalogStep``).

Parameters carry jwst 3.0's names and defaults. The APCORR and ABVEGAOFFSET
references are selected like any other (``override_apcorr``, a local
reference folder, a CRDS cache); ``N/A`` gives jwst's fallbacks (radii 1, 2,
3 pixels without aperture correction; Vega = AB). With ``save_results`` the
step writes ``<product>_cat.ecsv`` and (segmentation finder)
``<product>_segm.fits`` into the output folder, each atomically. Unlike jwst
3.0, which writes nothing when no source is found, an empty catalog (every
column, zero rows) and an all-zero segmentation map are written.
"""

import dataclasses
import logging
import pathlib
import time
import typing

from gpucal.catalog import abvega_offset, aperture_params, make_catalog, write_catalog, write_segmentation
from gpucal.errors import ParameterError
from gpucal.pipelines.params import field
from gpucal.pipelines.step import Step

__all__ = ["SourceCatalogStep"]

log = logging.getLogger("gpucal")


@dataclasses.dataclass(frozen=True)
class SourceCatalogStep(Step):
    """Detect and measure the sources of a resampled mosaic (jwst ``SourceCatalogStep``).

    ``run(mosaic, ctx)`` returns a :class:`gpucal.catalog.CatalogResult`
    (``table``, ``segmentation``, ``paths`` of the files written) and leaves
    the mosaic unchanged.
    """

    alias: typing.ClassVar[str] = "source_catalog"
    jwst_class: typing.ClassVar[str] = "jwst.source_catalog.source_catalog_step.SourceCatalogStep"
    reference_file_types: typing.ClassVar[tuple] = ("apcorr", "abvegaoffset")
    cal_step: typing.ClassVar[str | None] = "source_catalog"

    suffix: str | None = field("cat", doc="suffix of the catalog file")
    aperture_ee1: int = field(30, doc="aperture encircled energy 1 (percent)")
    aperture_ee2: int = field(50, doc="aperture encircled energy 2 (percent)")
    aperture_ee3: int = field(70, doc="aperture encircled energy 3 (percent)")
    ci1_star_threshold: float = field(2.0, doc="CI 1 star threshold")
    ci2_star_threshold: float = field(1.8, doc="CI 2 star threshold")
    starfinder: str = field("segmentation", doc="star finder", choices=("dao", "iraf", "segmentation"))
    snr_threshold: float = field(3.0, doc="SNR threshold above the background")
    bkg_boxsize: int = field(1000, doc="background mesh box size (pixels)")
    kernel_fwhm: float = field(2.0, doc="Gaussian kernel FWHM (pixels)")
    minsep_fwhm: float = field(0.0, doc="dao/iraf: minimum separation (FWHM)")
    sigma_radius: float = field(1.5, doc="dao/iraf: kernel truncation radius (sigma)")
    sharplo: float = field(0.5, doc="dao/iraf: lower sharpness bound")
    sharphi: float = field(2.0, doc="dao/iraf: upper sharpness bound")
    roundlo: float = field(0.0, doc="dao/iraf: lower roundness bound")
    roundhi: float = field(0.2, doc="dao/iraf: upper roundness bound")
    brightest: int = field(200, doc="dao/iraf: keep the brightest objects")
    peakmax: float | None = field(None, doc="dao/iraf: drop objects with peak >= peakmax")
    npixels: int = field(25, doc="minimum number of connected pixels")
    connectivity: int = field(8, doc="pixel connectivity", choices=(4, 8))
    nlevels: int = field(32, doc="multi-thresholding levels for deblending")
    contrast: float = field(0.001, doc="flux fraction for a deblended object")
    multithresh_mode: str = field("exponential", doc="multi-thresholding mode",
                                  choices=("exponential", "linear", "sinh"))  # fmt: skip
    localbkg_width: int = field(0, doc="width of the local-background annulus of SourceCatalog")
    apermask_method: str = field("correct", doc="neighbour handling", choices=("correct", "mask", "none"))
    kron_params: tuple[float, ...] | None = field(None, doc="Kron aperture parameters (2 or 3 values)")
    deblend: bool = field(True, doc="deblend sources")

    def __post_init__(self):
        super().__post_init__()
        if self.kron_params is not None and not 2 <= len(self.kron_params) <= 3:
            raise ParameterError(f"{self.alias}.kron_params: expected 2 or 3 values, got {len(self.kron_params)}")
        ee = (self.aperture_ee1, self.aperture_ee2, self.aperture_ee3)
        if not (0 < ee[0] < ee[1] < ee[2] < 100):
            raise ParameterError(f"{self.alias}.aperture_ee1/2/3: need 0 < ee1 < ee2 < ee3 < 100, got {ee}")

    def _reference_or_none(self, reftype, mosaic, ctx):
        path = self.reference(reftype, mosaic, ctx)
        if path == "N/A":
            return None
        log.info("%s: using %s reference %s", self.alias, reftype.upper(), path)
        return path

    def check_references(self, meta, ctx, source=None):
        """Select the APCORR and ABVEGAOFFSET references for ``meta`` and check that they have its rows.

        image3 calls this with its first input's meta (instrument, filter, pupil and subarray are the mosaic's)
        before its first step, so that a reference made for another filter stops the run at once with a
        :class:`ReferenceFileError` naming the file (exit code 5), not after the mosaic has been built.
        """
        if self.skip:
            return
        selector = ctx.references(self)
        apcorr = selector.select("apcorr", meta, source=source)
        abvega = selector.select("abvegaoffset", meta, source=source)
        instrument = str(meta.instrument.name or "").upper()
        if apcorr != "N/A":
            aperture_params(apcorr, instrument=instrument, filter_name=meta.instrument.filter,
                            pupil=meta.instrument.pupil, subarray=meta.subarray.name,
                            aperture_ee=(self.aperture_ee1, self.aperture_ee2, self.aperture_ee3),
                            pixel_scale_ratio=1.0)  # fmt: skip
        if abvega != "N/A":
            abvega_offset(abvega, instrument=instrument, filter_name=meta.instrument.filter,
                          pupil=meta.instrument.pupil, detector=meta.instrument.detector)  # fmt: skip

    def output_paths(self, ctx):
        """``(<product>_cat.ecsv, <product>_segm.fits)`` in the step's (else the run's) output folder."""
        folder = pathlib.Path(self.output_dir or ctx.output_dir)
        root = self.output_file or ctx.product_name
        return folder / f"{root}_{self.suffix or 'cat'}.ecsv", folder / f"{root}_segm.fits"

    def process(self, mosaic, ctx):
        """Make the catalog of ``mosaic`` (host arrays); write the products when ``save_results``."""
        apcorr = self._reference_or_none("apcorr", mosaic, ctx)
        abvega = self._reference_or_none("abvegaoffset", mosaic, ctx)
        result = make_catalog(mosaic, self.to_dict(), apcorr, abvega)
        if self.save_results:
            cat_path, segm_path = self.output_paths(ctx)
            result.paths.append(write_catalog(result.table, cat_path))
            if result.segmentation is not None:
                result.paths.append(write_segmentation(result.segmentation, mosaic, segm_path))
            ctx.written.extend(result.paths)
        return result

    def run(self, mosaic, ctx, *args):
        """Run the step (or log it as skipped); returns the CatalogResult, or None when skipped."""
        if self.skip:
            log.info("%s: skipped", self.alias)
            ctx.timings.append((self.alias, 0.0, "skipped"))
            return None
        start = time.perf_counter()
        result = self.process(mosaic, ctx)
        elapsed = time.perf_counter() - start
        ctx.timings.append((self.alias, elapsed, "COMPLETE"))
        log.info("%-18s %-9s %8.3f s (%d sources)", self.alias, "COMPLETE", elapsed, result.n_sources)
        return result
