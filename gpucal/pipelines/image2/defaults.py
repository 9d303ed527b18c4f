"""Per-exposure parameter defaults, as jwst's ``pars-image2pipeline`` references set them.

CRDS selects image2 parameter references by EXP_TYPE, TSOVISIT and VISITYPE:
time-series exposures skip background subtraction and resampling, and
wavefront-sensing (WFS&C) exposures skip resampling (jwst docs, calwebb_image2
step table). gpucal applies the same choices without CRDS.
"""

__all__ = ["TSO_EXP_TYPES", "image2_exposure_defaults"]

TSO_EXP_TYPES = {"NRC_TSIMAGE", "NRC_TSGRISM", "MIR_LRS-SLITLESS", "NIS_SOSS", "NRS_BRIGHTOBJ"}


def image2_exposure_defaults(meta):
    """``{step: {param: value}}`` defaults for one exposure.

    Parameters
    ----------
    meta : gpucal.io.meta.Node
    """
    exp_type = str(meta.exposure.type or "").upper()
    tso = bool(meta.visit.tsovisit) or exp_type in TSO_EXP_TYPES
    wfsc = "WFSC" in str(meta.visit.type or "").upper()
    out = {}
    if tso:
        out["bkg_subtract"] = {"skip": True}
        out["resample"] = {"skip": True}
    if wfsc:
        out["resample"] = {"skip": True}
    return out
