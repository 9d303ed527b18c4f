"""Telescope pointing models: V2/V3 to sky and the velocity-aberration correction.

These are the astropy models jwst 3.0 puts in every imaging gwcs
(``jwst.assign_wcs.pointing``), built from the same components so that the
WCS gpucal writes is the same object jwst writes.
"""

import dataclasses

import numpy as np
from astropy.modeling.models import Identity, RotationSequence3D, Scale, Shift

__all__ = ["Pointing", "dva_corr_model", "v23tosky"]


@dataclasses.dataclass(frozen=True)
class Pointing:
    """The pointing keywords of an exposure.

    Attributes
    ----------
    ra_ref, dec_ref : float
        Sky position of the aperture reference point (RA_REF, DEC_REF; deg).
    roll_ref : float
        Position angle of V3 at the reference point (ROLL_REF; deg).
    v2_ref, v3_ref : float
        Reference point in the telescope frame (V2_REF, V3_REF; arcsec).
    va_scale : float or None
        Differential velocity aberration scale (VA_SCALE).
    """

    ra_ref: float
    dec_ref: float
    roll_ref: float
    v2_ref: float
    v3_ref: float
    va_scale: float | None = None

    @classmethod
    def from_meta(cls, meta):
        """Read the pointing from an exposure's meta (``meta.wcsinfo`` and ``meta.velocity_aberration``)."""
        wcsinfo = meta.wcsinfo
        return cls(
            float(wcsinfo.ra_ref), float(wcsinfo.dec_ref), float(wcsinfo.roll_ref),
            float(wcsinfo.v2_ref), float(wcsinfo.v3_ref),
            None if meta.velocity_aberration.scale_factor is None else float(meta.velocity_aberration.scale_factor),
        )  # fmt: skip


def v23tosky(pointing, wrap_v2_at=180, wrap_lon_at=360):
    """The V2/V3 (arcsec) to RA/Dec (deg) model of jwst's ``pointing.v23tosky``.

    A rotation sequence ``[V2_REF, -V3_REF, ROLL_REF, DEC_REF, -RA_REF]`` about
    axes ``zyxyz`` between unit vectors, which is the matrix
    ``R_z(-RA) R_y(DEC) R_x(ROLL) R_y(-V3) R_z(V2)``.
    """
    from astropy.modeling.models import Scale as _Scale
    from gwcs.geometry import CartesianToSpherical, SphericalToCartesian

    angles = np.array(
        [pointing.v2_ref / 3600, -pointing.v3_ref / 3600, pointing.roll_ref, pointing.dec_ref, -pointing.ra_ref]
    )
    rotation = RotationSequence3D(angles, axes_order="zyxyz")
    model = (
        (_Scale(1 / 3600) & _Scale(1 / 3600))
        | SphericalToCartesian(wrap_lon_at=wrap_v2_at)
        | rotation
        | CartesianToSpherical(wrap_lon_at=wrap_lon_at)
    )
    model.name = "v23tosky"
    return model


def dva_corr_model(va_scale, v2_ref, v3_ref):
    """Differential velocity aberration: ``v' = s v + (1 - s) v_ref`` per axis (jwst's ``dva_corr_model``)."""
    if va_scale is None or va_scale == 1:
        return Identity(2)
    if va_scale <= 0:
        raise ValueError("velocity aberration scale must be a positive number")
    va_corr = Scale(va_scale, name="dva_scale_v2") & Scale(va_scale, name="dva_scale_v3")
    v2_ref = v2_ref or 0
    v3_ref = v3_ref or 0
    if v2_ref == 0 and v3_ref == 0:
        return va_corr
    va_corr |= Shift((1 - va_scale) * v2_ref, name="dva_v2_shift") & Shift((1 - va_scale) * v3_ref, name="dva_v3_shift")
    va_corr.name = "DVA_Correction"
    return va_corr
