"""FITS WCS keywords and S_REGION of a resampled product, as jwst 3.0's ``ResampleImage`` writes them.

``fits_wcsinfo`` is jwst's ``update_fits_wcsinfo``: the first input's
``meta.wcsinfo`` loses its SIP keywords and pointing keywords and gets the
linear FITS WCS of the output grid (from the ``FITSImagingWCSTransform``
parameters, or a degree-1 fit for any other custom WCS).
``combine_s_regions`` is stcal's ``combine_sregions`` (via jwst's
``combine_input_sregions``): the inputs' polygons in output pixels, merged,
clipped to the output footprint, simplified and written back in RA/Dec. Where
the clipping cuts one merged polygon into several, jwst 3.0 fails
(``AttributeError`` in stcal's ``_convert_to_array``); gpucal writes every piece.
"""

import copy
import logging
import re

import numpy as np

from gpucal.resample._grid_overlay import intersection, simplify_by_angle, union_all
from gpucal.wcs.footprint import SIP_FIT_REPLACES

__all__ = ["combine_s_regions", "fits_wcsinfo", "parse_s_region", "projection_code"]

log = logging.getLogger("gpucal")

_SIP_KEY = re.compile(r"^(cd[12]_[12]|[ab]p?_\d_\d|[ab]p?_order)$")
_POINTING_KEYS = ("v2_ref", "v3_ref", "ra_ref", "dec_ref", "roll_ref", "v3yangle", "vparity")


def parse_s_region(text):
    """Vertex arrays ``(N, 2)`` (RA, Dec deg) of each ``POLYGON ICRS`` in an S_REGION string.

    Raises
    ------
    ValueError
        If a polygon has an odd number of values or a value that is not a number.
    """
    polygons = []
    for part in (p.strip() for p in text.split("POLYGON ICRS")):
        if part:
            numbers = re.sub(r"[a-zA-Z]", "", part).split()
            polygons.append(np.array(numbers, dtype=float).reshape(-1, 2))
    return polygons


def projection_code(wcs):
    """FITS projection code (``"TAN"``...) of an imaging gwcs.

    Raises
    ------
    ValueError
        If the transform is neither a ``FITSImagingWCSTransform`` nor a compound
        model containing a projection (jwst cannot write FITS keywords for it).
    """
    from astropy.modeling import CompoundModel
    from astropy.modeling.projections import Projection
    from gwcs import FITSImagingWCSTransform

    transform = wcs.forward_transform
    if isinstance(transform, FITSImagingWCSTransform):
        return transform.projection.prjprm.code
    if not isinstance(transform, CompoundModel):
        raise ValueError("the output WCS transform is neither a FITSImagingWCSTransform nor a compound model")
    for model in transform.traverse_postorder():
        if isinstance(model, Projection):
            return model.prjprm.code
    raise ValueError("the output WCS transform has no projection model, so no FITS WCS can be written for it")


def fits_wcsinfo(wcs, shape, reference_wcsinfo=None):
    """``meta.wcsinfo`` of the resampled product (see :meth:`gpucal.resample.grid.OutputGrid.fits_wcsinfo`)."""
    from astropy.wcs.utils import celestial_frame_to_wcs
    from gwcs import FITSImagingWCSTransform

    if reference_wcsinfo is None:
        info = {}
    else:
        info = copy.deepcopy(
            dict(reference_wcsinfo.to_dict() if hasattr(reference_wcsinfo, "to_dict") else reference_wcsinfo)
        )
    for key in [k for k in info if _SIP_KEY.match(k)]:
        del info[key]
    transform = wcs.forward_transform
    if isinstance(transform, FITSImagingWCSTransform):
        frame_wcs = celestial_frame_to_wcs(
            frame=wcs.pipeline[-1].frame.reference_frame, projection=transform.projection.prjprm.code
        )
        info.update(
            crpix1=float(transform.crpix[0] + 1), crpix2=float(transform.crpix[1] + 1),
            cdelt1=float(transform.cdelt[0]), cdelt2=float(transform.cdelt[1]),
            crval1=float(transform.crval[0]), crval2=float(transform.crval[1]),
            pc1_1=float(transform.pc[0][0]), pc1_2=float(transform.pc[0][1]),
            pc2_1=float(transform.pc[1][0]), pc2_2=float(transform.pc[1][1]),
            ctype1=frame_wcs.wcs.ctype[0], ctype2=frame_wcs.wcs.ctype[1],
            cunit1=str(wcs.output_frame.unit[0]), cunit2=str(wcs.output_frame.unit[1]),
            radesys=frame_wcs.wcs.radesys,
        )  # fmt: skip
    else:
        log.warning(
            "Custom output WCS is not a FITSImagingWCSTransform: writing the FITS WCS keywords of a linear fit to it "
            "(not exact if the custom WCS has distortions)."
        )
        code = projection_code(wcs)
        extra = {}
        if wcs.bounding_box is None:
            extra["bounding_box"] = ((-0.5, shape[1] - 0.5), (-0.5, shape[0] - 0.5))
        crpix = [info.get("crpix1"), info.get("crpix2")]
        header = wcs.to_fits_sip(
            max_pix_error=0.01, degree=1, max_inv_pix_error=None, inv_degree=0, npoints=12,
            crpix=None if None in crpix else crpix, projection=code, **extra,
        )  # fmt: skip
        del header["naxis*"]
        for key in SIP_FIT_REPLACES:
            info.pop(key, None)
        info.update({k.lower(): v for k, v in header.items()})
    for key in _POINTING_KEYS:
        info.pop(key, None)
    return info


def combine_s_regions(footprints, det2world, corners):
    """S_REGION of the union of ``footprints`` clipped to the output footprint ``corners``.

    Parameters
    ----------
    footprints : list of numpy.ndarray
        ``(N, 2)`` RA/Dec vertices of each input polygon.
    det2world : astropy.modeling.Model
        Output pixel -> (RA, Dec), with an inverse.
    corners : numpy.ndarray
        ``(4, 2)`` RA/Dec of the output bounding box corners (``wcs.footprint()``).

    Returns
    -------
    str

    Raises
    ------
    ValueError
        Where stcal raises one (polygons with different vertex counts, no
        overlap with the output) or shapely would (degenerate polygons); jwst
        then writes no S_REGION.
    """
    stacked = np.array(footprints, dtype=float)
    if stacked.ndim != 3:
        raise ValueError("the input S_REGION polygons have different numbers of vertices")
    flat = stacked.reshape(-1, 2)
    world2det = det2world.inverse
    x, y = world2det(flat[:, 0], flat[:, 1])
    pixels = np.vstack([x, y]).T.reshape(stacked.shape)
    if not np.all(np.isfinite(pixels)):
        raise ValueError("an input S_REGION cannot be mapped to output pixels")
    merged = [simplify_by_angle(np.array(shell[:-1])) for shell, _holes in union_all(list(pixels))]
    box_x, box_y = world2det(corners[:, 0], corners[:, 1])
    box = np.vstack([box_x, box_y]).T
    clipped = []
    for polygon in merged:
        if len(polygon) == 0:
            continue
        for shell, _holes in intersection(polygon, box):
            clipped.append(simplify_by_angle(np.array(shell[:-1])))
    if not clipped:
        raise ValueError("No overlap between input s_regions and intersection footprint")
    text = ""
    for polygon in clipped:
        ra, dec = det2world(polygon[:, 0], polygon[:, 1])
        text += "POLYGON ICRS  " + " ".join(f"{a:.9f} {d:.9f}" for a, d in zip(ra, dec, strict=True)) + "  "
    return text.strip()
