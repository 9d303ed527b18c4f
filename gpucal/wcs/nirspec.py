"""The gwcs of a NIRSpec imaging-mode exposure (jwst 3.0's ``assign_wcs.nirspec.imaging``).

NIRSpec has no distortion reference: its imaging WCS follows the light back
through the instrument's optical model, one CRDS reference per element
(:mod:`gpucal.io.refs.nirspec`)::

    detector --[subarray, NRS2 flip]--> sca --[FPA | camera | directions | GWA rotation]--> gwa
             --[mirror | GWA rotation back | collimator, wavelength]--> msa
             --[FORE]--> oteip --[OTE]--> v2v3 --[velocity aberration]--> v2v3vacorr --[V2V3 to sky]--> world

The GWA holds a mirror in imaging (GRATING=MIRROR); its alignment angles are
corrected by the exposure's tilt-sensor readings (GWA_XTIL, GWA_YTIL). The
wavelength the FORE optics are evaluated at is the middle of the filter's
range in the ``wavelengthrange`` reference. With FILTER=OPAQUE (lamp
exposures) the WCS ends at the MSA plane, with that wavelength in microns as
jwst gives it, and has no sky frame.

jwst writes three of the transforms with classes of its own
(``Rotation3DToGWA``, ``Unitless2DirCos``, ``DirCos2Unitless``). gpucal builds
the same functions from astropy and gwcs models only, so that the ``_cal``
opens with gwcs and asdf-astropy alone, without jwst's transform package: the
direction-cosine conversions are the same arithmetic, bit for bit; the
sequence of small rotations is one rotation matrix, which agrees with jwst's
step-by-step form to rounding (~1e-16 on a unit vector).
"""

import copy
import dataclasses

from gpucal.errors import InputFileError, ReferenceFileError

__all__ = ["NIRSPEC_FULL_RANGE", "NirspecImagingWcs", "nirspec_imaging_wcs"]

#: NIRSpec's whole spectral range (m), jwst's fallback when the grating is not in ``wavelengthrange``.
NIRSPEC_FULL_RANGE = (0.6e-6, 5.3e-6)
#: NRS2 is read out rotated by 180 degrees relative to NRS1 (jwst's ``dms_to_sca``).
_NRS2_FLIP_ORIGIN = 2047


@dataclasses.dataclass(frozen=True)
class NirspecImagingWcs:
    """A NIRSpec imaging WCS and what jwst records with it in ``meta.wcsinfo``.

    Attributes
    ----------
    wcs : gwcs.WCS
    spectral_order : int
        ``-1`` when neither the filter/grating pair nor the grating is in the reference.
    waverange : tuple of float
        ``(waverange_start, waverange_end)`` in m.
    """

    wcs: object
    spectral_order: int
    waverange: tuple


def spectral_order_and_range(table, *, filter, grating, lamp=None, exp_type=None):
    """Spectral order and wavelength range (m) of an exposure, as jwst's ``get_spectral_order_wrange``.

    The key is ``<FILTER>_<GRATING>`` (``<LAMP>_<GRATING>`` for FILTER=OPAQUE and
    the lamp exposure types); failing that, the first entry of the same
    grating; failing that, order -1 and :data:`NIRSPEC_FULL_RANGE`.
    """
    lamp_exposure = str(exp_type or "").upper() in ("NRS_LAMP", "NRS_AUTOWAVE", "NRS_AUTOFLAT")
    first = lamp if (str(filter).upper() == "OPAQUE" or lamp_exposure) else filter
    key = f"{first}_{grating}".upper()
    if key in table:
        return table[key]
    for selector, entry in table.items():
        if selector.split("_")[1:2] == [str(grating).upper()]:
            return entry
    return -1, NIRSPEC_FULL_RANGE


def _unitless_to_dircos(*, with_inverse=True):
    """``(x, y) -> (x, y, 1) / |(x, y, 1)|``: jwst's ``Unitless2DirCos`` (same arithmetic, via gwcs)."""
    from astropy.modeling.models import Mapping
    from gwcs.geometry import ToDirectionCosines

    model = Mapping((0, 1, 0)) | ToDirectionCosines() | Mapping((0, 1, 2), n_inputs=4)
    model.name = "unitless2directional_cosines"
    if with_inverse:
        model.inverse = _dircos_to_unitless(with_inverse=False)
    return model


def _dircos_to_unitless(*, with_inverse=True):
    """``(x, y, z) -> (x / z, y / z)``: jwst's ``DirCos2Unitless``."""
    from astropy.modeling.models import Mapping

    def ratio(axis):
        return Mapping((axis,), n_inputs=3) / Mapping((2,), n_inputs=3)

    model = Mapping((0, 1, 2, 0, 1, 2)) | ratio(0) & ratio(1)
    model.name = "directional_cosines2unitless"
    if with_inverse:
        model.inverse = _unitless_to_dircos(with_inverse=False)
    return model


def _gwa_rotation(angles):
    """The GWA element's rotation (jwst's ``Rotation3DToGWA(angles, "xyzy")``) on direction cosines."""
    from astropy.modeling.models import RotationSequence3D

    return RotationSequence3D(list(angles), axes_order="xyzy", name="rotation")


def _dms_to_sca(detector, xstart, ystart):
    from astropy.modeling.models import Identity, Scale, Shift

    subarray_to_full = Shift(xstart - 1) & Shift(ystart - 1)
    if detector == "NRS2":
        flip = Shift(-_NRS2_FLIP_ORIGIN) & Shift(-_NRS2_FLIP_ORIGIN) | Scale(-1) & Scale(-1)
    else:
        flip = Identity(2)
    model = subarray_to_full | flip
    model.name = "dms2sca"
    model.inputs, model.outputs = ("x", "y"), ("x", "y")
    return model


def _frames():
    from astropy import coordinates as coord
    from astropy import units as u
    from gwcs import coordinate_frames as cf

    def plane(name, unit, axes):
        return cf.Frame2D(name=name, axes_order=(0, 1), unit=(unit, unit), axes_names=axes)

    return {
        "detector": cf.Frame2D(name="detector", axes_order=(0, 1)),
        "sca": cf.Frame2D(name="sca", axes_order=(0, 1)),
        "gwa": plane("gwa", u.rad, ("alpha_in", "beta_in")),
        "msa": plane("msa", u.m, ("x_msa", "y_msa")),
        "oteip": plane("oteip", u.deg, ("x_oteip", "y_oteip")),
        "v2v3": plane("v2v3", u.arcsec, ("v2", "v3")),
        "v2v3vacorr": plane("v2v3vacorr", u.arcsec, ("v2", "v3")),
        "world": cf.CelestialFrame(name="world", axes_order=(0, 1), reference_frame=coord.ICRS()),
    }


def nirspec_imaging_wcs(
    optics, pointing, *, detector, filter, grating="MIRROR", lamp=None, exp_type=None, xstart=1, ystart=1,
    gwa_xtilt=None, gwa_ytilt=None,
):  # fmt: skip
    """Build the imaging gwcs of a NIRSpec exposure.

    Parameters
    ----------
    optics : gpucal.io.refs.nirspec.NirspecOptics
        The optical-model references (not modified); ``fore`` and ``ote`` are not needed for FILTER=OPAQUE.
    pointing : gpucal.wcs.pointing.Pointing
        Used unless FILTER is OPAQUE.
    detector : str
        ``"NRS1"`` or ``"NRS2"``.
    filter, grating, lamp, exp_type : str
        FILTER, GRATING, LAMP and EXP_TYPE: they choose the wavelength of the FORE optics.
    xstart, ystart : int
        SUBSTRT1/2 (1-based) of the science array in the full frame.
    gwa_xtilt, gwa_ytilt : float or None
        GWA_XTIL and GWA_YTIL sensor readings; None leaves the delivered angle.

    Returns
    -------
    NirspecImagingWcs

    Raises
    ------
    InputFileError
        A detector other than NRS1/NRS2.
    ReferenceFileError
        The FPA reference has no model for the detector, the disperser lacks a tilt calibration, or the
        FORE or OTE model is missing for a WCS that goes to the sky.
    """
    from astropy.modeling.models import Const1D, Identity, Mapping
    from gwcs import WCS

    from gpucal.wcs.pointing import dva_corr_model, v23tosky

    detector = str(detector or "").strip().upper()
    if detector not in ("NRS1", "NRS2"):
        raise InputFileError(f"DETECTOR {detector or '(missing)'}: a NIRSpec exposure is from NRS1 or NRS2")
    if detector not in optics.fpa:
        raise ReferenceFileError(f"{optics.paths.get('fpa')}: fpa reference has no model for {detector}")
    opaque = str(filter or "").strip().upper() == "OPAQUE"
    angles = optics.disperser.corrected_angles(gwa_xtilt, gwa_ytilt)
    frames = _frames()

    det2gwa = optics.fpa[detector] | optics.camera | _unitless_to_dircos() | _gwa_rotation(angles)
    det2gwa.name = "det2gwa"
    det2gwa.inputs, det2gwa.outputs = ("x", "y"), ("angle1", "angle2", "angle3")

    order, waverange = spectral_order_and_range(
        optics.wavelengthrange, filter=filter, grating=grating, lamp=lamp, exp_type=exp_type
    )
    wavelength = waverange[0] + (waverange[1] - waverange[0]) * 0.5
    if opaque:  # the WCS ends at the MSA: jwst gives its wavelength in microns
        wavelength *= 1e6

    mirror = Const1D(-1) * Identity(1) & Const1D(-1) * Identity(1) & Identity(1)
    with_wavelength = Mapping((0, 1, 1)) | Identity(2) & Const1D(wavelength)
    gwa2msa = mirror | _gwa_rotation(angles).inverse | _dircos_to_unitless() | optics.collimator | with_wavelength
    gwa2msa.inverse = optics.collimator.inverse | _unitless_to_dircos() | _gwa_rotation(angles) | mirror
    gwa2msa.name = "gwa2msa"
    gwa2msa.inputs, gwa2msa.outputs = ("angle1", "angle2", "angle3"), ("x_msa", "y_msa", "lam")

    steps = [(frames["detector"], _dms_to_sca(detector, xstart, ystart)), (frames["sca"], det2gwa),
             (frames["gwa"], gwa2msa)]  # fmt: skip
    if opaque:
        return NirspecImagingWcs(WCS([*steps, (frames["msa"], None)]), order, waverange)
    if optics.fore is None or optics.ote is None:
        raise ReferenceFileError(f"NIRSpec imaging WCS for FILTER={filter}: the fore and ote references are needed")

    # MSA -> OTE image plane through the FORE optics at that wavelength. jwst's inverse feeds the FORE
    # inverse (x, y, x) and drops the wavelength: the same chain is built here.
    msa2oteip = Mapping((0, 1, 2, 2)) | optics.fore & Identity(1) | Mapping((0, 1), n_inputs=3)
    msa2oteip.inverse = (
        Mapping((0, 1, 0, 1)) | optics.fore.inverse & Identity(1) | Identity(3) | Mapping((0, 1), n_inputs=3)
    )
    msa2oteip.name = "msa2oteip"
    msa2oteip.inputs, msa2oteip.outputs = ("x_msa", "y_msa", "lam"), ("x_ote", "y_ote")

    oteip2v23 = copy.deepcopy(optics.ote)  # named below: the cached reference model stays as read
    oteip2v23.name = "oteip2v23"
    oteip2v23.inputs, oteip2v23.outputs = ("x_ote", "y_ote"), ("v2", "v3")

    va_corr = dva_corr_model(pointing.va_scale, pointing.v2_ref, pointing.v3_ref)
    va_corr.name = "va_corr"
    tel2sky = v23tosky(pointing)
    tel2sky.name = "v2v3_to_sky"
    wcs = WCS([
        *steps,
        (frames["msa"], msa2oteip),
        (frames["oteip"], oteip2v23),
        (frames["v2v3"], va_corr),
        (frames["v2v3vacorr"], tel2sky),
        (frames["world"], None),
    ])  # fmt: skip
    return NirspecImagingWcs(wcs, order, waverange)
