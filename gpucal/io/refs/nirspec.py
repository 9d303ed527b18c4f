"""Readers for NIRSpec's optical-model references (the WCS of its imaging-mode exposures).

jwst builds a NIRSpec imaging WCS from seven CRDS reference types, all ASDF
files with astropy models in them (stdatamodels' ``DisperserModel``,
``CollimatorModel``, ``FOREModel``, ``FPAModel``, ``CameraModel``,
``OTEModel``, ``WavelengthrangeModel``):

========================  ==========================================================
``disperser``             GWA element: alignment angles ``theta_x/y/z``, ``tilt_y`` (deg)
                          and the tilt-sensor calibrations ``gwa_tiltx/gwa_tilty``
``collimator``            GWA (unitless directions) -> MSA plane (m)
``fore``                  MSA plane (m) and wavelength -> OTE image plane
``fpa``                   ``nrs1_model``/``nrs2_model``: full-frame SCA pixels -> FPA (m)
``camera``                FPA (m) -> GWA (unitless directions)
``ote``                   OTE image plane -> V2/V3 (arcsec)
``wavelengthrange``       ``<filter>_<grating>`` -> spectral order and wavelength range (m)
========================  ==========================================================

:func:`read_nirspec_optics` reads the set once (cached by path and
modification time, like every reader) and checks each file's kind and the
pieces the imaging WCS uses, so that a wrong or damaged file fails with one
line naming it (exit 5) instead of deep inside astropy.
"""

import dataclasses
import functools

from gpucal.errors import ReferenceFileError
from gpucal.io.refs.readers import _meta_reftype, _read_asdf, _stat_key

__all__ = [
    "NIRSPEC_MSA_REFTYPES",
    "NIRSPEC_OPTICS_REFTYPES",
    "GwaTilt",
    "NirspecDisperser",
    "NirspecOptics",
    "read_nirspec_optics",
]

#: The reference types of the NIRSpec imaging WCS, in jwst's order.
NIRSPEC_OPTICS_REFTYPES = ("disperser", "collimator", "wavelengthrange", "fpa", "camera", "ote", "fore")
#: Those of a WCS that ends at the MSA (FILTER=OPAQUE): the FORE and OTE optics are not used.
NIRSPEC_MSA_REFTYPES = ("disperser", "collimator", "wavelengthrange", "fpa", "camera")


@dataclasses.dataclass(frozen=True)
class GwaTilt:
    """A GWA tilt-sensor calibration: the angle (arcsec) for a sensor reading, and the calibration reading."""

    tilt_model: object
    zeroreading: float

    def correction_deg(self, reading):
        """Half the angle change (deg) between ``reading`` and the calibration reading (jwst's ``correct_tilt``)."""
        return 0.5 * (self.tilt_model(reading) - self.tilt_model(self.zeroreading)) / 3600.0


@dataclasses.dataclass(frozen=True)
class NirspecDisperser:
    """The ``disperser`` reference: the GWA element's alignment (deg) and tilt calibrations."""

    path: str
    grating: str
    theta_x: float
    theta_y: float
    theta_z: float
    tilt_y: float
    gwa_tiltx: GwaTilt | None
    gwa_tilty: GwaTilt | None

    def corrected_angles(self, gwa_xtilt, gwa_ytilt):
        """``[theta_x, theta_y, theta_z, tilt_y]`` with the exposure's tilt readings applied (jwst's ``correct_tilt``).

        GWA_XTIL corrects ``theta_y`` (through ``gwa_tiltx``) and GWA_YTIL corrects ``theta_x`` (``gwa_tilty``);
        a missing reading leaves its angle as delivered.
        """
        theta_x, theta_y = self.theta_x, self.theta_y
        if gwa_xtilt is not None:
            theta_y = theta_y + self._tilt(self.gwa_tiltx, "gwa_tiltx").correction_deg(gwa_xtilt)
        if gwa_ytilt is not None:
            theta_x = theta_x + self._tilt(self.gwa_tilty, "gwa_tilty").correction_deg(gwa_ytilt)
        return [theta_x, theta_y, self.theta_z, self.tilt_y]

    def _tilt(self, tilt, name):
        if tilt is None:
            raise ReferenceFileError(f"{self.path}: disperser reference has no {name} calibration for the GWA tilt")
        return tilt


@dataclasses.dataclass(frozen=True)
class NirspecOptics:
    """The seven references of a NIRSpec imaging WCS (models are shared, cached objects: do not modify them).

    Attributes
    ----------
    disperser : NirspecDisperser
    collimator, camera : astropy.modeling.Model
    fore, ote : astropy.modeling.Model or None
        None when read for a WCS that ends at the MSA (:data:`NIRSPEC_MSA_REFTYPES`).
    fpa : dict of str to astropy.modeling.Model
        Per detector (``"NRS1"``, ``"NRS2"``).
    wavelengthrange : dict of str to tuple
        ``<FILTER>_<GRATING>`` (upper case) -> ``(order, (start, end))``, wavelengths in m.
    paths : dict of str to str
        The file of each reference type.
    """

    disperser: NirspecDisperser
    collimator: object
    camera: object
    fore: object
    ote: object
    fpa: dict
    wavelengthrange: dict
    paths: dict


def _model(path, tree, key, reftype, n_inputs, n_outputs, *, inverse=True):
    model = tree.get(key)
    if model is None or not hasattr(model, "n_inputs"):
        raise ReferenceFileError(f"{path}: {reftype} reference has no {key!r} transform")
    if (model.n_inputs, model.n_outputs) != (n_inputs, n_outputs):
        raise ReferenceFileError(
            f"{path}: {reftype} {key} maps {model.n_inputs}->{model.n_outputs} values, expected {n_inputs}->{n_outputs}"
        )
    if inverse:
        try:
            model.inverse  # noqa: B018 - the imaging WCS's backward transform needs it
        except NotImplementedError:
            raise ReferenceFileError(f"{path}: {reftype} {key} has no inverse transform") from None
    return model


@functools.lru_cache(maxsize=16)
def _read_model_ref(key, reftype, n_inputs, n_outputs):
    path = key[0]
    tree = _read_asdf(path, reftype)
    _meta_reftype(path, tree, reftype)
    return _model(path, tree, "model", reftype, n_inputs, n_outputs)


def _number(path, tree, key):
    value = tree.get(key)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ReferenceFileError(f"{path}: disperser reference has no numeric {key!r}") from None


def _tilt(path, tree, key):
    entry = tree.get(key)
    if entry is None:
        return None
    model, zeros = entry.get("tilt_model"), entry.get("zeroreadings")
    if not hasattr(model, "n_inputs") or not zeros:
        raise ReferenceFileError(f"{path}: disperser {key} needs a 'tilt_model' transform and 'zeroreadings'")
    return GwaTilt(model, float(zeros[0]))


@functools.lru_cache(maxsize=16)
def _read_disperser(key):
    path = key[0]
    tree = _read_asdf(path, "disperser")
    meta = _meta_reftype(path, tree, "disperser")
    grating = str((meta.get("instrument") or {}).get("grating") or "").strip().upper()
    angles = [_number(path, tree, name) for name in ("theta_x", "theta_y", "theta_z", "tilt_y")]
    return NirspecDisperser(path, grating, *angles, _tilt(path, tree, "gwa_tiltx"), _tilt(path, tree, "gwa_tilty"))


@functools.lru_cache(maxsize=16)
def _read_fpa(key):
    path = key[0]
    tree = _read_asdf(path, "fpa")
    _meta_reftype(path, tree, "fpa")
    return {det: _model(path, tree, f"{det.lower()}_model", "fpa", 2, 2) for det in ("NRS1", "NRS2")}


@functools.lru_cache(maxsize=16)
def _read_wavelengthrange(key):
    path = key[0]
    tree = _read_asdf(path, "wavelengthrange")
    _meta_reftype(path, tree, "wavelengthrange")
    selectors, ranges, orders = tree.get("waverange_selector"), tree.get("wavelengthrange"), tree.get("order")
    if not selectors or ranges is None or orders is None or not (len(selectors) == len(ranges) == len(orders)):
        raise ReferenceFileError(
            f"{path}: wavelengthrange reference needs 'waverange_selector', 'wavelengthrange' and 'order' of one length"
        )
    table = {}
    for selector, wrange, order in zip(selectors, ranges, orders, strict=True):
        if len(wrange) != 2:
            raise ReferenceFileError(f"{path}: wavelengthrange entry {selector!r} is not a (start, end) pair")
        table[str(selector).strip().upper()] = (int(order), (float(wrange[0]), float(wrange[1])))
    return table


def read_nirspec_optics(paths, *, to_msa=False):
    """Read the references of a NIRSpec imaging WCS.

    Parameters
    ----------
    paths : mapping of str to path
        ``{reftype: file}`` for every type of :data:`NIRSPEC_OPTICS_REFTYPES`
        (of :data:`NIRSPEC_MSA_REFTYPES` with ``to_msa``).
    to_msa : bool
        Read only what a WCS ending at the MSA needs (FILTER=OPAQUE); ``fore`` and ``ote`` are then None.

    Returns
    -------
    NirspecOptics

    Raises
    ------
    ReferenceFileError
        A missing type, a file that cannot be read or is of another type, or a model of the wrong shape or
        without the inverse the WCS needs; the message names the file.
    """
    needed = NIRSPEC_MSA_REFTYPES if to_msa else NIRSPEC_OPTICS_REFTYPES
    missing = [reftype for reftype in needed if reftype not in paths]
    if missing:
        raise ReferenceFileError(f"NIRSpec imaging WCS: no {', '.join(missing)} reference given")
    keys = {reftype: _stat_key(paths[reftype]) for reftype in needed}
    return NirspecOptics(
        disperser=_read_disperser(keys["disperser"]),
        collimator=_read_model_ref(keys["collimator"], "collimator", 2, 2),
        camera=_read_model_ref(keys["camera"], "camera", 2, 2),
        fore=None if to_msa else _read_model_ref(keys["fore"], "fore", 3, 2),
        ote=None if to_msa else _read_model_ref(keys["ote"], "ote", 2, 2),
        fpa=_read_fpa(keys["fpa"]),
        wavelengthrange=_read_wavelengthrange(keys["wavelengthrange"]),
        paths={reftype: str(paths[reftype]) for reftype in needed},
    )
