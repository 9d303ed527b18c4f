"""Relative and absolute alignment of exposure groups with tweakwcs (jwst 3.0 / stcal's ``tweakreg`` driver).

The matching (2-D histogram of pair offsets, then ``xyxymatch``) and the
fitting (``shift``, ``rshift``, ``rscale``, ``general`` with sigma clipping)
are tweakwcs's ``XYXYMatch`` and ``align_wcs``, called with the arguments
jwst passes. The corrections live in :class:`tweakwcs.correctors.JWSTWCSCorrector`
objects, which insert (or compose into) the ``v2v3corr`` frame of each gwcs.

What this module adds is jwst's bookkeeping around those calls: the
``separation > sqrt(2) * tolerance`` requirement, the translation of
tweakwcs's failures into :class:`AlignmentError` (the step logs it and leaves
the WCSs unchanged), the check that no corrected footprint vertex moved by
``2 * (searchrad + tolerance)`` or more, and the absolute reference catalog
(a file with RA/DEC or ``sky_centroid``; the GAIA web catalogs need the
network and are refused).
"""

import collections
import logging
import math
import pathlib

import numpy as np

from gpucal.errors import GpucalError, InputFileError, ParameterError

__all__ = [
    "ABSOLUTE_GROUP_ID",
    "FIT_GEOMETRIES",
    "WEB_CATALOGS",
    "AlignmentError",
    "absolute_align",
    "check_separation",
    "fit_succeeded",
    "is_correction_small",
    "make_corrector",
    "read_reference_catalog",
    "relative_align",
]

log = logging.getLogger("gpucal")

FIT_GEOMETRIES = ("shift", "rshift", "rscale", "general")
#: jwst's web-service catalogs (stcal ``GSSS_CATALOGS + S3_CATALOGS``): they need the network.
WEB_CATALOGS = ("GAIAREFCAT", "GAIADR3", "GAIADR2", "GAIADR1", "GAIADR3_S3")
#: The group id every exposure gets for the absolute fit (stcal's value: all exposures fit as one).
ABSOLUTE_GROUP_ID = 987654
_SQRT2 = math.sqrt(2.0)


class AlignmentError(GpucalError):
    """Alignment could not be done or was rejected; the WCSs are left as they were (jwst's behaviour)."""


def check_separation(separation, tolerance, *, prefix=""):
    """Raise ParameterError unless ``separation > sqrt(2) * tolerance`` (source-confusion guard of stcal)."""
    if separation <= _SQRT2 * tolerance:
        raise ParameterError(
            f"tweakreg.{prefix}separation ({separation}) must be larger than tweakreg.{prefix}tolerance ({tolerance}) "
            "by at least a factor of sqrt(2) to avoid source confusion"
        )


def make_corrector(wcs, wcsinfo, catalog, group_id, name):
    """A ``JWSTWCSCorrector`` for one exposure, as jwst builds it.

    Parameters
    ----------
    wcs : gwcs.WCS
        The exposure's WCS (not modified: the corrector works on a copy).
    wcsinfo : dict
        With ``v2_ref``, ``v3_ref`` (arcsec) and ``roll_ref`` (deg).
    catalog : astropy.table.Table
        Sources with ``x``, ``y`` (0-based pixels), already inside the bounding box.
    group_id : str or int
        Exposures with the same id are aligned as one unit.
    name : str
        Catalog name (tweakwcs's log messages use it).
    """
    from tweakwcs.correctors import JWSTWCSCorrector

    catalog.meta["name"] = name
    missing = [key.upper() for key in ("roll_ref", "v2_ref", "v3_ref") if wcsinfo.get(key) is None]
    if missing:
        raise InputFileError(f"{name}: tweakreg needs the keywords {', '.join(missing)} to correct the WCS")
    refang = {key: float(wcsinfo[key]) for key in ("roll_ref", "v2_ref", "v3_ref")}
    return JWSTWCSCorrector(wcs=wcs, wcsinfo=refang, meta={"catalog": catalog, "name": name, "group_id": group_id})


def _align(correctors, refcat, *, enforce_user_order, expand_refcat, minobj, fitgeometry, nclip, sigma, match):
    from tweakwcs.imalign import align_wcs

    try:
        align_wcs(
            correctors, refcat=refcat, enforce_user_order=enforce_user_order, expand_refcat=expand_refcat,
            minobj=minobj, match=match, fitgeom=fitgeometry, nclip=nclip, sigma=(sigma, "rmse"), clip_accum=False,
        )  # fmt: skip
    except ValueError as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        if message.startswith("Too few input images"):
            raise AlignmentError(f"{message} At least two exposures (groups) with sources are required.") from None
        raise
    except RuntimeError as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        if message.startswith("Number of output coordinates exceeded allocation"):
            raise AlignmentError(
                f"{message} Several sources within 'tolerance' matched one reference source; adjust 'tolerance' "
                "and/or 'separation'."
            ) from None
        raise


def relative_align(
    correctors, *, searchrad=2.0, separation=1.0, use2dhist=True, tolerance=0.7, xoffset=0.0, yoffset=0.0,
    enforce_user_order=False, expand_refcat=False, minobj=15, fitgeometry="rshift", nclip=3, sigma=3.0,
):  # fmt: skip
    """Align the groups of ``correctors`` to each other (modifies the correctors' WCSs).

    Parameters are jwst's ``TweakRegStep`` parameters of the same names.

    Raises
    ------
    AlignmentError
        Too few groups with sources, ambiguous matches, or a correction larger than the search allows
        (jwst then leaves every WCS as it was).
    """
    from tweakwcs.matchutils import XYXYMatch

    check_separation(separation, tolerance)
    match = XYXYMatch(searchrad=searchrad, separation=separation, use2dhist=use2dhist, tolerance=tolerance,
                      xoffset=xoffset, yoffset=yoffset)  # fmt: skip
    _align(correctors, None, enforce_user_order=enforce_user_order, expand_refcat=expand_refcat, minobj=minobj,
           fitgeometry=fitgeometry, nclip=nclip, sigma=sigma, match=match)  # fmt: skip
    limit = 2.0 * (searchrad + tolerance) if use2dhist else 2.0 * (max(abs(xoffset), abs(yoffset)) + tolerance)
    moved = is_correction_small(correctors, limit)
    if moved is not None:
        raise AlignmentError(
            f"{moved}: the WCS would move by more than {limit:g} arcsec; the fit is rejected (skipping relative "
            "alignment)"
        )
    return correctors


def is_correction_small(correctors, limit_arcsec):
    """None when every corrected footprint vertex is within ``limit_arcsec`` of the original; else the name."""
    for corrector in correctors:
        distance = _separation_arcsec(_footprint(corrector.original_wcs), _footprint(corrector.wcs))
        if not np.all(distance < limit_arcsec):
            return corrector.meta.get("name") or "exposure"
    return None


def _footprint(wcs):
    return np.radians(np.asarray(wcs.footprint(axis_type="spatial"), dtype=float).T)


def _separation_arcsec(a, b):
    """Angular distances (arcsec) between (ra, dec) radian pairs, by Vincenty's formula (as ``SkyCoord.separation``)."""
    (ra1, dec1), (ra2, dec2) = a, b
    dra = ra2 - ra1
    num = np.hypot(np.cos(dec2) * np.sin(dra), np.cos(dec1) * np.sin(dec2) - np.sin(dec1) * np.cos(dec2) * np.cos(dra))
    den = np.sin(dec1) * np.sin(dec2) + np.cos(dec1) * np.cos(dec2) * np.cos(dra)
    return np.degrees(np.arctan2(num, den)) * 3600.0


def read_reference_catalog(path):
    """An absolute reference catalog from a file (ECSV, FITS, anything ``Table.read`` knows) with RA and DEC.

    Columns ``RA``/``DEC`` are found case-insensitively; otherwise a ``sky_centroid`` column (jwst's
    source_catalog output) is split into them, as stcal does.

    Raises
    ------
    ParameterError
        ``path`` names a web catalog (GAIA*), which needs the network.
    InputFileError
        Missing or unreadable file, or no (or ambiguous) RA/DEC columns.
    """
    from astropy.table import Table

    text = str(path).strip()
    if text.upper() in WEB_CATALOGS:
        raise ParameterError(
            f"tweakreg.abs_refcat={text!r} is a web catalog and gpucal runs offline; pass a catalog file instead "
            "(ECSV or FITS with RA and DEC columns, e.g. a Gaia query saved to disk)"
        )
    file = pathlib.Path(text)
    if not file.is_file():
        raise InputFileError(f"{file}: tweakreg.abs_refcat: no such file")
    try:
        table = Table.read(file)
    except Exception as exc:  # astropy raises many types for unreadable tables
        raise InputFileError(f"{file}: tweakreg.abs_refcat: cannot read the catalog ({exc})") from exc
    table.meta["name"] = file.name
    return _sky_columns(table, file)


def _sky_columns(table, file):
    upper = collections.Counter(name.upper() for name in table.colnames)
    if upper["RA"] > 1 or upper["DEC"] > 1 or upper["SKY_CENTROID"] > 1:
        raise InputFileError(f"{file}: several RA, DEC or sky_centroid columns (names are case-insensitive)")
    for name in list(table.colnames):
        if name.upper() in ("RA", "DEC") and name != name.upper():
            table.rename_column(name, name.upper())
        elif name.lower() == "sky_centroid" and name != "sky_centroid":
            table.rename_column(name, "sky_centroid")
    if "RA" in table.colnames and "DEC" in table.colnames:
        if "sky_centroid" in table.colnames:
            log.warning("tweakreg: %s has both RA/DEC and sky_centroid columns; sky_centroid is ignored", file)
            table.remove_column("sky_centroid")
        return table
    if "sky_centroid" not in table.colnames:
        raise InputFileError(f"{file}: tweakreg.abs_refcat: the catalog has neither RA/DEC nor sky_centroid columns")
    coords = table["sky_centroid"]
    table["RA"] = coords.ra.deg
    table["DEC"] = coords.dec.deg
    table.remove_column("sky_centroid")
    return table


def absolute_align(
    correctors, refcat, *, searchrad=6.0, separation=1.0, use2dhist=True, tolerance=0.7, minobj=15,
    fitgeometry="rshift", nclip=3, sigma=3.0,
):  # fmt: skip
    """Align all exposures, as one group, to the reference catalog ``refcat`` (stcal's ``absolute_align``).

    Parameters are jwst's ``abs_*`` parameters without the prefix.

    Raises
    ------
    AlignmentError
        Fewer reference sources than ``minobj``, no exposure with sources, or ambiguous matches.
    """
    from tweakwcs.matchutils import XYXYMatch

    check_separation(separation, tolerance, prefix="abs_")
    if len(refcat) < minobj:
        raise AlignmentError(
            f"not enough sources ({len(refcat)}) in the reference catalog {refcat.meta.get('name')} for the "
            f"absolute fit (abs_minobj={minobj}); skipping alignment to the reference catalog"
        )
    match = XYXYMatch(searchrad=searchrad, separation=separation, use2dhist=use2dhist, tolerance=tolerance,
                      xoffset=0.0, yoffset=0.0)  # fmt: skip
    for corrector in correctors:
        corrector.meta["group_id"] = ABSOLUTE_GROUP_ID
        if "fit_info" in corrector.meta and "REFERENCE" in corrector.meta["fit_info"]["status"]:
            del corrector.meta["fit_info"]
    _align(correctors, refcat, enforce_user_order=True, expand_refcat=False, minobj=minobj,
           fitgeometry=fitgeometry, nclip=nclip, sigma=sigma, match=match)  # fmt: skip
    return correctors


def fit_succeeded(corrector):
    """True when tweakwcs reports a successful fit for this corrector."""
    info = corrector.meta.get("fit_info")
    return info is not None and "SUCCESS" in info.get("status", "")
