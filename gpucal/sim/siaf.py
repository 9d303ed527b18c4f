"""Science Instrument Aperture File (SIAF) apertures, read from pysiaf's data.

The simulator derives its distortion references and subarray geometry from
the SIAF, the Project Reference Database description of every JWST aperture
(polynomial ``Sci2Idl``/``Idl2Sci`` coefficients, ``V2Ref``/``V3Ref``,
``V3IdlYAngle``, ``VIdlParity``, reference pixels, sizes). The SIAF XML files
ship inside the ``pysiaf`` wheel. They are read here directly, without
importing ``pysiaf``: importing it makes an HTTP request with no timeout to
check the PRD version, which can stall an offline machine. Only the package
location is looked up (``importlib.util.find_spec`` does not run the
package).

Coordinates follow the SIAF conventions (JWST-STScI-001550): science-frame
pixels are 1-based, ideal coordinates are arcsec in the aperture's tangent
plane, telescope (V2, V3) coordinates are arcsec.
"""

import dataclasses
import functools
import importlib.util
import math
import pathlib
import re
import xml.etree.ElementTree as ElementTree

import numpy as np

from gpucal.errors import ParameterError

__all__ = ["SiafAperture", "prd_version", "siaf_aperture", "siaf_apertures", "siaf_xml_path"]

_INSTRUMENT_FILES = {
    "nircam": "NIRCam_SIAF.xml",
    "miri": "MIRI_SIAF.xml",
    "niriss": "NIRISS_SIAF.xml",
    "fgs": "FGS_SIAF.xml",
    "nirspec": "NIRSpec_SIAF.xml",
}
_PRD_PATTERN = re.compile(r"^PRDOPSSOC-(\d+)(?:-(\d+))?$")
_INSTALL_HINT = "the simulator needs the SIAF data shipped with pysiaf: install gpucal[sim] (pip install pysiaf)"


@dataclasses.dataclass(frozen=True)
class SiafAperture:
    """One SIAF aperture with what the simulator uses.

    Attributes
    ----------
    name : str
        ``AperName`` (e.g. ``NRCA1_FULL``, ``MIRIM_SUB128``).
    aper_type : str
        ``FULLSCA``, ``SUBARRAY``, ...
    det_size, det_ref : tuple of float
        ``(XDetSize, YDetSize)`` and ``(XDetRef, YDetRef)`` (1-based).
    sci_size, sci_ref : tuple of float
        ``(XSciSize, YSciSize)`` and ``(XSciRef, YSciRef)`` (1-based).
    sci_scale : tuple of float
        ``(XSciScale, YSciScale)``, arcsec per pixel at the reference point.
    v2_ref, v3_ref : float
        Reference point in the telescope frame (arcsec).
    v3_idl_yangle : float
        ``V3IdlYAngle`` (deg).
    vidl_parity : int
        ``VIdlParity``.
    det_sci_yangle : float
        ``DetSciYAngle`` (deg).
    det_sci_parity : int
        ``DetSciParity``.
    degree : int
        Degree of the distortion polynomials (``Sci2IdlDeg``).
    sci2idl_x, sci2idl_y, idl2sci_x, idl2sci_y : dict of str to float
        Coefficients as astropy ``Polynomial2D`` parameters: SIAF term
        ``{i}{j}`` (``x**(i-j) * y**j``) becomes ``c{i-j}_{j}``.
    """

    name: str
    aper_type: str
    det_size: tuple
    det_ref: tuple
    sci_size: tuple
    sci_ref: tuple
    sci_scale: tuple
    v2_ref: float
    v3_ref: float
    v3_idl_yangle: float
    vidl_parity: int
    det_sci_yangle: float
    det_sci_parity: int
    degree: int
    sci2idl_x: dict
    sci2idl_y: dict
    idl2sci_x: dict
    idl2sci_y: dict

    def det_to_sci(self, x_det, y_det):
        """Detector -> science frame (both 1-based), JWST-STScI-001550 section 4.1."""
        angle = math.radians(self.det_sci_yangle)
        dx = np.asarray(x_det, dtype=float) - self.det_ref[0]
        dy = np.asarray(y_det, dtype=float) - self.det_ref[1]
        x_sci = self.sci_ref[0] + self.det_sci_parity * math.cos(angle) * dx - math.sin(angle) * dy
        y_sci = self.sci_ref[1] + self.det_sci_parity * math.sin(angle) * dx + math.cos(angle) * dy
        return x_sci, y_sci

    def sci_to_det(self, x_sci, y_sci):
        """Science -> detector frame (both 1-based), the inverse of :meth:`det_to_sci`."""
        angle = math.radians(self.det_sci_yangle)
        dx = np.asarray(x_sci, dtype=float) - self.sci_ref[0]
        dy = np.asarray(y_sci, dtype=float) - self.sci_ref[1]
        x_det = self.det_ref[0] + self.det_sci_parity * (math.cos(angle) * dx + math.sin(angle) * dy)
        y_det = self.det_ref[1] - math.sin(angle) * dx + math.cos(angle) * dy
        return x_det, y_det

    @property
    def fast_slow_axes(self):
        """``(FASTAXIS, SLOWAXIS)`` when detector x is read fastest (NIRCam, MIRI); see :meth:`readout_axes`."""
        return self.readout_axes("x")

    def readout_axes(self, fast_axis="x"):
        """``(FASTAXIS, SLOWAXIS)`` of the science frame, from the detector-to-science rotation.

        Detector x maps onto science +x or -x (``+-1``), detector y onto
        science +y or -y (``+-2``); only right-angle rotations occur. The
        fast readout direction is detector x for NIRCam and MIRI, detector y
        for NIRISS and FGS (``fast_axis="y"``), whose science files then read
        ``FASTAXIS = +-2``.
        """
        cosine = round(math.cos(math.radians(self.det_sci_yangle)))
        along_x = int(self.det_sci_parity * cosine) or 1
        along_y = 2 * (cosine or 1)
        return (along_x, along_y) if fast_axis == "x" else (along_y, along_x)


def siaf_xml_path(instrument):
    """Path of the SIAF XML of ``instrument`` in the installed pysiaf's default PRD.

    Raises
    ------
    ParameterError
        If pysiaf is not installed or has no SIAF for the instrument.
    """
    key = instrument.lower()
    if key not in _INSTRUMENT_FILES:
        raise ParameterError(f"instrument: no SIAF for {instrument!r} (known: {', '.join(sorted(_INSTRUMENT_FILES))})")
    root = _prd_root()
    path = root / _INSTRUMENT_FILES[key]
    if not path.is_file():
        raise ParameterError(f"instrument: {path} is missing; {_INSTALL_HINT}")
    return path


def prd_version():
    """Name of the PRD release the SIAF is read from (e.g. ``PRDOPSSOC-075``)."""
    return _prd_root().parent.parent.name


@functools.lru_cache(maxsize=1)
def _prd_root():
    spec = importlib.util.find_spec("pysiaf")
    if spec is None or not spec.submodule_search_locations:
        raise ParameterError(f"instrument: pysiaf is not installed; {_INSTALL_HINT}")
    jwst = pathlib.Path(next(iter(spec.submodule_search_locations))) / "prd_data" / "JWST"
    # pysiaf's default: the highest numbered PRDOPSSOC-NNN release (lettered pre-flight ones excluded).
    releases = []
    for entry in jwst.glob("PRDOPSSOC-*"):
        match = _PRD_PATTERN.match(entry.name)
        if match and (entry / "SIAFXML" / "SIAFXML").is_dir():
            releases.append(((int(match.group(1)), int(match.group(2) or 0)), entry))
    if not releases:
        raise ParameterError(f"instrument: no SIAF release found under {jwst}; {_INSTALL_HINT}")
    return max(releases)[1] / "SIAFXML" / "SIAFXML"


def _number(entry, tag, default=None):
    text = entry.get(tag)
    if text is None or text.strip() == "":
        return default
    return float(text)


def _coefficients(entry, prefix, degree):
    coeffs = {}
    for i in range(degree + 1):
        for j in range(i + 1):
            coeffs[f"c{i - j}_{j}"] = _number(entry, f"{prefix}{i}{j}", 0.0)
    return coeffs


def _aperture(entry):
    degree = int(_number(entry, "Sci2IdlDeg", 0) or 0)
    return SiafAperture(
        name=entry["AperName"],
        aper_type=entry.get("AperType", ""),
        det_size=(_number(entry, "XDetSize"), _number(entry, "YDetSize")),
        det_ref=(_number(entry, "XDetRef"), _number(entry, "YDetRef")),
        sci_size=(_number(entry, "XSciSize"), _number(entry, "YSciSize")),
        sci_ref=(_number(entry, "XSciRef"), _number(entry, "YSciRef")),
        sci_scale=(_number(entry, "XSciScale"), _number(entry, "YSciScale")),
        v2_ref=_number(entry, "V2Ref"),
        v3_ref=_number(entry, "V3Ref"),
        v3_idl_yangle=_number(entry, "V3IdlYAngle"),
        vidl_parity=int(_number(entry, "VIdlParity", 1)),
        det_sci_yangle=_number(entry, "DetSciYAngle", 0.0),
        det_sci_parity=int(_number(entry, "DetSciParity", 1)),
        degree=degree,
        sci2idl_x=_coefficients(entry, "Sci2IdlX", degree),
        sci2idl_y=_coefficients(entry, "Sci2IdlY", degree),
        idl2sci_x=_coefficients(entry, "Idl2SciX", degree),
        idl2sci_y=_coefficients(entry, "Idl2SciY", degree),
    )


@functools.lru_cache(maxsize=8)
def siaf_apertures(instrument):
    """All apertures of an instrument with a distortion solution, by name (cached).

    Parameters
    ----------
    instrument : str
        ``"nircam"``, ``"miri"``, ``"niriss"``, ``"fgs"`` or ``"nirspec"`` (case-insensitive).

    Returns
    -------
    dict of str to SiafAperture
    """
    path = siaf_xml_path(instrument)
    apertures = {}
    for _, element in ElementTree.iterparse(path):
        if element.tag != "SiafEntry":
            continue
        entry = {child.tag: child.text for child in element}
        element.clear()
        if entry.get("AperName") and entry.get("Sci2IdlDeg") and entry.get("V2Ref"):
            apertures[entry["AperName"]] = _aperture(entry)
    return apertures


def siaf_aperture(instrument, name):
    """One aperture by name.

    Raises
    ------
    ParameterError
        If the SIAF has no aperture of that name.
    """
    apertures = siaf_apertures(instrument.lower())
    if name not in apertures:
        raise ParameterError(f"detector: the {instrument} SIAF has no aperture {name!r}")
    return apertures[name]
