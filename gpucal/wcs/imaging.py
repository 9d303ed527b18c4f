"""The gwcs of a JWST imaging exposure (NIRCam, MIRI, NIRISS, FGS imaging).

Frames and transforms are those of jwst 3.0's ``assign_wcs`` for imaging::

    detector --[subarray shift | filter offset | DISTORTION ref]--> v2v3
             --[velocity aberration]--> v2v3vacorr --[V2V3 to sky]--> world

The distortion model comes from the CRDS ``distortion`` reference and is used
as delivered; only the filter offset and the subarray placement are added.
"""

import copy

from gpucal.wcs.pointing import dva_corr_model, v23tosky

__all__ = ["imaging_distortion", "imaging_wcs"]


def _bbox_from_shape(shape):
    """``((x_lo, x_hi), (y_lo, y_hi))`` pixel-edge box of an array shape (gwcs "F" order)."""
    return ((-0.5, shape[-1] - 0.5), (-0.5, shape[-2] - 0.5))


def imaging_distortion(distortion, *, shape, filter_offset=None, subarray=None):
    """The detector -> V2/V3 transform, with filter offset and subarray placement.

    Parameters
    ----------
    distortion : astropy.modeling.Model
        Model of the distortion reference (full-frame pixel -> V2/V3 arcsec). Not modified.
    shape : tuple of int
        Shape of the science array (the last two dimensions are used).
    filter_offset : tuple of float, optional
        ``(column_offset, row_offset)`` of the filter (filteroffset reference).
    subarray : tuple of int, optional
        ``(xstart, ystart, xsize, ysize)``, 1-based starts (SUBSTRT1/2, SUBSIZE1/2).

    Returns
    -------
    astropy.modeling.Model
    """
    from astropy.modeling import bind_bounding_box
    from astropy.modeling.models import Identity, Shift

    try:
        bbox = distortion.bounding_box.bounding_box(order="F")
    except NotImplementedError:
        bbox = None
    if filter_offset is not None:
        # A new compound around the (possibly shared, cached) reference model:
        # binding its bounding box leaves the reference model untouched.
        transform = Shift(filter_offset[0]) & Shift(filter_offset[1]) | distortion
    else:
        transform = copy.deepcopy(distortion)
    bind_bounding_box(transform, _bbox_from_shape(shape) if bbox is None else bbox, order="F")

    if subarray is not None:
        xstart, ystart, xsize, ysize = subarray
        tx = Shift(xstart - 1) if xstart not in (None, 1) else Identity(1)
        ty = Shift(ystart - 1) if ystart not in (None, 1) else Identity(1)
        if not (isinstance(tx, Identity) and isinstance(ty, Identity)):
            transform = tx & ty | transform
            x_hi = (xsize - 0.5) if xsize is not None else -0.5
            y_hi = (ysize - 0.5) if ysize is not None else -0.5
            bind_bounding_box(transform, ((-0.5, x_hi), (-0.5, y_hi)), order="F")
    return transform


def imaging_wcs(distortion, pointing, *, shape, filter_offset=None, subarray=None):
    """Build the imaging gwcs of one exposure.

    Parameters
    ----------
    distortion : astropy.modeling.Model
        Distortion reference model (pixel -> V2/V3 arcsec).
    pointing : gpucal.wcs.pointing.Pointing
    shape, filter_offset, subarray
        See :func:`imaging_distortion`.

    Returns
    -------
    gwcs.WCS
        Frames ``detector``, ``v2v3``, ``v2v3vacorr``, ``world`` (ICRS).
    """
    from astropy import coordinates as coord
    from astropy import units as u
    from gwcs import WCS
    from gwcs import coordinate_frames as cf

    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    v2v3 = cf.Frame2D(name="v2v3", axes_order=(0, 1), axes_names=("v2", "v3"), unit=(u.arcsec, u.arcsec))
    v2v3vacorr = cf.Frame2D(name="v2v3vacorr", axes_order=(0, 1), axes_names=("v2", "v3"), unit=(u.arcsec, u.arcsec))
    world = cf.CelestialFrame(reference_frame=coord.ICRS(), name="world")

    det2v23 = imaging_distortion(distortion, shape=shape, filter_offset=filter_offset, subarray=subarray)
    va_corr = dva_corr_model(pointing.va_scale, pointing.v2_ref, pointing.v3_ref)
    tel2sky = v23tosky(pointing)
    return WCS([(detector, det2v23), (v2v3, va_corr), (v2v3vacorr, tel2sky), (world, None)])
