"""Simulated exposures of every imaging EXP_TYPE that calwebb_image2 calibrates.

:func:`gpucal.sim.simulate` makes science imaging exposures: NRC_IMAGE,
MIR_IMAGE, NIS_IMAGE, FGS_IMAGE, NRS_IMAGE (NRC_TSIMAGE with ``tso=True``). jwst 3.0's
image2 treats the other imaging modes of the same instrument (target
acquisition, coronagraphy, aperture masking, focus; see
:mod:`gpucal.pipelines.image2.exp_types`) with the same WCS, flat and photom
algorithms, and differs only in what the EXP_TYPE decides: no ``_i2d`` for
any of them, photom skipped for a NIRISS cube, time-series defaults. So a mode
is simulated as an imaging exposure of that instrument whose EXP_TYPE is the
mode's (:func:`simulate_mode`); the simulated references serve every imaging
EXP_TYPE of their instrument (``P_EXP_TY``), as the flight ones do.

What is not simulated: the optics of the mode. A coronagraphic exposure has no
occulting mask or Lyot stop in its image, and its subarray, PUPIL (NIRCam
MASKRND/MASKBAR) and CORONMSK keywords are the imaging ones; a target
acquisition has no TA subarray. Aperture masking (NIS_AMI) does use the
non-redundant mask's pupil (``PUPIL=NRM``, ~15 % throughput) and the SUB80
subarray by default. NIRSpec's imaging modes (target acquisitions NRS_TACQ,
NRS_TASLIT, NRS_WATA, NRS_MSATA, their confirmations NRS_TACONFIRM and
NRS_CONFIRM, NRS_FOCUS, NRS_MIMF, NRS_VERIFY) are images through the GWA
mirror with the mode's filter: no slit or MSA shutter pattern in the image,
no TA subarray name (a generic subarray of the mode's size), FXD_SLIT NONE.
None of this changes what image2 computes.
"""

import dataclasses
import pathlib

from gpucal.errors import ParameterError
from gpucal.io.exposure import read_exposure, write_exposure
from gpucal.sim.instruments import IMAGE2_EXP_TYPES

__all__ = ["MODE_DEFAULTS", "instrument_of", "relabel_exposure_type", "simulate_mode"]


@dataclasses.dataclass(frozen=True)
class ModeDefaults:
    """Simulation options a mode uses unless given: detector, filter, size, integrations, time series."""

    detector: str | None = None
    filter: str | None = None
    size: int = 64
    nints: int = 1
    tso: bool = False


#: Per EXP_TYPE, the options :func:`simulate_mode` uses by default (the instrument's configuration of that mode).
MODE_DEFAULTS = {
    "NRC_IMAGE": ModeDefaults("nrca1", "f200w", 160),
    "NRC_TSIMAGE": ModeDefaults("nrca3", "f210m", 64, nints=2, tso=True),
    "NRC_CORON": ModeDefaults("nrcalong", "f335m", 64),
    "NRC_TACQ": ModeDefaults("nrcalong", "f335m", 64),
    "NRC_TACONFIRM": ModeDefaults("nrcalong", "f335m", 64),
    "NRC_FOCUS": ModeDefaults("nrca3", "f212n", 64),
    "MIR_IMAGE": ModeDefaults("mirimage", "f770w", 128),
    "MIR_LYOT": ModeDefaults("mirimage", "f2100w", 64),
    "MIR_4QPM": ModeDefaults("mirimage", "f1130w", 64),
    "MIR_CORONCAL": ModeDefaults("mirimage", "f1130w", 64),
    "MIR_TACQ": ModeDefaults("mirimage", "f560w", 64),
    "MIR_TACONFIRM": ModeDefaults("mirimage", "f560w", 64),
    "NIS_IMAGE": ModeDefaults("nis", "f150w", 128),
    "NIS_AMI": ModeDefaults("nis", "f480m-nrm", 80),
    "NIS_TACQ": ModeDefaults("nis", "f480m", 64),
    "NIS_TACONFIRM": ModeDefaults("nis", "f480m", 64),
    "NIS_FOCUS": ModeDefaults("nis", "f150w", 64),
    "FGS_IMAGE": ModeDefaults("guider1", "clear", 128),
    "FGS_FOCUS": ModeDefaults("guider2", "clear", 64),
    "NRS_IMAGE": ModeDefaults("nrs1", "f110w", 128),
    "NRS_TACQ": ModeDefaults("nrs1", "f110w", 64),
    "NRS_TASLIT": ModeDefaults("nrs1", "f110w", 64),
    "NRS_TACONFIRM": ModeDefaults("nrs1", "f110w", 64),
    "NRS_CONFIRM": ModeDefaults("nrs1", "clear", 128),
    "NRS_FOCUS": ModeDefaults("nrs2", "clear", 64),
    "NRS_MIMF": ModeDefaults("nrs1", "clear", 64),
    "NRS_WATA": ModeDefaults("nrs1", "f140x", 64),
    "NRS_MSATA": ModeDefaults("nrs1", "f140x", 128),
    "NRS_VERIFY": ModeDefaults("nrs2", "clear", 64),
}


def instrument_of(exp_type):
    """The simulator instrument (``nircam``, ``miri``, ``niriss``, ``fgs``, ``nirspec``) of an imaging EXP_TYPE.

    Raises
    ------
    ParameterError
        An EXP_TYPE that is not one of calwebb_image2's imaging types.
    """
    key = str(exp_type).upper()
    for instrument, types in IMAGE2_EXP_TYPES.items():
        if key in types:
            return instrument
    known = ", ".join(t for types in IMAGE2_EXP_TYPES.values() for t in types)
    raise ParameterError(f"exp_type: {exp_type!r} is not an imaging EXP_TYPE the simulator makes (choose from {known})")


def relabel_exposure_type(path, exp_type):
    """Rewrite a simulated ``_rate``/``_rateints`` file with another EXP_TYPE of its instrument (atomically).

    Raises
    ------
    ParameterError
        The type belongs to another instrument than the file's INSTRUME.
    """
    exposure = read_exposure(path)
    instrument = str(exposure.meta.instrument.name or "").lower()
    if instrument_of(exp_type) != instrument:
        raise ParameterError(f"exp_type: {exp_type} is not an EXP_TYPE of {instrument.upper()} ({path})")
    exposure.meta.exposure.type = str(exp_type).upper()
    return write_exposure(exposure, pathlib.Path(path))


def simulate_mode(outdir, exp_type, **options):
    """Simulate exposures of an imaging EXP_TYPE (see the module notes); same result as :func:`simulate`.

    Parameters
    ----------
    outdir : str or os.PathLike
    exp_type : str
        Any EXP_TYPE of :data:`gpucal.sim.instruments.IMAGE2_EXP_TYPES` (``NIS_AMI``, ``FGS_FOCUS``,
        ``NRS_MSATA``...).
    **options
        As for :func:`gpucal.sim.simulate`; ``detector``, ``filter``, ``size``,
        ``nints`` and ``tso`` default to the mode's :data:`MODE_DEFAULTS`, and
        ``exposures`` and ``backgrounds`` to 1 and 0. ``instrument``, if given,
        must be the mode's.

    Returns
    -------
    gpucal.sim.SimulationResult
        Every science and background file carries ``exp_type``.

    Raises
    ------
    ParameterError
        An unknown EXP_TYPE, an instrument that does not have it, or ``tso`` for another type than NRC_TSIMAGE.
    """
    from gpucal.sim.observation import simulate

    exp_type = str(exp_type).upper()
    instrument = instrument_of(exp_type)
    given = options.pop("instrument", None)
    if given is not None and str(given).lower() != instrument:
        raise ParameterError(f"exp_type: {exp_type} is a {instrument.upper()} mode, not a {str(given).upper()} one")
    defaults = MODE_DEFAULTS[exp_type]
    for name in ("detector", "filter", "size", "nints", "tso"):
        if options.get(name) is None:
            options[name] = getattr(defaults, name)
    if options["tso"] and exp_type != "NRC_TSIMAGE":
        raise ParameterError(f"tso: only NRC_TSIMAGE is simulated as a time series, not {exp_type}")
    options.setdefault("exposures", 1)
    options.setdefault("backgrounds", 0)
    result = simulate(outdir, instrument=instrument, **options)
    if exp_type != IMAGE2_EXP_TYPES[instrument][0] and exp_type != "NRC_TSIMAGE":
        for path in (*result.science, *result.science_ints, *result.background, *result.background_ints):
            relabel_exposure_type(path, exp_type)
    return result
