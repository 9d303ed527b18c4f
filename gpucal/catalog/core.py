"""The source catalog of a mosaic, end to end (jwst ``SourceCatalogStep.process`` without the I/O)."""

import dataclasses
import logging

import numpy as np

from gpucal._version import __version__
from gpucal.catalog.detection import detect_sources
from gpucal.catalog.photometry import CatalogBuilder
from gpucal.catalog.reference import abvega_offset, aperture_params
from gpucal.errors import InputFileError

__all__ = ["CatalogResult", "empty_catalog", "make_catalog"]

log = logging.getLogger("gpucal")

_VERSION_PACKAGES = ("Python", "numpy", "scipy", "astropy", "photutils", "gwcs")


@dataclasses.dataclass
class CatalogResult:
    """A mosaic's catalog and segmentation.

    Attributes
    ----------
    table : astropy.table.QTable
        The catalog in jwst's columns (empty, with every column, when no source was found).
    segmentation : ndarray of uint32 or None
        The segmentation image (0 = background); None for the DAO/IRAF finders.
    paths : list of pathlib.Path
        The files written (``_cat.ecsv``, ``_segm.fits``), when written.
    """

    table: object
    segmentation: object
    paths: list = dataclasses.field(default_factory=list)

    @property
    def n_sources(self):
        return len(self.table)


def _to_jy(exposure):
    """SCI and ERR in Jy per pixel (float32 as jwst's in-place scaling keeps them) as Quantities."""
    import astropy.units as u

    where = exposure.path or exposure.meta.filename or "mosaic"
    if exposure.meta.bunit_data != "MJy/sr" or exposure.meta.bunit_err != "MJy/sr":
        raise InputFileError(f"{where}: source_catalog needs SCI and ERR in MJy/sr (BUNIT is "
                             f"{exposure.meta.bunit_data}/{exposure.meta.bunit_err})")  # fmt: skip
    data = np.array(exposure.data, copy=True)
    err = np.array(exposure.err, copy=True)
    pixar_sr = exposure.meta.photometry.pixelarea_steradians
    if pixar_sr is None:
        log.warning("source_catalog: %s has no PIXAR_SR; fluxes stay in MJy/sr", where)
        return data << u.Unit("MJy/sr"), err << u.Unit("MJy/sr")
    to_jy = 1.0e6 * pixar_sr
    data *= to_jy
    err *= to_jy
    return data << u.Jy, err << u.Jy


def _meta(segments, apertures, offset):
    meta = dict(segments.meta)
    key = next((k for k in ("versions", "version") if k in meta), None)
    if key is not None and isinstance(meta[key], dict):
        versions = {k: meta[key][k] for k in _VERSION_PACKAGES if k in meta[key]}
        versions["gpucal"] = __version__
        meta[key] = versions
    meta["aperture_params"] = apertures
    meta["abvega_offset"] = offset
    return meta


def make_catalog(exposure, params, apcorr_path, abvegaoffset_path):
    """Detect, measure and tabulate the sources of a mosaic.

    Parameters
    ----------
    exposure : gpucal.io.exposure.Exposure
        The ``_i2d`` (host arrays: ``data``, ``err``, ``wht``; ``wcs``; MJy/sr).
    params : dict
        SourceCatalogStep parameters by jwst name.
    apcorr_path, abvegaoffset_path : str or None
        The references (None: jwst's fallbacks).

    Returns
    -------
    CatalogResult

    Raises
    ------
    ReferenceFileError
        A reference without a row for the mosaic's filter (names the file).
    InputFileError
        SCI/ERR not in MJy/sr, or no WHT/ERR.
    """
    meta = exposure.meta
    where = exposure.path or meta.filename or "mosaic"
    if exposure.err is None or exposure.arrays.get("wht") is None:
        raise InputFileError(f"{where}: source_catalog needs the mosaic's ERR and WHT arrays")
    instrument = str(meta.instrument.name or "").upper()
    apertures = aperture_params(
        apcorr_path, instrument=instrument, filter_name=meta.instrument.filter, pupil=meta.instrument.pupil,
        subarray=meta.subarray.name, aperture_ee=(params["aperture_ee1"], params["aperture_ee2"],
                                                  params["aperture_ee3"]),
        pixel_scale_ratio=meta.resample.pixel_scale_ratio,
    )  # fmt: skip
    offset = abvega_offset(abvegaoffset_path, instrument=instrument, filter_name=meta.instrument.filter,
                           pupil=meta.instrument.pupil, detector=meta.instrument.detector)  # fmt: skip
    coverage = np.isnan(exposure.err) | (exposure.arrays["wht"] == 0)
    data, err = _to_jy(exposure)
    segments, segm = detect_sources(data, err, coverage, exposure.wcs, params)
    crpix = (meta.wcsinfo.crpix1, meta.wcsinfo.crpix2)
    segmentation = None if segm is None else np.asarray(segm.data, dtype=np.uint32)
    if len(segments) == 0:
        log.warning("source_catalog: no sources found in %s; the catalog is empty", where)
        table = empty_catalog(data, err, exposure.wcs, crpix, params, apertures, offset)
        if params["starfinder"] == "segmentation":
            segmentation = np.zeros(exposure.data.shape, np.uint32)
        return CatalogResult(table, segmentation)
    builder = CatalogBuilder(data, err, exposure.wcs, crpix, segments, params["kernel_fwhm"], apertures, offset,
                             (params["ci1_star_threshold"], params["ci2_star_threshold"]))  # fmt: skip
    table = builder.catalog(_meta(segments, apertures, offset))
    log.info("source_catalog: %d sources in %s", len(table), where)
    return CatalogResult(table, segmentation)


def empty_catalog(data, err, wcs, crpix, params, apertures, offset):
    """A zero-row catalog with every column, unit and description of a full one.

    Built by measuring one dummy source and keeping none of its rows, so that
    the empty table's layout cannot drift from the full one's.
    """
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.table import QTable

    sky = wcs.pixel_to_world(0.0, 0.0) if wcs is not None else SkyCoord(0 * u.deg, 0 * u.deg)
    dummy = QTable({
        "id": np.array([1]), "xcentroid": np.array([0.0]), "ycentroid": np.array([0.0]), "sky_centroid": sky.reshape(1),
        "area": np.array([1.0]) * u.pix**2, "semimajor_axis": np.array([1.0]) * u.pix,
        "semiminor_axis": np.array([1.0]) * u.pix, "orientation": np.array([0.0]) * u.deg,
        "flux": np.array([0.0]) * data.unit, "segment_flux_err": np.array([0.0]) * data.unit,
        "ellipticity": np.array([0.0]) * u.dimensionless_unscaled,
        **{f"sky_bbox_{c}": sky.reshape(1) for c in ("ll", "ul", "lr", "ur")},
    })  # fmt: skip
    builder = CatalogBuilder(data, err, wcs, crpix, dummy, params["kernel_fwhm"], apertures, offset,
                             (params["ci1_star_threshold"], params["ci2_star_threshold"]))  # fmt: skip
    return builder.catalog({"aperture_params": apertures, "abvega_offset": offset})[:0]
