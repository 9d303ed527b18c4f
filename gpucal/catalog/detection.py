"""Background, detection and segment measurements (jwst's ``make_tweakreg_catalog`` as source_catalog calls it).

A 2-D background (photutils ``Background2D``: ``bkg_boxsize`` meshes, 3x3
median filter, 3-sigma clipped median, coverage mask; one mesh over the
whole image when the meshes cannot be estimated) is subtracted; pixels above
``snr_threshold`` x the background RMS are detected on the image convolved
with a Gaussian of FWHM ``kernel_fwhm`` (photutils ``SourceFinder``, with
deblending), and photutils ``SourceCatalog`` measures the segments on the
background-subtracted image. ``starfinder='dao'|'iraf'`` use photutils'
DAOStarFinder / IRAFStarFinder at the median threshold instead (no
segmentation image), as jwst does.
"""

import logging
import warnings

import numpy as np

from gpucal.catalog.fast import background_images, fast_circular_peaks

__all__ = ["SEGMENT_COLUMNS", "background", "detect_sources"]

log = logging.getLogger("gpucal")

#: photutils' default SourceCatalog columns plus what jwst adds (its SOURCECAT_COLUMNS).
SEGMENT_COLUMNS = (
    "label", "x_centroid", "y_centroid", "sky_centroid", "bbox_xmin", "bbox_xmax", "bbox_ymin", "bbox_ymax", "area",
    "semimajor_axis", "semiminor_axis", "orientation", "eccentricity", "min_value", "max_value", "segment_flux",
    "segment_flux_err", "kron_flux", "kron_flux_err", "ellipticity", "sky_bbox_ll", "sky_bbox_ul", "sky_bbox_lr",
    "sky_bbox_ur",
)  # fmt: skip

_RENAME = {
    "pa": "orientation", "npix": "area", "segment_flux": "flux", "label": "id",
    "x_centroid": "xcentroid", "y_centroid": "ycentroid",
}  # fmt: skip


def background(data, box_size, coverage_mask):
    """The photutils ``Background2D`` of ``data`` (jwst's ``JWSTBackground``).

    Parameters
    ----------
    data : ndarray or Quantity
    box_size : int
    coverage_mask : ndarray of bool
        True where the mosaic has no data.

    Returns
    -------
    photutils.background.Background2D

    Raises
    ------
    ValueError
        When even a single mesh over the whole image cannot be estimated.
    """
    from astropy.stats import SigmaClip
    from astropy.utils.exceptions import AstropyUserWarning
    from photutils.background import Background2D, MedianBackground

    kwargs = {"filter_size": (3, 3), "coverage_mask": coverage_mask, "sigma_clip": SigmaClip(sigma=3.0),
              "bkg_estimator": MedianBackground()}  # fmt: skip
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=AstropyUserWarning)
        try:
            return Background2D(data, np.asarray(box_size).astype(int), **kwargs)
        except ValueError:
            bkg = Background2D(data, data.shape, exclude_percentile=100.0, **kwargs)
            log.info("source_catalog: background meshes unusable; one mesh over the whole image (%s)", data.shape)
            return bkg


def _convolve(data, kernel_fwhm, mask):
    from astropy.convolution import Gaussian2DKernel, convolve
    from astropy.stats import gaussian_fwhm_to_sigma
    from astropy.utils.exceptions import AstropyUserWarning

    kernel = Gaussian2DKernel(kernel_fwhm * gaussian_fwhm_to_sigma)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=AstropyUserWarning)
        return convolve(data, kernel, mask=mask)


def _segmentation(data, threshold, kernel_fwhm, mask, params, error, wcs):
    from photutils import use_future_column_names
    from photutils.segmentation import SourceCatalog, SourceFinder

    conv = _convolve(data, kernel_fwhm, mask) if kernel_fwhm > 0 else data
    finder = SourceFinder(
        params["npixels"], connectivity=int(params["connectivity"]), deblend=params["deblend"],
        n_levels=params["nlevels"], contrast=params["contrast"], mode=params["multithresh_mode"], relabel=True,
        progress_bar=False,
    )  # fmt: skip
    segm = finder(conv, threshold, mask=mask)
    if segm is None:
        return None, None
    kron = params["kron_params"]
    with use_future_column_names():
        table = SourceCatalog(
            data, segm, mask=mask, convolved_data=conv, error=error, wcs=wcs,
            local_bkg_width=params["localbkg_width"], aperture_mask_method=params["apermask_method"],
            kron_params=(2.5, 1.4, 0.0) if kron is None else tuple(kron),
        ).to_table(columns=list(SEGMENT_COLUMNS))  # fmt: skip
    return table, segm


def _star_finder(name, data, threshold, kernel_fwhm, mask, params):
    from photutils import use_future_column_names
    from photutils.detection import DAOStarFinder, IRAFStarFinder

    finder_class = DAOStarFinder if name == "dao" else IRAFStarFinder
    finder = finder_class(
        np.median(threshold), kernel_fwhm, sigma_radius=params["sigma_radius"],
        min_separation=max(2, int(params["minsep_fwhm"] * kernel_fwhm + 0.5)),
        sharpness_range=(params["sharplo"], params["sharphi"]), roundness_range=(params["roundlo"], params["roundhi"]),
        peak_max=params["peakmax"], n_brightest=params["brightest"],
    )  # fmt: skip
    with use_future_column_names(), fast_circular_peaks():
        return finder(data, mask=mask), None


def _empty():
    from astropy.table import QTable

    return QTable(names=["id", "xcentroid", "ycentroid", "flux"], dtype=(int, float, float, float))


def detect_sources(data, error, coverage_mask, wcs, params):
    """Detect and measure sources in a mosaic (jwst ``make_tweakreg_catalog`` with source_catalog's options).

    Parameters
    ----------
    data, error : Quantity
        SCI and ERR in Jy per pixel.
    coverage_mask : ndarray of bool
        True where there is no data (NaN ERR or zero weight).
    wcs : gwcs.WCS
    params : dict
        The step's parameters by jwst name (``snr_threshold``, ``bkg_boxsize``,
        ``kernel_fwhm``, ``starfinder``, ``npixels``, ``connectivity``,
        ``nlevels``, ``contrast``, ``multithresh_mode``, ``deblend``,
        ``localbkg_width``, ``apermask_method``, ``kron_params`` and the DAO/IRAF
        options).

    Returns
    -------
    table : astropy.table.QTable
        Segment properties with jwst's names (``id``, ``xcentroid``, ``flux``,
        ``area``, ...); empty (4 columns) when nothing is found.
    segmentation : photutils.segmentation.SegmentationImage or None
        None for the DAO/IRAF finders and when nothing is found.
    """
    import astropy.units as u
    from astropy.utils.exceptions import AstropyUserWarning
    from photutils.utils import NoDetectionsWarning

    try:
        bkg = background(data, params["bkg_boxsize"], coverage_mask)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyUserWarning)
            sky, sky_rms = background_images(bkg, data.shape)
            threshold = params["snr_threshold"] * sky_rms
        subtracted = data - sky
    except ValueError as exc:
        log.warning("source_catalog: error determining the sky background: %s", exc.args[0])
        return _rename(_empty()), None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=NoDetectionsWarning, message="No sources were found")
        if params["starfinder"] == "segmentation":
            table, segm = _segmentation(subtracted, threshold, params["kernel_fwhm"], coverage_mask, params, error, wcs)
        else:
            table, segm = _star_finder(params["starfinder"], subtracted, threshold, params["kernel_fwhm"],
                                       coverage_mask, params)  # fmt: skip
    if not table:
        log.warning("source_catalog: no sources found in the image")
        table = _empty()
    table = _rename(table)
    if "orientation" in table.colnames:
        table["orientation"] = u.Quantity(table["orientation"], unit=u.deg)
    return table, segm


def _rename(table):
    for old, new in _RENAME.items():
        if old in table.colnames:
            table.rename_column(old, new)
    return table
