"""Writing an alignment result into an exposure's metadata, as jwst 3.0's tweakreg does.

The corrected gwcs (with its ``v2v3corr`` frame) replaces ``meta.wcs``; then
``S_REGION`` is recomputed from the new footprint and, with ``sip_approx``,
the FITS + SIP approximation in ``meta.wcsinfo`` is refit, so that every later
step and every FITS reader sees the corrected WCS.
"""

import logging

from gpucal.wcs.footprint import s_region_imaging, sip_wcsinfo

__all__ = ["SipOptions", "apply_correction"]

log = logging.getLogger("gpucal")


class SipOptions:
    """jwst's ``sip_*`` step parameters (``enabled`` is ``sip_approx``)."""

    def __init__(self, enabled=True, max_pix_error=0.01, degree=None, max_inv_pix_error=0.01, inv_degree=None,
                 npoints=12):  # fmt: skip
        self.enabled = enabled
        self.max_pix_error = max_pix_error
        self.degree = degree
        self.max_inv_pix_error = max_inv_pix_error
        self.inv_degree = inv_degree
        self.npoints = npoints


def apply_correction(exposure, wcs, shape, sip, *, wcs_name=None):
    """Install a corrected WCS in an exposure's meta (S_REGION and, if asked, the SIP keywords refit).

    Parameters
    ----------
    exposure : gpucal.io.exposure.Exposure
        The exposure whose meta tree is updated (arrays are not needed).
    wcs : gwcs.WCS
        The corrected WCS (a tweakwcs corrector's ``wcs``).
    shape : tuple of int
        SCI shape, for a WCS without a bounding box.
    sip : SipOptions
    wcs_name : str, optional
        New ``wcs.name`` (jwst: ``FIT-LVL3-<abs_refcat>`` after an absolute fit).
    """
    if wcs_name is not None:
        wcs.name = wcs_name
    exposure.meta.wcs = wcs
    s_region = s_region_imaging(wcs, shape)
    if s_region is not None:
        exposure.meta.wcsinfo.s_region = s_region
    if not sip.enabled:
        return
    try:
        wcsinfo = sip_wcsinfo(
            wcs, exposure.meta.wcsinfo.to_dict(), max_pix_error=sip.max_pix_error, degree=sip.degree,
            max_inv_pix_error=sip.max_inv_pix_error, inv_degree=sip.inv_degree, npoints=sip.npoints,
        )  # fmt: skip
    except (ValueError, RuntimeError) as exc:
        log.warning("tweakreg: %s: failed to update meta.wcsinfo with the FITS SIP approximation: %s",
                    exposure.meta.filename, exc)  # fmt: skip
    else:
        exposure.meta_tree["wcsinfo"] = wcsinfo
