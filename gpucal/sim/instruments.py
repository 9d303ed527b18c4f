"""What the simulator knows about JWST imagers: detectors, filters, subarrays, readouts.

Instruments: NIRCam, MIRI, NIRISS (imaging, AMI with the non-redundant mask),
FGS (the guiders' science imaging mode) and NIRSpec's imaging modes (target
acquisition, confirmation, focus and MSA imaging through the GWA mirror).

Values are nominal and rounded (enough for data that look and behave like
flight data), not calibrated ones:

* detectors: SIAF aperture, gain (e-/DN), read noise per frame (DN),
  saturation (DN), pixel pitch (for the cosmic-ray rate);
* filters: pivot wavelength and fractional bandwidth, from which the PSF
  width, the photometric conversion (PHOTMJSR) and the sky brightness follow;
* subarrays: the rule mapping the ``size`` option to a subarray, see
  :func:`choose_subarray`;
* readout patterns and frame times.
"""

import dataclasses
import math
import zlib

import numpy as np

from gpucal.errors import ParameterError
from gpucal.sim.siaf import siaf_aperture, siaf_apertures

__all__ = [
    "DEFAULTS",
    "DetectorSpec",
    "FilterSpec",
    "Readout",
    "Subarray",
    "choose_subarray",
    "detector_spec",
    "filter_spec",
    "filters_for",
    "instrument_rng",
    "readout_for",
    "resolve_options",
]

INSTRUMENTS = ("nircam", "miri", "niriss", "fgs", "nirspec")

#: EXP_TYPEs that calwebb_image2 processes as imaging, per instrument (the first is the science imaging one).
#: The simulated references serve all of them (P_EXP_TY), as the flight imaging references do.
IMAGE2_EXP_TYPES = {
    "nircam": ("NRC_IMAGE", "NRC_TSIMAGE", "NRC_CORON", "NRC_TACQ", "NRC_TACONFIRM", "NRC_FOCUS"),
    "miri": ("MIR_IMAGE", "MIR_LYOT", "MIR_4QPM", "MIR_CORONCAL", "MIR_TACQ", "MIR_TACONFIRM"),
    "niriss": ("NIS_IMAGE", "NIS_AMI", "NIS_TACQ", "NIS_TACONFIRM", "NIS_FOCUS"),
    "fgs": ("FGS_IMAGE", "FGS_FOCUS"),
    "nirspec": ("NRS_IMAGE", "NRS_TACQ", "NRS_TASLIT", "NRS_TACONFIRM", "NRS_CONFIRM", "NRS_FOCUS", "NRS_MIMF",
                "NRS_WATA", "NRS_MSATA", "NRS_VERIFY"),
}  # fmt: skip
#: Further EXP_TYPEs listed in P_EXP_TY of the simulated references (as on the flight NIRCam ones).
_EXTRA_P_EXPTYPES = {"nircam": ("NRC_FLAT", "NRC_LED", "NRC_WFSC")}
# name -> (pivot wavelength um, fractional bandwidth, filter-wheel element, pupil-wheel element)
_NIRCAM_SW = {
    "F070W": (0.704, 0.18, "F070W", "CLEAR"), "F090W": (0.901, 0.215, "F090W", "CLEAR"),
    "F115W": (1.154, 0.195, "F115W", "CLEAR"), "F140M": (1.404, 0.10, "F140M", "CLEAR"),
    "F150W": (1.501, 0.21, "F150W", "CLEAR"), "F150W2": (1.659, 0.75, "F150W2", "CLEAR"),
    "F162M": (1.626, 0.10, "F150W2", "F162M"), "F164N": (1.644, 0.012, "F150W2", "F164N"),
    "F182M": (1.845, 0.13, "F182M", "CLEAR"), "F187N": (1.874, 0.013, "F187N", "CLEAR"),
    "F200W": (1.989, 0.23, "F200W", "CLEAR"), "F210M": (2.093, 0.10, "F210M", "CLEAR"),
    "F212N": (2.120, 0.013, "F212N", "CLEAR"),
}  # fmt: skip
_NIRCAM_LW = {
    "F250M": (2.503, 0.072, "F250M", "CLEAR"), "F277W": (2.762, 0.24, "F277W", "CLEAR"),
    "F300M": (2.989, 0.11, "F300M", "CLEAR"), "F322W2": (3.232, 0.41, "F322W2", "CLEAR"),
    "F323N": (3.237, 0.012, "F322W2", "F323N"), "F335M": (3.362, 0.10, "F335M", "CLEAR"),
    "F356W": (3.568, 0.22, "F356W", "CLEAR"), "F360M": (3.624, 0.10, "F360M", "CLEAR"),
    "F405N": (4.052, 0.011, "F444W", "F405N"), "F410M": (4.082, 0.11, "F410M", "CLEAR"),
    "F430M": (4.281, 0.053, "F430M", "CLEAR"), "F444W": (4.408, 0.23, "F444W", "CLEAR"),
    "F460M": (4.630, 0.049, "F460M", "CLEAR"), "F466N": (4.654, 0.012, "F444W", "F466N"),
    "F470N": (4.708, 0.011, "F444W", "F470N"), "F480M": (4.874, 0.062, "F480M", "CLEAR"),
}  # fmt: skip
_MIRI = {
    "F560W": (5.635, 0.18, "F560W", "N/A"), "F770W": (7.639, 0.255, "F770W", "N/A"),
    "F1000W": (9.953, 0.18, "F1000W", "N/A"), "F1130W": (11.309, 0.065, "F1130W", "N/A"),
    "F1280W": (12.810, 0.19, "F1280W", "N/A"), "F1500W": (15.064, 0.19, "F1500W", "N/A"),
    "F1800W": (17.984, 0.16, "F1800W", "N/A"), "F2100W": (20.795, 0.22, "F2100W", "N/A"),
    "F2550W": (25.365, 0.145, "F2550W", "N/A"),
}  # fmt: skip
# NIRISS imaging: short-wave filters sit in the pupil wheel (FILTER=CLEAR), long-wave ones in the filter wheel
# (PUPIL=CLEARP); aperture masking (AMI) puts the non-redundant mask (NRM) in the pupil wheel.
_NIRISS = {
    "F090W": (0.901, 0.22, "CLEAR", "F090W"), "F115W": (1.154, 0.19, "CLEAR", "F115W"),
    "F140M": (1.404, 0.10, "CLEAR", "F140M"), "F150W": (1.501, 0.21, "CLEAR", "F150W"),
    "F158M": (1.582, 0.12, "CLEAR", "F158M"), "F200W": (1.990, 0.23, "CLEAR", "F200W"),
    "F277W": (2.776, 0.25, "F277W", "CLEARP"), "F356W": (3.593, 0.23, "F356W", "CLEARP"),
    "F380M": (3.828, 0.05, "F380M", "CLEARP"), "F430M": (4.286, 0.05, "F430M", "CLEARP"),
    "F444W": (4.425, 0.24, "F444W", "CLEARP"), "F480M": (4.816, 0.08, "F480M", "CLEARP"),
    "F277W-NRM": (2.776, 0.25, "F277W", "NRM"), "F380M-NRM": (3.828, 0.05, "F380M", "NRM"),
    "F430M-NRM": (4.286, 0.05, "F430M", "NRM"), "F480M-NRM": (4.816, 0.08, "F480M", "NRM"),
}  # fmt: skip
# FGS has no filter: one broad band (0.6-5 um), FILTER and PUPIL absent from its headers.
_FGS = {"CLEAR": (2.8, 1.5, "N/A", "N/A")}
# NIRSpec images through its filter wheel and the GWA's mirror: F110W and F140X (target acquisition), CLEAR
# (0.6-5.3 um). No pupil wheel.
_NIRSPEC = {
    "F110W": (1.12, 0.24, "F110W", "N/A"), "F140X": (1.40, 0.86, "F140X", "N/A"),
    "CLEAR": (2.0, 2.3, "CLEAR", "N/A"),
}  # fmt: skip
_NRM_THROUGHPUT = 0.15

# Subarray candidates by instrument, in order of preference for a given size.
_NIRCAM_SUBARRAYS = ("SUB160", "SUB320", "SUB640", "SUB64P", "SUB160P", "SUB400P")
_MIRI_SUBARRAYS = {
    "SUB64": "MIRIM_SUB64",
    "SUB128": "MIRIM_SUB128",
    "SUB256": "MIRIM_SUB256",
    "BRIGHTSKY": "MIRIM_BRIGHTSKY",
}
_NIRISS_SUBARRAYS = {"SUB64": "NIS_SUB64", "SUB80": "NIS_AMI1", "SUB128": "NIS_SUB128", "SUB256": "NIS_SUB256"}
_FGS_SUBARRAYS = ("SUB128CNTR", "SUB32CNTR", "SUB8CNTR")
_MIRI_FRAME_TIMES = {"FULL": 2.77504, "BRIGHTSKY": 0.86528, "SUB256": 0.29952, "SUB128": 0.11904, "SUB64": 0.08524}
_NIRCAM_PUPILS = (
    "CLEAR",
    "F162M",
    "F164N",
    "F323N",
    "F405N",
    "F466N",
    "F470N",
    "FLAT",
    "MASKIPR",
    "PINHOLES",
    "WLM8",
    "WLP8",
)
_MIN_SIZE = 16


@dataclasses.dataclass(frozen=True)
class DetectorSpec:
    """One imaging detector.

    Attributes
    ----------
    instrument : str
        ``"nircam"``, ``"miri"``, ``"niriss"``, ``"fgs"`` or ``"nirspec"``.
    name : str
        Lower-case name used in file names (``nrca1``, ``nrcalong``, ``mirimage``, ``nis``, ``guider1``, ``nrs1``).
    detector : str
        DETECTOR keyword (``NRCA1``, ``NRCALONG``, ``MIRIMAGE``, ``NIS``, ``GUIDER1``, ``NRS1``).
    siaf_prefix : str
        SIAF aperture prefix (``NRCA1``, ``NRCA5``, ``MIRIM``, ``NIS``, ``FGS1``, ``NRS1``).
    module, channel : str or None
        NIRCam module (A/B) and channel (SHORT/LONG); None for the other instruments.
    full_shape : tuple of int
        ``(rows, columns)`` of the full frame.
    gain : float
        e-/DN.
    read_noise : float
        Read noise of one frame (DN).
    saturation : float
        Saturation level (DN).
    pixel_pitch_um : float
        Pixel pitch (micron), for the cosmic-ray hit rate.
    sca_num : int
        SCA_NUM keyword.
    psf_floor_arcsec : float
        Added in quadrature to the diffraction FWHM (jitter, charge diffusion).
    full_aperture_name : str or None
        SIAF full-frame aperture when it is not ``<siaf_prefix>_FULL`` (NIRISS: ``NIS_CEN``).
    fast_axis : str
        Detector axis read fastest (``"x"``: NIRCam, MIRI; ``"y"``: NIRISS, FGS, NIRSpec), for FASTAXIS/SLOWAXIS.
    """

    instrument: str
    name: str
    detector: str
    siaf_prefix: str
    module: str | None
    channel: str | None
    full_shape: tuple
    gain: float
    read_noise: float
    saturation: float
    pixel_pitch_um: float
    sca_num: int
    psf_floor_arcsec: float
    full_aperture_name: str | None = None
    fast_axis: str = "x"

    @property
    def instrument_name(self):
        """INSTRUME keyword."""
        return self.instrument.upper()

    @property
    def exp_type(self):
        """EXP_TYPE of a science imaging exposure (NRC_IMAGE, MIR_IMAGE, NIS_IMAGE, FGS_IMAGE, NRS_IMAGE)."""
        return IMAGE2_EXP_TYPES[self.instrument][0]

    @property
    def p_exptype(self):
        """P_EXP_TY of the imaging reference files: every imaging EXP_TYPE of the instrument."""
        return "|".join((*IMAGE2_EXP_TYPES[self.instrument], *_EXTRA_P_EXPTYPES.get(self.instrument, ()))) + "|"

    @property
    def full_aperture(self):
        """The SIAF full-frame aperture."""
        return siaf_aperture(self.instrument, self.full_aperture_name or f"{self.siaf_prefix}_FULL")

    @property
    def pupils(self):
        """Pupil-wheel elements (P_PUPIL of the distortion reference); empty for instruments without PUPIL."""
        if self.instrument == "nircam":
            return _NIRCAM_PUPILS
        if self.instrument == "niriss":
            return tuple(sorted({entry[3] for entry in _NIRISS.values()}))
        return ()

    @property
    def has_filter_wheel(self):
        """Whether exposures carry FILTER (FGS has none)."""
        return self.instrument != "fgs"

    @property
    def has_pupil_wheel(self):
        """Whether exposures carry PUPIL (NIRCam, NIRISS)."""
        return self.instrument in ("nircam", "niriss")


@dataclasses.dataclass(frozen=True)
class FilterSpec:
    """One imaging filter.

    Attributes
    ----------
    name : str
        The filter's own name (``F200W``, ``F162M``).
    filter, pupil : str
        FILTER and PUPIL keywords (``F150W2``/``F162M`` for a NIRCam pupil-wheel filter, ``CLEAR``/``F150W``
        for NIRISS; MIRI pupil ``N/A``; FGS both ``N/A``, absent from its headers).
    wavelength : float
        Pivot wavelength (micron).
    bandwidth : float
        Fractional bandwidth (FWHM / pivot).
    """

    name: str
    filter: str
    pupil: str
    wavelength: float
    bandwidth: float

    @property
    def label(self):
        """The filter part of a Stage 3 product name, as jwst's associations spell it.

        The filter and pupil values sorted and joined by ``-`` (``clear-f200w``, ``f150w2-f162m``,
        ``clearp-f444w``, ``f770w``), ``clear`` where there are none (FGS).
        """
        values = sorted((v.lower() for v in (self.filter, self.pupil) if v not in ("N/A", None)), key=str.lower)
        return "-".join(values) or "clear"


@dataclasses.dataclass(frozen=True)
class Subarray:
    """Placement of the science array on the detector.

    Attributes
    ----------
    name : str
        SUBARRAY keyword (``FULL``, ``SUB160``, ``GENERIC``...).
    xstart, ystart : int
        SUBSTRT1/2, 1-based full-frame science-frame start.
    xsize, ysize : int
        SUBSIZE1/2.
    aperture : str
        SIAF aperture of the exposure (APERNAME); the full-frame one for GENERIC.
    """

    name: str
    xstart: int
    ystart: int
    xsize: int
    ysize: int
    aperture: str

    @property
    def shape(self):
        """``(rows, columns)`` of the science array."""
        return (self.ysize, self.xsize)

    @property
    def slices(self):
        """``(row slice, column slice)`` of the full frame covered by the science array."""
        return (
            slice(self.ystart - 1, self.ystart - 1 + self.ysize),
            slice(self.xstart - 1, self.xstart - 1 + self.xsize),
        )

    @property
    def is_full(self):
        return self.name == "FULL"


@dataclasses.dataclass(frozen=True)
class Readout:
    """Readout pattern and timing of one integration."""

    pattern: str
    nframes: int
    groupgap: int
    ngroups: int
    frame_time: float
    nresets_between_ints: int
    noutputs: int

    @property
    def group_time(self):
        """TGROUP (s)."""
        return (self.nframes + self.groupgap) * self.frame_time

    @property
    def integration_time(self):
        """EFFINTTM: time between the first and last group (s), what the slope measures."""
        return (self.ngroups - 1) * self.group_time

    @property
    def integration_duration(self):
        """Wall-clock time of one integration including its reset (s)."""
        frames = self.ngroups * self.nframes + (self.ngroups - 1) * self.groupgap + self.nresets_between_ints
        return frames * self.frame_time

    def group_read_noise(self, frame_noise):
        """Read noise of one group: the frame noise averaged over ``nframes``."""
        return frame_noise / math.sqrt(self.nframes)


def instrument_rng(*parts):
    """A random generator seeded from names, identical across runs and platforms.

    Properties of the instrument itself (flat-field structure, bad pixels,
    filter offsets) are drawn from it, so that every simulation of a
    detector sees the same ones whatever its seed.
    """
    return np.random.default_rng(zlib.crc32("/".join(str(p) for p in parts).encode()))


def _nircam(name, detector, prefix, module, channel, sca):
    short = channel == "SHORT"
    return DetectorSpec(
        "nircam", name, detector, prefix, module, channel, (2048, 2048), gain=2.05 if short else 1.82,
        read_noise=4.5 if short else 5.0, saturation=36000.0, pixel_pitch_um=18.0, sca_num=sca,
        psf_floor_arcsec=0.02,
    )  # fmt: skip


_DETECTORS = {
    **{f"nrca{i}": _nircam(f"nrca{i}", f"NRCA{i}", f"NRCA{i}", "A", "SHORT", 480 + i) for i in range(1, 5)},
    "nrcalong": _nircam("nrcalong", "NRCALONG", "NRCA5", "A", "LONG", 485),
    **{f"nrcb{i}": _nircam(f"nrcb{i}", f"NRCB{i}", f"NRCB{i}", "B", "SHORT", 485 + i) for i in range(1, 5)},
    "nrcblong": _nircam("nrcblong", "NRCBLONG", "NRCB5", "B", "LONG", 490),
    "mirimage": DetectorSpec(
        "miri",
        "mirimage",
        "MIRIMAGE",
        "MIRIM",
        None,
        None,
        (1024, 1032),
        gain=5.5,
        read_noise=6.0,
        saturation=50000.0,
        pixel_pitch_um=25.0,
        sca_num=493,
        psf_floor_arcsec=0.1,
    ),
    "nis": DetectorSpec(
        "niriss", "nis", "NIS", "NIS", None, None, (2048, 2048), gain=1.61, read_noise=5.0, saturation=60000.0,
        pixel_pitch_um=18.0, sca_num=496, psf_floor_arcsec=0.02, full_aperture_name="NIS_CEN", fast_axis="y",
    ),
    **{
        f"guider{k}": DetectorSpec(
            "fgs", f"guider{k}", f"GUIDER{k}", f"FGS{k}", None, None, (2048, 2048), gain=1.9, read_noise=6.0,
            saturation=60000.0, pixel_pitch_um=18.0, sca_num=496 + k, psf_floor_arcsec=0.02, fast_axis="y",
        )
        for k in (1, 2)
    },
    # NIRSpec: SCAs 491 and 492, ~1 e-/DN; NRS2 is read rotated by 180 degrees (FASTAXIS -2).
    **{
        f"nrs{k}": DetectorSpec(
            "nirspec", f"nrs{k}", f"NRS{k}", f"NRS{k}", None, None, (2048, 2048), gain=1.0, read_noise=10.0,
            saturation=55000.0, pixel_pitch_um=18.0, sca_num=490 + k, psf_floor_arcsec=0.03, fast_axis="y",
        )
        for k in (1, 2)
    },
}  # fmt: skip
_ALIASES = {
    "nrca5": "nrcalong", "nrcb5": "nrcblong", "mirim": "mirimage", "miri": "mirimage", "niriss": "nis",
    "fgs1": "guider1", "fgs2": "guider2",
}  # fmt: skip


def _check_instrument(instrument):
    if not isinstance(instrument, str) or instrument.lower() not in INSTRUMENTS:
        raise ParameterError(f"instrument: unknown instrument {instrument!r} (choose from {', '.join(INSTRUMENTS)})")
    return instrument.lower()


#: Default detector and filter of each instrument (what ``None`` means for those options).
DEFAULTS = {
    "nircam": ("nrca1", "f200w"), "miri": ("mirimage", "f770w"), "niriss": ("nis", "f150w"),
    "fgs": ("guider1", "clear"), "nirspec": ("nrs1", "f110w"),
}  # fmt: skip


def resolve_options(instrument, detector=None, filter=None, size=None):
    """``(DetectorSpec, FilterSpec, size)`` with ``None`` options replaced by the instrument's defaults.

    Defaults: NIRCam ``nrca1``, ``f200w``, 2048 (full frame); MIRI
    ``mirimage``, ``f770w``, 1024 (full frame); NIRISS ``nis``, ``f150w``,
    2048; FGS ``guider1``, ``clear`` (its only "filter"), 2048; NIRSpec
    ``nrs1``, ``f110w``, 2048.

    Raises
    ------
    ParameterError
        Unknown instrument, detector or filter (``size`` is checked by :func:`choose_subarray`).
    """
    instrument = _check_instrument(instrument)
    default_detector, default_filter = DEFAULTS[instrument]
    det = detector_spec(instrument, default_detector if detector is None else detector)
    spec = filter_spec(det, default_filter if filter is None else filter)
    return det, spec, det.full_shape[0] if size is None else size


def detector_spec(instrument, detector):
    """The :class:`DetectorSpec` of ``detector`` of ``instrument``.

    ``nrca5``/``nrcb5`` are accepted for ``nrcalong``/``nrcblong``.

    Raises
    ------
    ParameterError
        Unknown instrument, or a detector that is not one of its imagers.
    """
    instrument = _check_instrument(instrument)
    key = str(detector).lower()
    key = _ALIASES.get(key, key)
    spec = _DETECTORS.get(key)
    if spec is None or spec.instrument != instrument:
        names = sorted(k for k, v in _DETECTORS.items() if v.instrument == instrument)
        raise ParameterError(
            f"detector: {detector!r} is not a {instrument} imaging detector (choose from {', '.join(names)})"
        )
    return spec


def _filter_table(spec):
    if spec.instrument == "miri":
        return _MIRI
    if spec.instrument == "niriss":
        return _NIRISS
    if spec.instrument == "fgs":
        return _FGS
    if spec.instrument == "nirspec":
        return _NIRSPEC
    return _NIRCAM_SW if spec.channel == "SHORT" else _NIRCAM_LW


def filter_spec(detector, filter):
    """The :class:`FilterSpec` of ``filter`` for a detector.

    Parameters
    ----------
    detector : DetectorSpec
    filter : str
        A filter name, case-insensitive (``f200w``, ``f162m``, ``f770w``; NIRISS ``f150w``, ``f444w``, AMI
        ``f480m-nrm``; FGS ``clear``; NIRSpec ``f110w``, ``f140x``, ``clear``).

    Raises
    ------
    ParameterError
        If the detector's channel has no such filter.
    """
    table = _filter_table(detector)
    key = str(filter).upper()
    if key not in table:
        raise ParameterError(
            f"filter: {filter!r} is not a filter of {detector.detector} (choose from {', '.join(table).lower()})"
        )
    wavelength, bandwidth, wheel, pupil = table[key]
    return FilterSpec(key, wheel, pupil, wavelength, bandwidth)


def filters_for(detector):
    """Every :class:`FilterSpec` of the detector's channel."""
    return [filter_spec(detector, name) for name in _filter_table(detector)]


def _placement(detector, aperture_name):
    """SUBSTRT1/2 of a SIAF subarray aperture in the detector's full-frame science frame."""
    full = detector.full_aperture
    sub = siaf_aperture(detector.instrument, aperture_name)
    x_full, y_full = full.det_to_sci(sub.det_ref[0], sub.det_ref[1])
    return round(float(x_full) - sub.sci_ref[0] + 1), round(float(y_full) - sub.sci_ref[1] + 1)


def choose_subarray(detector, size):
    """The subarray a ``size`` option selects.

    Rule: ``size`` is the number of rows of the science array.

    * the full-frame size (2048 for NIRCam, NIRISS, FGS; 1024 or 1032 for MIRI) gives FULL;
    * otherwise the first real SIAF imaging subarray of this detector with
      that many rows: NIRCam SUB160, SUB320, SUB640, SUB64P, SUB160P, SUB400P
      (square); MIRI SUB64 (64 x 72), SUB128 (128 x 136), SUB256, BRIGHTSKY (512);
      NIRISS SUB64, SUB80 (the AMI subarray), SUB128, SUB256; FGS SUB128CNTR,
      SUB32CNTR, SUB8CNTR (below the 16-row minimum, so never chosen);
      NIRSpec none (its SIAF has no imaging subarray apertures);
    * otherwise a ``GENERIC`` square ``size x size`` subarray centred on the
      full-frame aperture's reference pixel, moved inside the detector.

    Raises
    ------
    ParameterError
        ``size`` is not an integer between 16 and the full-frame size.
    """
    rows, cols = detector.full_shape
    if isinstance(size, bool) or not isinstance(size, int) or not _MIN_SIZE <= size <= max(rows, cols):
        raise ParameterError(
            f"size: must be an integer between {_MIN_SIZE} and {max(rows, cols)} for {detector.detector}, got {size!r}"
        )
    full = detector.full_aperture
    if size in (rows, cols):
        return Subarray("FULL", 1, 1, cols, rows, full.name)
    apertures = siaf_apertures(detector.instrument)
    if detector.instrument == "nircam":
        candidates = [(name, f"{detector.siaf_prefix}_{name}") for name in _NIRCAM_SUBARRAYS]
    elif detector.instrument == "fgs":
        candidates = [(name, f"{detector.siaf_prefix}_{name}") for name in _FGS_SUBARRAYS]
    elif detector.instrument == "niriss":
        candidates = list(_NIRISS_SUBARRAYS.items())
    elif detector.instrument == "nirspec":
        candidates = []
    else:
        candidates = list(_MIRI_SUBARRAYS.items())
    for name, aperture_name in candidates:
        aperture = apertures.get(aperture_name)
        if aperture is None or int(aperture.sci_size[1]) != size:
            continue
        xstart, ystart = _placement(detector, aperture_name)
        return Subarray(name, xstart, ystart, int(aperture.sci_size[0]), size, aperture_name)
    xstart = round(full.sci_ref[0] - size / 2) + 1
    ystart = round(full.sci_ref[1] - size / 2) + 1
    xstart = min(max(xstart, 1), cols - size + 1)
    ystart = min(max(ystart, 1), rows - size + 1)
    return Subarray("GENERIC", xstart, ystart, size, size, full.name)


def readout_for(detector, subarray, *, tso=False):
    """Readout pattern and frame time for an exposure.

    NIRCam: full frame MEDIUM8 (8 frames, gap 2) x 6 groups, ~10.74 s frames;
    subarrays MEDIUM8 x 10 groups (RAPID x 5 for time series), frame time
    ``(xsize / outputs + 12) * (ysize + 1) * 10 us``. NIRISS and FGS (the
    same detectors and electronics, same frame times): NIS (4 frames) or
    FGSRAPID groups, 6 in a full frame, in a subarray as many as make the
    integration about 5 s (10 to 100; a few tenths of a second would leave
    less than one photon of sky per pixel); time series NISRAPID / FGSRAPID
    x 5 groups. NIRSpec (the same electronics): NRSRAPID (1 frame per group),
    6 groups in a full frame, in a subarray as many as make about 5 s (10 to
    100), time series 5. MIRI: FASTR1 x 40 groups with the flight frame times (a
    generic subarray scales the full-frame one by its pixel count).
    """
    if detector.instrument == "nirspec":
        outputs = 4 if subarray.is_full else 1
        frame_time = (subarray.xsize / outputs + 12) * (subarray.ysize + 1) * 1e-5
        ngroups = 5 if tso else 6 if subarray.is_full else min(100, max(10, math.ceil(5.0 / frame_time) + 1))
        return Readout("NRSRAPID", 1, 0, ngroups, frame_time, 1, outputs)
    if detector.instrument in ("niriss", "fgs"):
        outputs = 4 if subarray.is_full else 1
        frame_time = (subarray.xsize / outputs + 12) * (subarray.ysize + 1) * 1e-5
        prefix = "NIS" if detector.instrument == "niriss" else "FGS"
        if tso:
            return Readout(f"{prefix}RAPID", 1, 0, 5, frame_time, 1, outputs)
        pattern, nframes = ("NIS", 4) if prefix == "NIS" else ("FGSRAPID", 1)
        ngroups = 6 if subarray.is_full else min(100, max(10, math.ceil(5.0 / (nframes * frame_time)) + 1))
        return Readout(pattern, nframes, 0, ngroups, frame_time, 1, outputs)
    if detector.instrument == "nircam":
        outputs = 4 if subarray.is_full else 1
        frame_time = (subarray.xsize / outputs + 12) * (subarray.ysize + 1) * 1e-5
        if subarray.is_full and not tso:
            return Readout("MEDIUM8", 8, 2, 6, frame_time, 1, outputs)
        if tso:
            return Readout("RAPID", 1, 0, 5, frame_time, 1, outputs)
        return Readout("MEDIUM8", 8, 2, 10, frame_time, 1, outputs)
    rows, cols = detector.full_shape
    frame_time = _MIRI_FRAME_TIMES.get(subarray.name)
    if frame_time is None:
        frame_time = max(0.05, _MIRI_FRAME_TIMES["FULL"] * subarray.xsize * subarray.ysize / (rows * cols))
    return Readout("FASTR1", 1, 0, 10 if tso else 40, frame_time, 0, 4)
