"""WCS objects for the transform-compiler tests, built from astropy models.

* :func:`tan_grid_wcs`: a resample output grid as jwst builds it
  (``AffineTransformation2D | Scale & Scale | Pix2Sky_TAN | RotateNative2Celestial``
  after a CRPIX shift), either as that compound or as gwcs's
  ``FITSImagingWCSTransform`` (jwst >= 1.20).
* :func:`synthetic_distortion`: a detector -> V2/V3 (arcsec) distortion with
  the layout of a CRDS distortion reference (shift, polynomials, a
  user-assigned polynomial inverse).
* :func:`tweak_corrected`: a WCS with tweakreg's ``v2v3corr`` tangent-plane
  correction frame, with the model layout tweakwcs inserts.
"""

import numpy as np
from astropy import coordinates as coord
from astropy import units as u
from astropy.modeling import models as m

__all__ = ["synthetic_distortion", "synthetic_imaging_wcs", "tan_grid_wcs", "tweak_corrected"]


def _frames():
    from gwcs import coordinate_frames as cf

    detector = cf.Frame2D(name="detector", axes_order=(0, 1), unit=(u.pix, u.pix))
    world = cf.CelestialFrame(reference_frame=coord.ICRS(), name="world")
    return detector, world


def tan_grid_wcs(crval, pscale, rotation, crpix, shape, *, fits_transform=False):
    """Output-grid gwcs: TAN projection at ``crval`` (deg), ``pscale`` (deg/pixel), PA ``rotation`` (deg)."""
    import gwcs

    theta = np.deg2rad(rotation)
    pc = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    if fits_transform:
        from gwcs import FITSImagingWCSTransform

        transform = FITSImagingWCSTransform(m.Pix2Sky_TAN(), crpix=crpix, crval=crval, cdelt=[pscale, pscale], pc=pc)
    else:
        transform = (
            (m.Shift(-crpix[0]) & m.Shift(-crpix[1]))
            | m.AffineTransformation2D(matrix=pc)
            | (m.Scale(pscale) & m.Scale(pscale))
            | m.Pix2Sky_TAN()
            | m.RotateNative2Celestial(crval[0], crval[1], 180.0)
        )
    detector, world = _frames()
    wcs = gwcs.WCS([(detector, transform), (world, None)])
    wcs.bounding_box = ((-0.5, shape[1] - 0.5), (-0.5, shape[0] - 0.5))
    wcs.pixel_shape = shape[::-1]
    return wcs


def synthetic_distortion(rng, *, degree=3, center=(1024.5, 1024.5), scale=0.06):
    """Detector pixel -> V2/V3 arcsec with a random smooth distortion and a polynomial user inverse."""

    def poly(c10, c01, c00, amp):
        p = m.Polynomial2D(degree, c0_0=c00, c1_0=c10, c0_1=c01)
        for name in p.param_names:
            i, j = (int(v) for v in name[1:].split("_"))
            if i + j >= 2:
                setattr(p, name, rng.normal(0.0, amp / 1000.0 ** (i + j)))
        return p

    angle = np.deg2rad(rng.uniform(-5, 5))
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    v2ref, v3ref = rng.uniform(-400, 400), rng.uniform(-600, -300)
    shift = m.Shift(-center[0]) & m.Shift(-center[1])
    forward = shift | m.Mapping((0, 1, 0, 1)) | (poly(c, -s, v2ref, 0.5) & poly(s, c, v3ref, 0.5))
    det = c * c + s * s
    inverse = m.Mapping((0, 1, 0, 1)) | (poly(c / det, s / det, 0.0, 1e-3) & poly(-s / det, c / det, 0.0, 1e-3))
    forward.inverse = inverse | (m.Shift(center[0]) & m.Shift(center[1]))
    return forward


def synthetic_imaging_wcs(rng, shape, *, bbox=None, va_scale=1.00001):
    """A full imaging gwcs (detector -> v2v3 -> v2v3vacorr -> world) from a synthetic distortion."""
    from gpucal.wcs.imaging import imaging_wcs
    from gpucal.wcs.pointing import Pointing

    distortion = synthetic_distortion(rng)
    v2, v3 = distortion(shape[1] / 2.0, shape[0] / 2.0)
    pointing = Pointing(ra_ref=rng.uniform(0, 360), dec_ref=rng.uniform(-80, 80), roll_ref=rng.uniform(0, 360),
                        v2_ref=float(v2), v3_ref=float(v3), va_scale=va_scale)  # fmt: skip
    wcs = imaging_wcs(distortion, pointing, shape=shape)
    if bbox is not None:
        wcs.bounding_box = bbox
    return wcs


def tweak_corrected(wcs, *, v2_ref, v3_ref, roll_ref, matrix, shift):
    """Insert a tweakreg tangent-plane correction (frame ``v2v3corr``) after the ``v2v3`` frame.

    The correction has the layout tweakwcs builds: arcsec -> deg, unit vector,
    rotation to the optical axis, ``x/x, y/x, z/x`` tangent plane, affine
    correction, back to a vector, inverse rotation, spherical, deg -> arcsec.
    """
    import gwcs
    from gwcs.geometry import CartesianToSpherical, SphericalToCartesian

    to_deg = m.Scale(1 / 3600.0) & m.Scale(1 / 3600.0)
    to_arcsec = m.Scale(3600.0) & m.Scale(3600.0)
    rot = m.RotationSequence3D([v2_ref / 3600.0, -v3_ref / 3600.0, roll_ref], "zyx")
    c2tan = (m.Mapping((0, 1, 2)) / m.Mapping((0, 0, 0), n_inputs=3)) | m.Mapping((1, 2))
    tan2c = m.Mapping((0, 0, 1), n_inputs=2) | (m.Const1D(1) & m.Identity(2))
    affine = m.AffineTransformation2D(matrix=matrix, translation=shift)
    inv_matrix = np.linalg.inv(matrix)
    affine_inv = m.AffineTransformation2D(matrix=inv_matrix, translation=-inv_matrix @ np.asarray(shift))
    s2c, c2s = SphericalToCartesian(wrap_lon_at=180), CartesianToSpherical(wrap_lon_at=180)
    correction = to_deg | s2c | rot | c2tan | affine | tan2c | rot.inverse | c2s | to_arcsec
    correction.inverse = to_deg | s2c | rot | c2tan | affine_inv | tan2c | rot.inverse | c2s | to_arcsec

    steps = [(step.frame, step.transform) for step in wcs.pipeline]
    names = [frame.name for frame, _ in steps]
    index = names.index("v2v3")
    frame, transform = steps[index]
    corr_frame = frame.__class__(name="v2v3corr", axes_order=frame.axes_order, axes_names=frame.axes_names,
                                 unit=frame.unit)  # fmt: skip
    steps[index] = (frame, correction)
    steps.insert(index + 1, (corr_frame, transform))
    new = gwcs.WCS(steps)
    new.bounding_box = wcs.bounding_box.bounding_box(order="F")
    return new
