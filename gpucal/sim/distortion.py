"""Distortion and filter-offset reference files (CRDS ``distortion``, ``filteroffset``).

The distortion model is built from SIAF coefficients in the structure of the
official NIRCam CRDS references (made by STScI's ``nircam_calib`` tooling
from pysiaf), full-frame 0-based science pixel to V2/V3 arcsec::

    Shift(1) & Shift(1)                       0-based -> 1-based SIAF pixels
    | Shift(-XSciRef) & Shift(-YSciRef)       offsets from the reference pixel
    | Mapping((0, 1, 0, 1))
    | Sci2IdlX & Sci2IdlY                     distortion polynomials -> ideal arcsec
    | Mapping((0, 1, 0, 1))
    | IdlX2V2 & IdlY2V3                       rotation by V3IdlYAngle with VIdlParity
    | Shift(V2Ref) & Shift(V3Ref)

Every piece has an analytic inverse; the polynomial pair's inverse is the
SIAF ``Idl2Sci`` pair and the rotation's inverse is its transpose, so the
compound model inverts (V2/V3 -> pixel) without iteration. The same
structure is used for MIRI (degree-4 SIAF coefficients), NIRISS (``NIS_CEN``)
and FGS (``FGS1_FULL``/``FGS2_FULL``); the flight MIRI reference is built from
the instrument team's own matrices instead, and is not copied. FGS has no
filteroffset reference.
"""

import datetime
import math

from gpucal.sim.instruments import instrument_rng
from gpucal.sim.siaf import prd_version

__all__ = [
    "distortion_model",
    "filter_offsets",
    "ideal_to_v2v3_model",
    "write_distortion",
    "write_filteroffset",
]

_USEAFTER = "2022-01-01T00:00:00"


def ideal_to_v2v3_model(aperture):
    """The ideal (arcsec) -> V2/V3 offset (arcsec) rotation as a model with its inverse.

    ``V2 - V2Ref = p x cos(a) + y sin(a)``, ``V3 - V3Ref = -p x sin(a) + y cos(a)``
    with ``a = V3IdlYAngle`` and ``p = VIdlParity`` (JWST-STScI-001550 section 5.3).
    """
    from astropy.modeling.models import Mapping, Polynomial2D

    angle = math.radians(aperture.v3_idl_yangle)
    parity = aperture.vidl_parity
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    to_v2 = Polynomial2D(1, c0_0=0.0, c1_0=parity * cos_a, c0_1=sin_a, name="idl2v2")
    to_v3 = Polynomial2D(1, c0_0=0.0, c1_0=-parity * sin_a, c0_1=cos_a, name="idl2v3")
    from_v2 = Polynomial2D(1, c0_0=0.0, c1_0=parity * cos_a, c0_1=-parity * sin_a, name="v2v3_to_idlx")
    from_v3 = Polynomial2D(1, c0_0=0.0, c1_0=sin_a, c0_1=cos_a, name="v2v3_to_idly")
    model = Mapping((0, 1, 0, 1)) | to_v2 & to_v3
    model.inverse = Mapping((0, 1, 0, 1)) | from_v2 & from_v3
    return model


def _science_to_ideal_model(aperture):
    from astropy.modeling.models import Mapping, Polynomial2D

    degree = aperture.degree
    forward = Mapping((0, 1, 0, 1)) | (
        Polynomial2D(degree, **aperture.sci2idl_x, name="sci2idlx")
        & Polynomial2D(degree, **aperture.sci2idl_y, name="sci2idly")
    )
    forward.inverse = Mapping((0, 1, 0, 1)) | (
        Polynomial2D(degree, **aperture.idl2sci_x, name="idl2scix")
        & Polynomial2D(degree, **aperture.idl2sci_y, name="idl2sciy")
    )
    return forward


def distortion_model(aperture):
    """Full-frame 0-based science pixel -> (V2, V3) arcsec for a SIAF aperture.

    Parameters
    ----------
    aperture : gpucal.sim.siaf.SiafAperture
        A full-frame aperture (``NRCA1_FULL``, ``MIRIM_FULL``...).

    Returns
    -------
    astropy.modeling.CompoundModel
        With an analytic ``.inverse`` (V2/V3 -> pixel). No bounding box is
        bound: jwst's assign_wcs binds one from the data shape.
    """
    from astropy.modeling.models import Shift

    model = (
        Shift(1.0) & Shift(1.0)
        | Shift(-aperture.sci_ref[0]) & Shift(-aperture.sci_ref[1])
        | _science_to_ideal_model(aperture)
        | ideal_to_v2v3_model(aperture)
        | Shift(aperture.v2_ref) & Shift(aperture.v3_ref)
    )
    model.name = f"{aperture.name}_distortion"
    return model


def filter_offsets(detector_spec, filters):
    """Per-filter pixel offsets ``[{filter, pupil, column_offset, row_offset}]``.

    Small, deterministic offsets (up to ~0.3 pixel) for about two filters in
    three and exact zeros for the others, as in the flight references where
    some filters define the boresight. The values depend only on the
    detector and filter names, so every simulation sees the same ones.

    Parameters
    ----------
    detector_spec : gpucal.sim.instruments.DetectorSpec
    filters : sequence of gpucal.sim.instruments.FilterSpec
    """
    rows = []
    for spec in filters:
        rng = instrument_rng("filteroffset", detector_spec.name, spec.filter, spec.pupil)
        if rng.random() < 1 / 3:
            col, row = 0.0, 0.0
        else:
            col, row = (round(float(v), 3) for v in rng.uniform(-0.3, 0.3, 2))
        rows.append({"filter": spec.filter, "pupil": spec.pupil, "column_offset": col, "row_offset": row})
    return rows


def _base_meta(detector_spec, reftype, model_type, title, description):
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    instrument = {"name": detector_spec.instrument_name, "detector": detector_spec.detector}
    if detector_spec.module:
        instrument["module"] = detector_spec.module
    instrument["channel"] = detector_spec.channel or "N/A"
    return {
        "author": "gpucal simulator",
        "date": now,
        "description": description,
        "exposure": {"type": detector_spec.exp_type, "p_exptype": detector_spec.p_exptype},
        "instrument": instrument,
        "model_type": model_type,
        "origin": "gpucal",
        "pedigree": "DUMMY",
        "reftype": reftype,
        "telescope": "JWST",
        "title": title,
        "useafter": _USEAFTER,
    }


def _write_asdf(tree, path):
    import asdf

    from gpucal.io.atomic import atomic_path

    with atomic_path(path) as tmp:
        asdf.AsdfFile(tree).write_to(tmp)
    return path


def write_distortion(path, detector_spec, aperture, *, subarrays):
    """Write a CRDS ``distortion`` reference (``DistortionModel`` layout: ``meta`` + ``model``).

    Parameters
    ----------
    path : pathlib.Path
    detector_spec : gpucal.sim.instruments.DetectorSpec
    aperture : gpucal.sim.siaf.SiafAperture
        The detector's full-frame aperture.
    subarrays : sequence of str
        Subarray names the reference applies to (``P_SUBARR``).

    Returns
    -------
    pathlib.Path
    """
    from astropy import units as u

    meta = _base_meta(
        detector_spec, "distortion", "DistortionModel", f"{detector_spec.instrument_name} distortion (simulated)",
        f"Distortion from SIAF {aperture.name} coefficients ({prd_version()}), gpucal simulator",
    )  # fmt: skip
    meta["instrument"]["filter"] = "N/A"
    meta["instrument"]["pupil"] = "N/A"
    if detector_spec.pupils:  # NIRCam, NIRISS
        meta["instrument"]["p_pupil"] = "|".join(detector_spec.pupils) + "|"
    meta["subarray"] = {"name": "FULL", "p_subarray": "|".join(subarrays) + "|"}
    meta["input_units"] = u.pix
    meta["output_units"] = u.arcsec
    return _write_asdf({"meta": meta, "model": distortion_model(aperture)}, path)


def write_filteroffset(path, detector_spec, offsets):
    """Write a CRDS ``filteroffset`` reference (``FilteroffsetModel`` layout: ``meta`` + ``filters``).

    Parameters
    ----------
    path : pathlib.Path
    detector_spec : gpucal.sim.instruments.DetectorSpec
    offsets : list of dict
        From :func:`filter_offsets`.

    Returns
    -------
    pathlib.Path
    """
    title = f"{detector_spec.instrument_name} filter offsets (simulated)"
    description = "Filter-dependent boresight offsets, gpucal simulator"
    meta = _base_meta(detector_spec, "filteroffset", "FilteroffsetModel", title, description)
    meta["instrument"]["filter"] = "N/A"
    meta["instrument"]["p_filter"] = "|".join(sorted({row["filter"] for row in offsets})) + "|"
    meta["subarray"] = {"name": "FULL", "p_subarray": "GENERIC|FULL|"}
    meta["input_units"] = "pixels"
    return _write_asdf({"meta": meta, "filters": [dict(row) for row in offsets]}, path)
