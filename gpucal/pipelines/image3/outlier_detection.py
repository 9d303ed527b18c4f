"""outlier_detection (image3, imaging mode): cosmic rays and other outliers flagged (jwst ``OutlierDetectionStep``).

The algorithm lives in :mod:`gpucal.outlier`: per-group single drizzles onto
the mosaic's grid, their weight-masked median by row bands within a memory
budget, the median blotted back to each exposure and compared. This step
chooses the grid (jwst's default mosaic grid, whatever the resample step's
options), stores each flagged exposure as the member's working copy (the
``_crf`` product) and records ``S_OUTLIR``.
"""

import dataclasses
import logging
import typing

from gpucal.pipelines.params import field
from gpucal.pipelines.progress import step_progress
from gpucal.pipelines.step import LibraryStep

__all__ = ["OutlierDetectionStep"]

log = logging.getLogger("gpucal")

#: Parameters of jwst's step that only its spectroscopic, coronagraphic and TSO modes use.
_NON_IMAGING = {"kernel_size": "7 7", "threshold_percent": 99.8, "rolling_window_width": 25, "ifu_second_check": False}


@dataclasses.dataclass(frozen=True)
class OutlierDetectionStep(LibraryStep):
    """Flag outliers by comparing each exposure with the median of all of them."""

    alias: typing.ClassVar[str] = "outlier_detection"
    jwst_class: typing.ClassVar[str] = "jwst.outlier_detection.outlier_detection_step.OutlierDetectionStep"

    weight_type: str = field("ivm", doc="single-drizzle weighting", choices=("ivm", "exptime"))
    pixfrac: float = field(1.0, doc="drizzle pixel shrink factor", min=0.0, max=1.0)
    kernel: str = field("square", doc="drizzle kernel", choices=("square", "point", "turbo"))
    fillval: str = field("NAN", doc="value of single-drizzle pixels without input")
    maskpt: float = field(0.7, doc="fraction of the mean weight below which a pixel is left out of the median")
    snr: str = field("5.0 4.0", doc="signal-to-noise thresholds (first pass, growth pass)")
    scale: str = field("1.2 0.7", doc="derivative scale factors (first pass, growth pass)")
    backg: float = field(0.0, doc="background level (replaced by BKGLEVEL when skymatch did not subtract)")
    kernel_size: str = field("7 7", doc="spectroscopic modes only")
    threshold_percent: float = field(99.8, doc="spectroscopic modes only")
    rolling_window_width: int = field(25, doc="TSO modes only")
    ifu_second_check: bool = field(False, doc="IFU mode only")
    save_intermediate_results: bool = field(False, doc="write the _median and _blot products (and the singles)")
    resample_data: bool = field(True, doc="median of drizzled singles (else of the inputs themselves)")
    good_bits: str = field("~DO_NOT_USE", doc="DQ bits treated as good")
    search_output_file: bool = field(False, doc="stpipe option (no effect)")
    in_memory: bool = field(True, doc="keep the singles in memory (the pipeline's in_memory wins)")
    pixmap_stepsize: float = field(1.0, doc="pixel-map sampling step (gpucal always evaluates the exact map)", min=1.0)
    pixmap_order: int = field(1, doc="spline order for a sampled pixel map", choices=(1, 3))
    memory_budget: float | None = field(
        None, doc="gpucal: bytes for the median's row bands (default: one single-drizzle image, as jwst)", min=1.0
    )

    def __post_init__(self):
        super().__post_init__()
        for name, default in _NON_IMAGING.items():
            if getattr(self, name) != default:
                log.warning("outlier_detection: %s=%r applies to non-imaging modes only; not used here", name,
                            getattr(self, name))  # fmt: skip
        if self.pixmap_stepsize != 1.0:
            log.info("outlier_detection: pixmap_stepsize=%s: gpucal evaluates the exact pixel map",
                     self.pixmap_stepsize)  # fmt: skip

    def params(self):
        from gpucal.outlier import OutlierParams

        names = {f.name for f in dataclasses.fields(OutlierParams)}
        return OutlierParams(**{n: getattr(self, n) for n in names if hasattr(self, n)})

    def process(self, library, ctx):
        from gpucal.outlier import detect_outliers
        from gpucal.resample.grid import grid_from_exposures

        if len(library) < 2:
            # jwst records SKIPPED but, the step having run, still saves its (unchanged) _crf products.
            log.warning("outlier_detection: needs at least two input exposures; skipped")
            self.mark(library, "SKIPPED")
            for member in library:
                ctx.finalize(member.meta_exposure)
                member.store(member.load())
            return library
        builder = ctx.mosaic_builder
        # With the resample step's default grid, the mosaic's grid is this step's grid (the same computation).
        grid = builder.grid if builder is not None else grid_from_exposures([m.meta_exposure for m in library])
        # The flagged exposures are stored as they are flagged: their status must already say so.
        self.mark(library, "COMPLETE")
        for member in library:
            ctx.finalize(member.meta_exposure)
        with step_progress(self.alias, 2 * len(library)) as advance:

            def progress(stage, done, total):
                if stage in ("singles", "flag"):
                    advance()

            result = detect_outliers(
                library.members, grid, self.params(), ctx.device, workdir=library.scratch,
                memory_budget=self.memory_budget, progress=progress,
                on_flagged=None if builder is None else (lambda i, exposure, pixmap: builder.add(exposure, pixmap)),
            )  # fmt: skip
        log.info("outlier_detection: %d pixels flagged in %d exposures (%.4f %% of their pixels)",
                 result.n_flagged, len(library), 100 * result.flagged_fraction)  # fmt: skip
        ctx.outlier_result = result
        if self.save_intermediate_results:
            ctx.intermediate = list(_intermediate_products(library, grid, result))
        return library


def _intermediate_products(library, grid, result):
    """``(scratch path, final name)`` of the ``_median``, ``_blot`` and single-drizzle products (jwst's names).

    They are written into the scratch folder now and committed with the rest
    of the run's products.
    """
    import numpy as np

    from gpucal.io.exposure import Exposure, write_exposure
    from gpucal.io.naming import exposure_root
    from gpucal.io.schema import keyword_meta

    def on_grid(data, wht, template, name):
        meta = keyword_meta(template.meta_tree)
        arrays = {"data": np.asarray(data, np.float32)}
        if wht is not None:
            arrays["wht"] = np.asarray(wht, np.float32)
        product = Exposure(arrays, meta, model_type="ImageModel")
        product.meta.wcs = grid.wcs
        product.meta.filename = name
        product.meta_tree["wcsinfo"] = grid.fits_wcsinfo(template.meta_tree.get("wcsinfo", {}))
        path = library.scratch / name
        write_exposure(product, path)
        return path, name

    first = library[0].meta_exposure
    if result.median is not None:
        yield on_grid(result.median, None, first, f"{library.product_name}_median.fits")
    members_of = library.groups()
    for single in result.singles:
        template = members_of[single.group_id][0]
        name = f"{exposure_root(template.name)}{'_' + library.asn_id if library.asn_id else ''}_outlier_i2d.fits"
        yield on_grid(np.load(single.sci_path), np.load(single.wht_path), template.meta_exposure, name)
    for member_result in result.members:
        if member_result.blot_path is None:
            continue
        member = library[member_result.index]
        name = library.crf_path(member, ".").name.replace("_crf.fits", "_blot.fits")
        blot = Exposure({"data": np.load(member_result.blot_path)}, keyword_meta(member.meta_exposure.meta_tree),
                        model_type="ImageModel")  # fmt: skip
        blot.meta.wcs = member.wcs
        blot.meta.filename = name
        path = library.scratch / name
        write_exposure(blot, path)
        yield path, name
