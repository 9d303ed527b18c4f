"""tweakreg (image3): astrometric alignment of the exposures (jwst 3.0 ``TweakRegStep``).

Per exposure (one loaded at a time) a source catalog is made (or a custom
one read) and only the catalog is kept; exposures are aligned group by group
(``group_id``) with tweakwcs, first to each other, then, when ``abs_refcat``
names a catalog file, all together to it. A successful fit replaces the
exposure's gwcs (``v2v3corr`` frame), ``S_REGION`` and the SIP keywords and
records ``S_TWKREG = COMPLETE``; when the alignment cannot be done (one
group, too few sources or matches, a rejected fit) the step says so and
leaves every WCS as it was, with ``S_TWKREG = FAILED`` (jwst 3.0's
``record_step_status(success=False)``), as jwst does. A skipped step
(``skip=True``) records ``SKIPPED``.
"""

import dataclasses
import logging
import math
import pathlib
import typing

from gpucal.errors import InputFileError, ParameterError
from gpucal.pipelines.params import field
from gpucal.pipelines.progress import step_progress
from gpucal.pipelines.step import LibraryStep

__all__ = ["TweakRegStep"]

log = logging.getLogger("gpucal")

_FIT_GEOMETRIES = ("shift", "rshift", "rscale", "general")


@dataclasses.dataclass(frozen=True)
class TweakRegStep(LibraryStep):
    """Align the exposures' WCSs on sources detected in them (and optionally on an absolute catalog file)."""

    alias: typing.ClassVar[str] = "tweakreg"
    jwst_class: typing.ClassVar[str] = "jwst.tweakreg.tweakreg_step.TweakRegStep"

    save_catalogs: bool = field(False, doc="write each exposure's source catalog (<cal-stem>_cat.<catalog_format>)")
    use_custom_catalogs: bool = field(False, doc="use user-provided catalogs (catfile, ASN or TCATFILE)")
    catalog_format: str = field("ecsv", doc="format of the saved catalogs", choices=("ecsv", "fits"))
    catfile: str = field("", doc="file listing '<exposure> <catalog>' pairs of custom catalogs")
    starfinder: str = field("iraf", doc="source finder", choices=("dao", "iraf", "segmentation"))
    snr_threshold: float = field(10.0, doc="detection threshold, in background RMS", min=0.0)
    kernel_fwhm: float = field(2.5, doc="Gaussian kernel FWHM (pixels)", min=0.0)
    bkg_boxsize: int = field(400, doc="background mesh box size (pixels)", min=1)
    minsep_fwhm: float = field(0.0, doc="minimum separation of detections, in kernel FWHM (dao, iraf)", min=0.0)
    sigma_radius: float = field(1.5, doc="truncation radius of the kernel, in sigma (dao, iraf)", min=0.0)
    sharplo: float = field(0.5, doc="lower bound on sharpness (dao, iraf)")
    sharphi: float = field(2.0, doc="upper bound on sharpness (dao, iraf)")
    roundlo: float = field(0.0, doc="lower bound on roundness (dao, iraf)")
    roundhi: float = field(0.2, doc="upper bound on roundness (dao, iraf)")
    brightest: int = field(200, doc="keep the brightest N sources (dao, iraf)", min=1)
    peakmax: float | None = field(None, doc="drop sources with a peak >= peakmax (dao, iraf)")
    npixels: int = field(10, doc="minimum connected pixels of a source (segmentation)", min=1)
    connectivity: int = field(8, doc="pixel connectivity (segmentation)", choices=(4, 8))
    nlevels: int = field(32, doc="multi-thresholding levels for deblending (segmentation)", min=1)
    contrast: float = field(0.001, doc="deblending contrast (segmentation)", min=0.0, max=1.0)
    multithresh_mode: str = field("exponential", doc="deblending thresholds (segmentation)",
                                  choices=("exponential", "linear", "sinh"))  # fmt: skip
    localbkg_width: int = field(0, doc="local background annulus width (segmentation)", min=0)
    apermask_method: str = field("correct", doc="neighbour handling in apertures (segmentation)",
                                 choices=("correct", "mask", "none"))  # fmt: skip
    kron_params: tuple[float, ...] | None = field(None, doc="Kron aperture parameters (segmentation; 2 or 3 values)")
    deblend: bool = field(True, doc="deblend sources (segmentation)")
    enforce_user_order: bool = field(False, doc="align the groups in input order")
    expand_refcat: bool = field(False, doc="add unmatched sources to the reference catalog")
    minobj: int = field(15, doc="minimum number of matched sources for a fit", min=1)
    fitgeometry: str = field("rshift", doc="fit geometry", choices=_FIT_GEOMETRIES)
    nclip: int = field(3, doc="clipping iterations of the fit", min=0)
    sigma: float = field(3.0, doc="clipping limit, in sigma", min=0.0)
    searchrad: float = field(2.0, doc="match search radius (arcsec)", min=0.0)
    use2dhist: bool = field(True, doc="find the initial offset with a 2-D histogram")
    separation: float = field(1.0, doc="minimum source separation for xyxymatch (arcsec)", min=0.0)
    tolerance: float = field(0.7, doc="matching tolerance (arcsec)", min=0.0)
    xoffset: float = field(0.0, doc="initial guess of the X offset (arcsec)")
    yoffset: float = field(0.0, doc="initial guess of the Y offset (arcsec)")
    abs_refcat: str = field("", doc="absolute reference catalog file (GAIA* web catalogs need the network)")
    save_abs_catalog: bool = field(False, doc="write the web reference catalog used (web catalogs only)")
    abs_minobj: int = field(15, doc="minimum matched sources for the absolute fit", min=1)
    abs_fitgeometry: str = field("rshift", doc="absolute fit geometry", choices=_FIT_GEOMETRIES)
    abs_nclip: int = field(3, doc="clipping iterations of the absolute fit", min=0)
    abs_sigma: float = field(3.0, doc="clipping limit of the absolute fit, in sigma", min=0.0)
    abs_searchrad: float = field(6.0, doc="absolute match search radius (arcsec)", min=0.0)
    abs_use2dhist: bool = field(True, doc="2-D histogram for the absolute initial offset")
    abs_separation: float = field(1.0, doc="absolute minimum source separation (arcsec)", min=0.0)
    abs_tolerance: float = field(0.7, doc="absolute matching tolerance (arcsec)", min=0.0)
    sip_approx: bool = field(True, doc="refit the FITS SIP approximation of the corrected WCS")
    sip_max_pix_error: float = field(0.01, doc="maximum forward SIP error (pixels)", min=0.0)
    sip_degree: int | None = field(None, doc="forward SIP degree (None: lowest meeting the error)", min=1, max=6)
    sip_max_inv_pix_error: float = field(0.01, doc="maximum inverse SIP error (pixels)", min=0.0)
    sip_inv_degree: int | None = field(None, doc="inverse SIP degree (None: lowest meeting the error)", min=1, max=6)
    sip_npoints: int = field(12, doc="grid points per axis of the SIP fit", min=3)
    in_memory: bool = field(True, doc="unused by gpucal's library, which never holds all inputs (kept for jwst files)")

    def __post_init__(self):
        super().__post_init__()
        from gpucal.tweakreg.align import WEB_CATALOGS, check_separation

        check_separation(self.separation, self.tolerance)
        if self.kron_params is not None and len(self.kron_params) not in (2, 3):
            raise ParameterError(f"tweakreg.kron_params: expected 2 or 3 values, got {len(self.kron_params)}")
        if self.sharplo > self.sharphi:
            raise ParameterError(f"tweakreg.sharplo ({self.sharplo}) is above tweakreg.sharphi ({self.sharphi})")
        if self.roundlo > self.roundhi:
            raise ParameterError(f"tweakreg.roundlo ({self.roundlo}) is above tweakreg.roundhi ({self.roundhi})")
        if self.abs_refcat.strip():
            check_separation(self.abs_separation, self.abs_tolerance, prefix="abs_")
            if self.abs_refcat.strip().upper() in WEB_CATALOGS:
                raise ParameterError(
                    f"tweakreg.abs_refcat={self.abs_refcat.strip()!r} is a web catalog and gpucal runs offline; pass "
                    "a catalog file (ECSV or FITS with RA and DEC columns) instead"
                )
            if self.save_abs_catalog:
                raise ParameterError(
                    "tweakreg.save_abs_catalog: jwst writes the reference catalog only when it fetched one from the "
                    f"web; abs_refcat={self.abs_refcat.strip()!r} is already a file, so there is nothing to save"
                )
        for name in ("snr_threshold", "kernel_fwhm", "searchrad", "tolerance", "abs_searchrad", "abs_tolerance"):
            if not math.isfinite(getattr(self, name)):
                raise ParameterError(f"tweakreg.{name}: must be finite, got {getattr(self, name)!r}")

    # -- parameter groups ----------------------------------------------------
    def finder_params(self):
        """The source-finding parameters as a :class:`gpucal.tweakreg.FinderParams`."""
        from gpucal.tweakreg.catalog import FinderParams

        names = {f.name for f in dataclasses.fields(FinderParams)}
        return FinderParams(**{name: getattr(self, name) for name in names})

    def sip_options(self):
        from gpucal.tweakreg.update import SipOptions

        return SipOptions(self.sip_approx, self.sip_max_pix_error, self.sip_degree, self.sip_max_inv_pix_error,
                          self.sip_inv_degree, self.sip_npoints)  # fmt: skip

    # -- running -------------------------------------------------------------
    def process(self, library, ctx):
        from gpucal.tweakreg.align import AlignmentError, absolute_align, read_reference_catalog, relative_align

        n_groups = len(library.groups())
        absolute = bool(self.abs_refcat.strip())
        refcat = read_reference_catalog(self.abs_refcat) if absolute else None
        expand_refcat = True if absolute else self.expand_refcat
        if not absolute and not self.save_catalogs and n_groups == 1:
            log.warning("tweakreg: at least two exposures (groups) are required for image alignment; skipped")
            self.mark(library, "FAILED")
            return library

        correctors = self._correctors(library, ctx)
        log.info("tweakreg: number of image groups to be aligned: %d", n_groups)
        relative_failed = True
        if n_groups > 1:
            try:
                relative_align(
                    correctors, searchrad=self.searchrad, separation=self.separation, use2dhist=self.use2dhist,
                    tolerance=self.tolerance, xoffset=self.xoffset, yoffset=self.yoffset,
                    enforce_user_order=self.enforce_user_order, expand_refcat=expand_refcat, minobj=self.minobj,
                    fitgeometry=self.fitgeometry, nclip=self.nclip, sigma=self.sigma,
                )  # fmt: skip
                relative_failed = False
            except AlignmentError as exc:
                log.warning("tweakreg: %s; the WCSs are left unchanged", exc)
        if absolute:
            log.info("tweakreg: aligning to the absolute reference catalog %s", self.abs_refcat)
            try:
                absolute_align(
                    correctors, refcat, searchrad=self.abs_searchrad, separation=self.abs_separation,
                    use2dhist=self.abs_use2dhist, tolerance=self.abs_tolerance, minobj=self.abs_minobj,
                    fitgeometry=self.abs_fitgeometry, nclip=self.abs_nclip, sigma=self.abs_sigma,
                )  # fmt: skip
            except AlignmentError as exc:
                log.warning("tweakreg: %s; the WCSs are left unchanged", exc)
                self.mark(library, "FAILED")
                return library
        elif relative_failed:
            self.mark(library, "FAILED")
            return library
        self._apply(library, correctors, absolute)
        return library

    def _correctors(self, library, ctx):
        """Detect (or read) each exposure's sources, one exposure loaded at a time; returns the correctors."""
        from gpucal.tweakreg.align import make_corrector
        from gpucal.tweakreg.catalog import filter_by_bounding_box, find_sources, rename_position_columns
        from gpucal.tweakreg.files import custom_catalogs, read_catalog, write_catalog

        catalogs = custom_catalogs(library, self.catfile) if self.use_custom_catalogs else None
        params = self.finder_params()
        out_dir = pathlib.Path(self.output_dir or ctx.output_dir)
        correctors = []
        with step_progress(self.alias, len(library)) as advance:
            for member in library:
                name = member.name
                custom = None
                if catalogs is not None:
                    custom = catalogs.get(name, member.meta.tweakreg_catalog or None)
                if custom:
                    member.meta.tweakreg_catalog = str(custom)
                    log.info("tweakreg: %s: using the user-provided catalog %s", name, custom)
                    catalog = rename_position_columns(read_catalog(custom), source=str(custom))
                    save = False
                else:
                    exposure = member.load()
                    if exposure.data.ndim != 2:
                        raise InputFileError(f"{member.source}: tweakreg needs 2-D images, SCI is {exposure.shape}")
                    catalog = find_sources(exposure.data, exposure.dq, params, err=exposure.err)
                    del exposure
                    catalog = rename_position_columns(catalog, source=name)
                    save = self.save_catalogs
                bbox = member.wcs.bounding_box
                catalog = filter_by_bounding_box(catalog, None if bbox is None else bbox.bounding_box(order="F"))
                stem = pathlib.Path(name).stem.strip("_- ")
                catalog.meta.setdefault("name", stem)
                if len(catalog) == 0:
                    log.warning("tweakreg: no sources found in %s", name)
                else:
                    log.info("tweakreg: detected %d sources in %s", len(catalog), name)
                if save:
                    member.meta.tweakreg_catalog = write_catalog(catalog, name, out_dir, self.catalog_format)
                wcsinfo = member.meta.wcsinfo.to_dict()
                correctors.append(make_corrector(member.wcs, wcsinfo, catalog, member.group_id, catalog.meta["name"]))
                advance()
        return correctors

    def _apply(self, library, correctors, absolute):
        from gpucal.tweakreg.align import fit_succeeded
        from gpucal.tweakreg.update import apply_correction

        sip = self.sip_options()
        wcs_name = f"FIT-LVL3-{self.abs_refcat.strip()}" if absolute else None
        for member, corrector in zip(library, correctors, strict=True):
            if fit_succeeded(corrector):
                apply_correction(member.meta_exposure, corrector.wcs, member.shape, sip, wcs_name=wcs_name)
            member.meta.cal_step.set(self.status_key, "COMPLETE")
