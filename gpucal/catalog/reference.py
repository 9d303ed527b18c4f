"""Aperture parameters (APCORR) and the AB - Vega offset (ABVEGAOFFSET) for a mosaic.

jwst's ``jwst/source_catalog/reference_data.py``: the APCORR rows of the
mosaic's filter and pupil (NIRCam, NIRISS) or filter and subarray (MIRI), one
per requested encircled energy (``round(eefraction * 100) == EE``); radii and
the sky annulus are divided by the mosaic's pixel scale ratio. A reference
with no row for the mosaic's configuration is an error naming the file.
"""

import logging

import numpy as np

from gpucal.errors import ParameterError, ReferenceFileError
from gpucal.io.refs import read_abvegaoffset, read_apcorr

__all__ = ["FALLBACK_APERTURES", "abvega_offset", "aperture_params", "check_aperture_ee"]

log = logging.getLogger("gpucal")

#: jwst's apertures when no APCORR reference is given (``override_apcorr = N/A``): no aperture correction.
FALLBACK_APERTURES = {
    "aperture_radii": np.array((1.0, 2.0, 3.0)),
    "aperture_corrections": np.array((1.0, 1.0, 1.0)),
    "aperture_ee": np.array((1, 2, 3)),
    "bkg_aperture_inner_radius": 5.0,
    "bkg_aperture_outer_radius": 10.0,
}


def check_aperture_ee(aperture_ee, where="source_catalog"):
    """The three encircled energies as ints; they must increase strictly and lie in (0, 100).

    Raises
    ------
    ParameterError
        Naming ``aperture_ee1/2/3``.
    """
    values = np.array(aperture_ee).astype(int)
    if len(values) != 3:
        raise ParameterError(f"{where}: aperture_ee1/2/3 must be 3 values, got {list(values)}")
    if not np.all(values[1:] > values[:-1]):
        raise ParameterError(f"{where}: aperture_ee1 < aperture_ee2 < aperture_ee3 required, got {list(values)}")
    if np.any((values <= 0) | (values >= 100)):
        raise ParameterError(f"{where}: aperture_ee1/2/3 must lie between 0 and 100, got {list(values)}")
    return values


def _selector(instrument, filter_name, pupil, subarray, detector, kind):
    instrument = str(instrument or "").upper()
    if instrument in ("NIRCAM", "NIRISS"):
        return {"filter": filter_name, "pupil": pupil}
    if instrument == "MIRI":
        return {"filter": filter_name, "subarray": subarray} if kind == "apcorr" else {"filter": filter_name}
    if instrument == "FGS":
        return None if kind == "apcorr" else {"detector": detector}
    raise ParameterError(f"source_catalog: instrument {instrument or '(none)'} has no imaging source catalog")


def _rows(ref, selector, kind):
    keep = np.ones(len(next(iter(ref.columns.values()))), bool)
    for key, value in (selector or {}).items():
        if key not in ref.columns:
            raise ReferenceFileError(f"{ref.path}: {kind} table has no {key!r} column (has {sorted(ref.columns)})")
        keep &= ref.columns[key] == str(value or "").strip().upper()
    return keep


def aperture_params(path, *, instrument, filter_name, pupil, subarray, aperture_ee, pixel_scale_ratio):
    """Aperture radii, corrections and sky annulus for the mosaic (jwst ``ReferenceData.aperture_params``).

    Parameters
    ----------
    path : str or None
        The APCORR reference; None gives jwst's fallback (radii 1, 2, 3 px, no correction).
    instrument, filter_name, pupil, subarray : str
        The mosaic's configuration.
    aperture_ee : sequence of 3 int
    pixel_scale_ratio : float or None
        Resampled / native pixel scale (``meta.resample.pixel_scale_ratio``; None -> 1).

    Returns
    -------
    dict
        ``aperture_ee``, ``aperture_radii`` (pixels), ``aperture_corrections``,
        ``bkg_aperture_inner_radius``, ``bkg_aperture_outer_radius``.

    Raises
    ------
    ReferenceFileError
        The reference has no row for the configuration or an EE, several rows
        for one, or several sky annuli; the message names the file.
    """
    aperture_ee = check_aperture_ee(aperture_ee)
    if path is None:
        log.warning("source_catalog: no APCORR reference; fallback apertures without aperture correction")
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in FALLBACK_APERTURES.items()}
    ref = read_apcorr(path)
    selector = _selector(instrument, filter_name, pupil, subarray, None, "apcorr")
    keep = _rows(ref, selector, "APCORR")
    if not keep.any():
        wanted = ", ".join(f"{k}={v}" for k, v in (selector or {}).items()) or f"instrument {instrument}"
        raise ReferenceFileError(f"{ref.path}: APCORR reference has no rows for {wanted} (the mosaic's configuration)")
    percent = np.round(ref.columns["eefraction"] * 100)
    radii, corrections, skyin, skyout = [], [], [], []
    for ee in aperture_ee:
        rows = np.flatnonzero(keep & (percent == ee))
        if len(rows) != 1:
            what = "no row" if len(rows) == 0 else f"{len(rows)} rows"
            valid = sorted({int(p) for p in percent[keep]})
            raise ReferenceFileError(
                f"{ref.path}: APCORR reference has {what} for encircled energy {ee} % of {selector} "
                f"(aperture_ee1/2/3; the file has {valid})"
            )
        row = rows[0]
        radii.append(ref.columns["radius"][row])
        corrections.append(ref.columns["apcorr"][row])
        skyin.append(ref.columns["skyin"][row])
        skyout.append(ref.columns["skyout"][row])
    if len(np.unique(skyin)) != 1 or len(np.unique(skyout)) != 1:
        raise ReferenceFileError(f"{ref.path}: APCORR rows of {selector} give different skyin/skyout values")
    if pixel_scale_ratio is None:
        log.warning("source_catalog: meta.resample.pixel_scale_ratio missing; assuming 1")
        pixel_scale_ratio = 1.0
    ratio = float(pixel_scale_ratio)
    # jwst keeps the table's float32 values and divides in float64
    radii = np.array(radii, dtype=np.float32)
    return {
        "aperture_ee": aperture_ee,
        "aperture_radii": radii / ratio,
        "aperture_corrections": np.array(corrections, dtype=np.float32),
        "bkg_aperture_inner_radius": np.float32(skyin[0]) / ratio,
        "bkg_aperture_outer_radius": np.float32(skyout[0]) / ratio,
    }


def abvega_offset(path, *, instrument, filter_name, pupil, detector):
    """``m_AB - m_Vega`` for the mosaic's filter (jwst ``ReferenceData.abvega_offset``).

    ``path`` None gives 0 (jwst's fallback, with a warning). No matching row,
    or several, is a :class:`ReferenceFileError` naming the file.
    """
    if path is None:
        log.warning("source_catalog: no ABVEGAOFFSET reference; Vega magnitudes equal AB magnitudes")
        return 0.0
    ref = read_abvegaoffset(path)
    selector = _selector(instrument, filter_name, pupil, None, detector, "abvegaoffset")
    rows = np.flatnonzero(_rows(ref, selector, "abvega_offset"))
    if len(rows) != 1:
        wanted = ", ".join(f"{k}={v}" for k, v in (selector or {}).items()) or f"instrument {instrument}"
        what = "no row" if len(rows) == 0 else f"{len(rows)} rows"
        raise ReferenceFileError(f"{ref.path}: ABVEGAOFFSET reference has {what} for {wanted} (the mosaic's filter)")
    value = float(ref.columns["abvega_offset"][rows[0]])
    log.info("source_catalog: AB to Vega magnitude offset %.5f", value)
    return value
