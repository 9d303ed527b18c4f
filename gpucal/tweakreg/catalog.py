"""Source catalogs for tweakreg: background, star finder, bounding-box filter (jwst's ``tweakreg_catalog``).

jwst 3.0 finds the alignment sources of one exposure this way:

* the coverage mask is ``DQ & (DO_NOT_USE | NON_SCIENCE)`` (reference pixels,
  MIRI's non-science area);
* photutils ``Background2D`` with ``bkg_boxsize`` boxes, a 3x3 filter,
  ``SigmaClip(3)`` and ``MedianBackground``; when no box has enough pixels it
  retries with one box over the whole unmasked array
  (``exclude_percentile=100``);
* the finder runs on ``data - background``: ``IRAFStarFinder`` (default) or
  ``DAOStarFinder`` at threshold ``snr_threshold * median(background_rms)``,
  or ``SourceFinder`` + ``SourceCatalog`` (segmentation) at the per-pixel
  threshold ``snr_threshold * background_rms`` on the Gaussian-convolved data;
* the catalog keeps ``id, x, y, flux`` and only sources strictly inside the
  WCS bounding box.

The functions here do the same with the same photutils classes, so that the
catalogs (and hence the fits) are jwst's; the background images and the star
finders' peak test are computed by gpucal kernels that give photutils' values
(:mod:`gpucal.catalog.fast`).
"""

import dataclasses
import logging
import warnings

import numpy as np

from gpucal.catalog.fast import background_images, fast_circular_peaks
from gpucal.dqflags import DO_NOT_USE, NON_SCIENCE

__all__ = ["FinderParams", "filter_by_bounding_box", "find_sources", "rename_position_columns"]

log = logging.getLogger("gpucal")

#: Catalog columns jwst's tweakreg keeps (before ``xcentroid`` -> ``x`` renaming).
CATALOG_COLUMNS = ("id", "xcentroid", "ycentroid", "flux")
STARFINDERS = ("dao", "iraf", "segmentation")


@dataclasses.dataclass(frozen=True)
class FinderParams:
    """Source-finding parameters (jwst ``TweakRegStep``'s finder options; defaults are jwst's).

    Attributes
    ----------
    starfinder : {"iraf", "dao", "segmentation"}
    snr_threshold, kernel_fwhm, bkg_boxsize
        Detection threshold (in background RMS), Gaussian kernel FWHM (pixels), background box (pixels).
    minsep_fwhm, sigma_radius, sharplo, sharphi, roundlo, roundhi, brightest, peakmax
        DAO/IRAF finder options.
    npixels, connectivity, nlevels, contrast, multithresh_mode, localbkg_width, apermask_method, kron_params, deblend
        Segmentation (SourceFinder / SourceCatalog) options.
    """

    starfinder: str = "iraf"
    snr_threshold: float = 10.0
    kernel_fwhm: float = 2.5
    bkg_boxsize: int = 400
    minsep_fwhm: float = 0.0
    sigma_radius: float = 1.5
    sharplo: float = 0.5
    sharphi: float = 2.0
    roundlo: float = 0.0
    roundhi: float = 0.2
    brightest: int | None = 200
    peakmax: float | None = None
    npixels: int = 10
    connectivity: int = 8
    nlevels: int = 32
    contrast: float = 0.001
    multithresh_mode: str = "exponential"
    localbkg_width: int = 0
    apermask_method: str = "correct"
    kron_params: tuple | None = None
    deblend: bool = True

    @property
    def min_separation(self):
        """jwst's minimum separation of DAO/IRAF detections: ``max(2, int(minsep_fwhm * kernel_fwhm + 0.5))``."""
        return max(2, int(self.minsep_fwhm * self.kernel_fwhm + 0.5))


def coverage_mask(dq):
    """True where a pixel is ``DO_NOT_USE`` or ``NON_SCIENCE`` (jwst's tweakreg coverage mask)."""
    return (np.asarray(dq) & np.uint32(DO_NOT_USE | NON_SCIENCE)) > 0


def _background(data, box_size, mask):
    """photutils ``Background2D`` as jwst's ``JWSTBackground`` configures it (with its whole-array fallback)."""
    from astropy.stats import SigmaClip
    from astropy.utils.exceptions import AstropyUserWarning
    from photutils.background import Background2D, MedianBackground

    options = {"filter_size": (3, 3), "coverage_mask": mask, "sigma_clip": SigmaClip(sigma=3.0),
               "bkg_estimator": MedianBackground()}  # fmt: skip
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=AstropyUserWarning)
        try:
            return Background2D(data, int(box_size), **options)
        except ValueError:
            log.info("tweakreg: the background could not be estimated in %d-pixel boxes; using the whole unmasked "
                     "array (bkg_boxsize=%s)", box_size, data.shape)  # fmt: skip
            return Background2D(data, data.shape, exclude_percentile=100.0, **options)


def _empty_catalog():
    from astropy.table import Table

    return Table(names=CATALOG_COLUMNS, dtype=(int, float, float, float))


def _point_finder(params, threshold_image, data, mask):
    from photutils.detection import DAOStarFinder, IRAFStarFinder

    finder = DAOStarFinder if params.starfinder == "dao" else IRAFStarFinder
    threshold = float(np.median(threshold_image))
    from photutils import use_future_column_names

    find = finder(
        threshold, params.kernel_fwhm, sigma_radius=params.sigma_radius, min_separation=params.min_separation,
        sharpness_range=(params.sharplo, params.sharphi), roundness_range=(params.roundlo, params.roundhi),
        peak_max=params.peakmax, n_brightest=params.brightest,
    )  # fmt: skip
    with use_future_column_names(), fast_circular_peaks():
        return find(data, mask=mask)


def _segmentation_finder(params, threshold_image, data, mask, error):
    from astropy.convolution import Gaussian2DKernel, convolve
    from astropy.stats import gaussian_fwhm_to_sigma
    from astropy.utils.exceptions import AstropyUserWarning
    from photutils.segmentation import SourceCatalog, SourceFinder

    if params.kernel_fwhm > 0:
        kernel = Gaussian2DKernel(params.kernel_fwhm * gaussian_fwhm_to_sigma)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=AstropyUserWarning)
            convolved = convolve(data, kernel, mask=mask)
    else:
        convolved = data
    finder = SourceFinder(
        params.npixels, connectivity=params.connectivity, deblend=params.deblend, n_levels=params.nlevels,
        contrast=params.contrast, mode=params.multithresh_mode, progress_bar=False,
    )  # fmt: skip
    segments = finder(convolved, threshold_image, mask=mask)
    if segments is None:
        return None
    from photutils import use_future_column_names

    kron = (2.5, 1.4, 0.0) if params.kron_params is None else tuple(params.kron_params)
    catalog = SourceCatalog(
        data, segments, convolved_data=convolved, error=error, mask=mask, local_bkg_width=params.localbkg_width,
        aperture_mask_method=params.apermask_method, kron_params=kron,
    )  # fmt: skip
    with use_future_column_names():
        return catalog.to_table(columns=["label", "x_centroid", "y_centroid", "segment_flux"])


def find_sources(data, dq, params, *, err=None):
    """The alignment catalog of one exposure, as jwst's ``make_tweakreg_catalog`` builds it.

    Parameters
    ----------
    data : numpy.ndarray
        SCI (2-D, host).
    dq : numpy.ndarray
        DQ (2-D); ``DO_NOT_USE`` and ``NON_SCIENCE`` pixels are masked.
    params : FinderParams
    err : numpy.ndarray, optional
        ERR, used by the segmentation catalog as jwst passes it.

    Returns
    -------
    astropy.table.Table
        Columns ``id, xcentroid, ycentroid, flux`` (0-based pixel positions); empty when nothing was found or the
        background could not be determined (logged, as jwst).
    """
    from astropy.table import Table
    from astropy.utils.exceptions import AstropyUserWarning
    from photutils.utils import NoDetectionsWarning

    data = np.asarray(data)
    mask = coverage_mask(dq)
    try:
        background = _background(data, params.bkg_boxsize, mask)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyUserWarning)
            sky, sky_rms = background_images(background, data.shape)
            threshold_image = params.snr_threshold * sky_rms
        residual = data - sky
    except ValueError as exc:
        log.warning("tweakreg: error determining the sky background: %s", exc)
        return _empty_catalog()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=NoDetectionsWarning)
        if params.starfinder == "segmentation":
            sources = _segmentation_finder(params, threshold_image, residual, mask, err)
        else:
            sources = _point_finder(params, threshold_image, residual, mask)
    if not sources:
        log.warning("tweakreg: no sources found in the image")
        return _empty_catalog()
    renames = {"label": "id", "segment_flux": "flux", "x_centroid": "xcentroid", "y_centroid": "ycentroid"}
    for old, new in renames.items():
        if old in sources.colnames:
            sources.rename_column(old, new)
    return Table({name: np.asarray(getattr(sources[name], "value", sources[name])) for name in CATALOG_COLUMNS})


def rename_position_columns(catalog, *, source="catalog"):
    """Rename ``xcentroid``/``x_centroid`` to ``x`` and likewise for ``y`` (in place); returns the catalog.

    Raises
    ------
    gpucal.errors.InputFileError
        When a position column is missing (``source`` names the file).
    """
    from gpucal.errors import InputFileError

    for axis in ("x", "y"):
        if axis in catalog.colnames:
            continue
        for long_name in (f"{axis}centroid", f"{axis}_centroid"):
            if long_name in catalog.colnames:
                catalog.rename_column(long_name, axis)
                break
        else:
            raise InputFileError(
                f"{source}: a tweakreg catalog needs a column {axis!r}, '{axis}centroid' or '{axis}_centroid'"
            )
    return catalog


def filter_by_bounding_box(catalog, bounding_box):
    """Sources strictly inside ``((x_lo, x_hi), (y_lo, y_hi))`` (all of them when the box is None)."""
    if bounding_box is None or len(catalog) == 0:
        return catalog
    (x_lo, x_hi), (y_lo, y_hi) = (tuple(float(v) for v in interval) for interval in bounding_box)
    x = np.asarray(catalog["x"], dtype=float)
    y = np.asarray(catalog["y"], dtype=float)
    return catalog[(x > x_lo) & (x < x_hi) & (y > y_lo) & (y < y_hi)]
