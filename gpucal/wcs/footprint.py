"""Footprints (S_REGION) and the FITS SIP approximation of an imaging gwcs.

Both follow jwst 3.0 / stcal: S_REGION is the polygon through the corners of
the bounding box (pixel edges, not centres), ``POLYGON ICRS`` with nine
decimals; the SIP approximation is gwcs's ``to_fits_sip`` with jwst's
defaults and the resulting keywords replace the linear WCS in
``meta.wcsinfo``.
"""

import logging

import numpy as np

__all__ = ["MAX_SIP_DEGREE", "SIP_FIT_REPLACES", "s_region_imaging", "s_region_keyword", "sip_wcsinfo"]

log = logging.getLogger("gpucal")

MAX_SIP_DEGREE = 6

#: ``meta.wcsinfo`` keys a FITS + SIP fit replaces (dropped before its keywords are added).
SIP_FIT_REPLACES = frozenset(
    ["naxis", "cdelt1", "cdelt2", "pc1_1", "pc1_2", "pc2_1", "pc2_2", "a_order", "b_order", "ap_order", "bp_order"]
    + [f"{s}_{i}_{j}" for i in range(10) for j in range(10) for s in ("a", "b", "ap", "bp")]
)


def s_region_keyword(footprint):
    """``POLYGON ICRS  ra dec ...`` (9 decimals) of a (4, 2) footprint, or None if it has NaNs."""
    text = "POLYGON ICRS  " + " ".join(f"{v:.9f}" for v in np.asarray(footprint, float).ravel())
    return None if "nan" in text else text


def s_region_imaging(wcs, shape):
    """S_REGION of an imaging WCS over its bounding box (or the array's, if it has none)."""
    bbox = wcs.bounding_box
    if bbox is None:
        bbox = ((-0.5, shape[-1] - 0.5), (-0.5, shape[-2] - 0.5))
        wcs.bounding_box = bbox
    footprint = wcs.footprint(bbox, center=False, axis_type="spatial").T[:2, :]
    np.mod(footprint[0], 360, out=footprint[0])
    return s_region_keyword(footprint.T)


def sip_wcsinfo(wcs, wcsinfo, *, max_pix_error=0.01, degree=None, max_inv_pix_error=0.01, inv_degree=None, npoints=12):
    """New ``meta.wcsinfo`` contents with the FITS + SIP approximation of ``wcs``.

    Parameters
    ----------
    wcs : gwcs.WCS
    wcsinfo : dict
        The current ``meta.wcsinfo`` (CRPIX1/2 there are reused as the reference pixel).
    max_pix_error, degree, max_inv_pix_error, inv_degree, npoints
        As jwst's ``assign_wcs`` parameters (``sip_*``); ``None`` degrees try 1..5.

    Returns
    -------
    dict
        The updated wcsinfo (a new dict).

    Raises
    ------
    ValueError, RuntimeError
        From gwcs when the requested accuracy cannot be met (the step logs and continues).
    """
    crpix = [wcsinfo.get("crpix1"), wcsinfo.get("crpix2")]
    if None in crpix:
        crpix = None
    header = wcs.to_fits_sip(
        max_pix_error=max_pix_error,
        degree=range(1, MAX_SIP_DEGREE) if degree is None else degree,
        max_inv_pix_error=max_inv_pix_error,
        inv_degree=range(1, MAX_SIP_DEGREE) if inv_degree is None else inv_degree,
        npoints=npoints,
        crpix=crpix,
        projection="TAN",
    )
    del header["naxis*"]
    fitted = {k.lower(): v for k, v in header.items()}
    out = {k: v for k, v in wcsinfo.items() if k not in SIP_FIT_REPLACES}
    out.update(fitted)
    return out
