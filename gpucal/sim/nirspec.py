"""A simulated NIRSpec optical model: the transforms of jwst's NIRSpec imaging WCS, element by element.

NIRSpec has no distortion reference. jwst's ``assign_wcs.nirspec.imaging``
follows the light back through the instrument, one CRDS reference per
optical element, and this module defines a simple, self-consistent set of
them (written to files by :mod:`gpucal.sim.nirspec_refs`)::

    SCA pixel --fpa--> FPA plane (m) --camera--> GWA tangents (unitless)
      --[direction cosines, GWA rotation, mirror, rotation back]-- (jwst's code, from the disperser angles)
      --collimator--> MSA plane (m) --fore--> OTE image plane (deg) --ote--> V2/V3 (arcsec)

The numbers are nominal, not NIRSpec's calibration, but physically plausible:

* detectors NRS1 and NRS2: 2048 x 2048 pixels of 18 um, side by side along
  the dispersion (x) direction with a gap of ~140 pixels (2.5 mm); NRS2 is mounted
  rotated by 180 degrees (jwst's ``dms_to_sca`` flips its DMS pixels into
  the SCA frame) less 1.45 degrees, so that each detector's y axis lies at
  its SIAF V3IdlYAngle (139.23 and 137.80 deg);
* camera: focal length 0.16 m, with 0.1 % of third-order radial distortion
  at the FPA corners; its inverse is a degree-5 polynomial fitted by least
  squares (good to 2e-5 pixel over both detectors);
* GWA: the MIRROR element, tilted by a few hundredths of a degree; its
  tilt sensors (``gwa_tiltx``/``gwa_tilty``) turn an exposure's GWA_XTIL and
  GWA_YTIL readings into the small angle corrections of jwst's
  ``correct_tilt`` (3000 arcsec of element angle per unit of reading,
  around calibration readings of 0.3346 and 0.1385);
* collimator: focal length 0.36 m (so the MSA is imaged onto the detector
  at 0.44 magnification: 40.5 um of MSA per pixel);
* fore optics: anamorphic, 80.89 m (x) and 79.27 m (y) of effective focal
  length, giving pysiaf's 0.1033" x 0.1054" pixels; independent of the
  wavelength (so jwst's inverse, which passes the OTE x coordinate where
  the wavelength goes, is exact), with a filter-dependent offset of a few
  milli-arcseconds (the filter is a plate in the converging beam);
* OTE: a rotation by NIRSpec's V3 position angle (139.22 deg, parity -1) and the shift that puts the field where pysiaf
  has it: the centre of each detector (0-based SCA pixel 1023.5, 1023.5)
  lands within 0.01" of its ``NRSn_FULL`` V2Ref/V3Ref at the calibration
  GWA readings.

The FPA model takes the full-frame SCA pixel jwst gives it: ``dms_to_sca``
turns the science array's 0-based pixel into the 0-based full-frame SCA
pixel (flipped for NRS2), and the FPA model receives that.

The placement constants (FPA centres and rotations, OTE angle and origin)
were solved once so that the composed chain meets the SIAF of PRD
PRDOPSSOC-075 (``tests/sim/test_nirspec.py`` checks it against the installed
pysiaf); everything else is a round nominal value.
"""

import dataclasses
import functools
import math

import numpy as np

from gpucal.sim.instruments import instrument_rng

__all__ = [
    "CAMERA_FOCAL_M",
    "COLLIMATOR_FOCAL_M",
    "GWA_TILT_SENSORS",
    "MIRROR_ANGLES",
    "PIXEL_PITCH_M",
    "WAVELENGTH_RANGES",
    "GwaReadings",
    "camera_model",
    "collimator_model",
    "draw_gwa_readings",
    "fore_model",
    "fore_offset_deg",
    "fpa_model",
    "ote_matrix",
    "ote_model",
]

PIXEL_PITCH_M = 18e-6
#: Centre of a 2048-pixel detector, 0-based.
SCA_CENTRE = 1023.5
CAMERA_FOCAL_M = 0.16
#: Third-order radial distortion of the camera, ``u = a (1 + k (a^2 + b^2))`` in GWA tangents.
CAMERA_RADIAL = 0.012
COLLIMATOR_FOCAL_M = 0.36
#: Effective focal lengths (m) of the fore optics along MSA x and y: NIRSpec's pixels are not square on the sky.
FORE_FOCAL_M = (80.89, 79.27)
#: Largest filter-dependent offset of the fore optics (arcsec on the sky, per axis).
FORE_FILTER_OFFSET_ARCSEC = 0.005
#: Alignment of the GWA's MIRROR element (deg): jwst's ``Rotation3DToGWA`` angles, axes "xyzy".
MIRROR_ANGLES = {"theta_x": 0.025, "theta_y": -0.065, "theta_z": 0.12, "tilt_y": 0.0}
#: Tilt sensors: ``{name: (arcsec per unit of reading, calibration reading)}``; GWA_XTIL drives theta_y
#: through ``gwa_tiltx``, GWA_YTIL theta_x through ``gwa_tilty`` (jwst's ``correct_tilt``).
GWA_TILT_SENSORS = {"gwa_tiltx": (3000.0, 0.3346), "gwa_tilty": (3000.0, 0.1385)}
#: Scatter of an exposure's tilt readings about the calibration ones (the GWA's repositioning), one sigma.
GWA_READING_SCATTER = 0.004
#: GWA temperature (K) at calibration and in the exposures (GWA_TILT keyword).
GWA_TEMPERATURE_K = 36.5
#: FPA placement of each detector: centre (m) and rotation (deg) of its SCA frame.
FPA_PLACEMENT = {
    "NRS1": (-0.0196787, 0.0002162, 0.0),
    "NRS2": (0.0196777, -0.0002162, 178.552),
}
#: OTE: V3 position angle of the OTE image plane's -y axis (deg), parity, and the V2/V3 of its origin (arcsec).
OTE_V3_ANGLE_DEG = 139.22202
OTE_PARITY = -1
OTE_ORIGIN_V2V3 = (375.8570, -429.3685)
#: ``(waverange_selector, order, (start, end) in m)`` of the wavelengthrange reference: the imaging (MIRROR)
#: filters NIRSpec's imaging modes use, and the spectroscopic pairs its flight reference also lists.
WAVELENGTH_RANGES = (
    ("CLEAR_MIRROR", 0, (0.6e-6, 5.3e-6)),
    ("F110W_MIRROR", 0, (1.0e-6, 1.27e-6)),
    ("F140X_MIRROR", 0, (0.8e-6, 2.0e-6)),
    ("CLEAR_PRISM", 0, (0.6e-6, 5.3e-6)),
    ("F070LP_G140M", 1, (0.7e-6, 1.27e-6)),
    ("F070LP_G140H", 1, (0.7e-6, 1.27e-6)),
    ("F100LP_G140M", 1, (0.97e-6, 1.89e-6)),
    ("F100LP_G140H", 1, (0.97e-6, 1.89e-6)),
    ("F170LP_G235M", 1, (1.66e-6, 3.17e-6)),
    ("F170LP_G235H", 1, (1.66e-6, 3.17e-6)),
    ("F290LP_G395M", 1, (2.87e-6, 5.27e-6)),
    ("F290LP_G395H", 1, (2.87e-6, 5.27e-6)),
)
_RAD_TO_DEG = 180.0 / math.pi
_INVERSE_DEGREE = 5


@dataclasses.dataclass(frozen=True)
class GwaReadings:
    """An exposure's GWA tilt-sensor readings (GWA_XTIL, GWA_YTIL) and temperature (GWA_TILT, K)."""

    xtilt: float
    ytilt: float
    temperature: float = GWA_TEMPERATURE_K


def draw_gwa_readings(rng):
    """Tilt readings of one exposure: the calibration ones plus the GWA's repositioning scatter.

    A reading off the calibration one by 0.004 moves the image by about half
    a pixel, which jwst's ``correct_tilt`` takes out.
    """
    dx, dy = rng.normal(0.0, GWA_READING_SCATTER, 2)
    x_zero = GWA_TILT_SENSORS["gwa_tiltx"][1]
    y_zero = GWA_TILT_SENSORS["gwa_tilty"][1]
    return GwaReadings(round(x_zero + float(dx), 6), round(y_zero + float(dy), 6))


def fpa_model(detector):
    """SCA pixel (0-based full frame, as ``dms_to_sca`` gives it) -> FPA plane (m), with its exact inverse."""
    from astropy.modeling.models import Rotation2D, Scale, Shift

    x0, y0, angle = FPA_PLACEMENT[detector]
    model = (
        Shift(-SCA_CENTRE) & Shift(-SCA_CENTRE)
        | Scale(PIXEL_PITCH_M) & Scale(PIXEL_PITCH_M)
        | Rotation2D(angle)
        | Shift(x0) & Shift(y0)
    )
    model.name = f"{detector.lower()}_sca_to_fpa"
    return model


def _radial(x, y, k):
    r2 = x * x + y * y
    return x * (1.0 + k * r2), y * (1.0 + k * r2)


def _monomials(x, y, degree):
    return np.stack([x ** (i - j) * y**j for i in range(degree + 1) for j in range(i + 1)], axis=-1)


@functools.lru_cache(maxsize=1)
def _camera_inverse_coefficients():
    """Least-squares degree-5 polynomials (u, v) -> (a, b) inverting the radial distortion over the FPA."""
    reach = 1.25 * (max(abs(p[0]) for p in FPA_PLACEMENT.values()) + SCA_CENTRE * PIXEL_PITCH_M * math.sqrt(2))
    grid = np.linspace(-reach, reach, 61) / CAMERA_FOCAL_M
    a, b = (g.ravel() for g in np.meshgrid(grid, grid))
    u, v = _radial(a, b, CAMERA_RADIAL)
    design = _monomials(u, v, _INVERSE_DEGREE)
    coeff_a = np.linalg.lstsq(design, a, rcond=None)[0]
    coeff_b = np.linalg.lstsq(design, b, rcond=None)[0]
    names = [f"c{i - j}_{j}" for i in range(_INVERSE_DEGREE + 1) for j in range(i + 1)]
    return dict(zip(names, coeff_a.tolist(), strict=True)), dict(zip(names, coeff_b.tolist(), strict=True))


def camera_model():
    """FPA plane (m) -> GWA tangents (unitless): focal length and radial distortion, with a fitted inverse."""
    from astropy.modeling.models import Mapping, Polynomial2D, Scale

    k, scale = CAMERA_RADIAL, 1.0 / CAMERA_FOCAL_M
    inverse_a, inverse_b = _camera_inverse_coefficients()
    model = (
        Scale(scale) & Scale(scale)
        | Mapping((0, 1, 0, 1))
        | Polynomial2D(3, c1_0=1.0, c3_0=k, c1_2=k, name="camera_x")
        & Polynomial2D(3, c0_1=1.0, c0_3=k, c2_1=k, name="camera_y")
    )
    model.inverse = (
        Mapping((0, 1, 0, 1))
        | Polynomial2D(_INVERSE_DEGREE, **inverse_a, name="camera_inverse_x")
        & Polynomial2D(_INVERSE_DEGREE, **inverse_b, name="camera_inverse_y")
        | Scale(CAMERA_FOCAL_M) & Scale(CAMERA_FOCAL_M)
    )
    model.name = "camera"
    return model


def collimator_model():
    """GWA tangents (unitless, after the GWA) -> MSA plane (m): the collimator's focal length."""
    from astropy.modeling.models import Scale

    model = Scale(COLLIMATOR_FOCAL_M) & Scale(COLLIMATOR_FOCAL_M)
    model.name = "collimator"
    return model


def fore_offset_deg(filter_name):
    """The fore optics' offset for a filter (deg in the OTE image plane), from the filter's name only."""
    rng = instrument_rng("nirspec-fore", str(filter_name).upper())
    dx, dy = rng.uniform(-FORE_FILTER_OFFSET_ARCSEC, FORE_FILTER_OFFSET_ARCSEC, 2) / 3600.0
    return float(dx), float(dy)


def fore_model(filter_name):
    """(x_msa, y_msa, wavelength) -> OTE image plane (deg); the wavelength has no effect.

    The inverse takes three inputs too, (x_ote, y_ote, anything), and
    ignores the third: jwst's imaging WCS calls it as ``fore.inverse(x, y, x)``.
    """
    from astropy.modeling.models import Mapping, Scale, Shift

    dx, dy = fore_offset_deg(filter_name)
    plane = Scale(_RAD_TO_DEG / FORE_FOCAL_M[0]) & Scale(_RAD_TO_DEG / FORE_FOCAL_M[1]) | Shift(dx) & Shift(dy)
    model = Mapping((0, 1), n_inputs=3) | plane
    model.inverse = Mapping((0, 1), n_inputs=3) | plane.inverse
    model.name = f"fore_{str(filter_name).lower()}"
    return model


def ote_matrix():
    """The OTE's linear part (arcsec per deg): OTE image plane -x and -y onto the SIAF ideal +x and +y."""
    angle = math.radians(OTE_V3_ANGLE_DEG)
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    ideal_x = (OTE_PARITY * cos_a, -OTE_PARITY * sin_a)
    ideal_y = (sin_a, cos_a)
    return 3600.0 * np.array([[-ideal_x[0], -ideal_y[0]], [-ideal_x[1], -ideal_y[1]]])


def ote_model():
    """OTE image plane (deg) -> V2/V3 (arcsec): rotation, parity and the field's position, with its inverse."""
    from astropy.modeling.models import AffineTransformation2D

    model = AffineTransformation2D(matrix=ote_matrix(), translation=list(OTE_ORIGIN_V2V3), name="ote")
    return model
