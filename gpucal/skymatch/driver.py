"""Memory-flat skymatch driver (jwst 3.0 ``SkyMatchStep``, image mode).

:func:`match_sky` loads each member once: footprints and overlap polygons come
from the WCSs alone, so while a member's pixels are on the device the driver
measures its side of every overlap (and its whole-image sky), keeps those
few numbers and releases the pixels. The solve then needs only the table.
The one exception is jwst's ``global+match`` with ``subtract=True``, whose
global sky is measured on data from which the matched differences were
already subtracted: those members are loaded a second time.

Results are per member: the sky level jwst stores as ``meta.background.level``
(None where jwst marks the step ``SKIPPED`` and leaves the level unset), and,
with ``subtract=True``, the values jwst subtracts from the data in turn
(:func:`subtract_sky` applies them with the same float32 arithmetic).
"""

import dataclasses
import logging
import pathlib
import re

import numpy as np

from gpucal.errors import InputFileError, ParameterError
from gpucal.skymatch import footprint
from gpucal.skymatch.solve import SkyState, apply_sky, global_skies, match_deltas
from gpucal.skymatch.statistics import SkyStats, SkyStatsUndefined

__all__ = ["SKYMETHODS", "SkyMatchParams", "SkyMatchResult", "match_sky", "read_skylist", "subtract_sky"]

log = logging.getLogger(__name__)

SKYMETHODS = ("local", "global", "match", "global+match", "user")


@dataclasses.dataclass(frozen=True)
class SkyMatchParams:
    """jwst's ``skymatch`` step parameters (names and defaults of jwst 3.0)."""

    skymethod: str = "match"
    match_down: bool = True
    subtract: bool = False
    skylist: str | None = None
    stepsize: int | None = None
    skystat: str = "mode"
    dqbits: str | int | None = "~DO_NOT_USE+NON_SCIENCE"
    lower: float | None = None
    upper: float | None = None
    nclip: int = 5
    lsigma: float = 4.0
    usigma: float = 4.0
    binwidth: float = 0.1

    def __post_init__(self):
        method = str(self.skymethod).lower()
        if method not in SKYMETHODS:
            raise ParameterError(f"skymethod: {self.skymethod!r} is not one of {', '.join(SKYMETHODS)}")
        object.__setattr__(self, "skymethod", method)
        for name in ("match_down", "subtract"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ParameterError(f"{name}: must be true or false, got {getattr(self, name)!r}")
        if self.stepsize is not None and (
            isinstance(self.stepsize, bool) or not isinstance(self.stepsize, (int, np.integer)) or self.stepsize <= 0
        ):
            raise ParameterError(f"stepsize: must be a positive integer or None, got {self.stepsize!r}")
        if method == "user" and self.skylist is None:
            raise ParameterError('skylist: skymethod is "user" but no sky value file is given')
        self.skystats()  # validates skystat, lower, upper, nclip, lsigma, usigma, binwidth
        self.good_bits()  # validates dqbits

    def skystats(self):
        """The :class:`~gpucal.skymatch.statistics.SkyStats` these parameters describe."""
        return SkyStats(
            skystat=str(self.skystat).lower(),
            lower=self.lower,
            upper=self.upper,
            nclip=self.nclip,
            lsigma=self.lsigma,
            usigma=self.usigma,
            binwidth=self.binwidth,
        )

    def good_bits(self):
        """The DQ bits that do not reject a pixel (None: DQ is ignored, only finite SCI counts)."""
        from gpucal.dqflags import interpret_bit_flags

        try:
            return interpret_bit_flags(self.dqbits)
        except ParameterError as exc:
            raise ParameterError(f"dqbits: {exc}") from None


class SkyMatchResult(list):
    """Per-member sky levels (float, or None where the sky could not be computed).

    Attributes
    ----------
    status : list of str
        ``"COMPLETE"`` or ``"SKIPPED"`` per member (jwst's ``cal_step.skymatch``).
    subtract : bool
        Whether jwst changes the data (``meta.background.subtracted``).
    steps : list of tuple of float
        With ``subtract``, the values to subtract from each member's data in
        turn (:func:`subtract_sky`); empty for skipped members.
    method : str
        The sky method (``meta.background.method``).
    """

    def __init__(self, levels, status, subtract, steps, method):
        super().__init__(levels)
        self.status = list(status)
        self.subtract = bool(subtract)
        self.steps = [tuple(s) for s in steps]
        self.method = method


def subtract_sky(data, steps):
    """Subtract sky values from float32 ``data`` in place, in turn, as jwst's ``image -= sky`` does.

    A Python float or numpy float32 value is subtracted in float32; a numpy
    value of wider type (a ``midpt`` sky is a float64) promotes the
    subtraction to float64 before the result is stored as float32, which is
    what numpy's in-place operator does.
    """
    for value in steps:
        if isinstance(value, np.generic) and value.dtype != np.float32:
            data[...] = (data.astype(np.float64) - np.float64(value)).astype(np.float32)
        else:
            data -= np.float32(value)
    return data


def read_skylist(path):
    """Read a ``skylist`` file as jwst does: ``{root: sky}`` from whitespace-separated ``name sky`` rows.

    Names are reduced to their stem without a processing suffix; values are
    float32 (numpy's ``"f"``), returned as Python floats.
    """
    path = pathlib.Path(path)
    try:
        table = np.genfromtxt(path, dtype=[("fname", "<S128"), ("sky", "f")], ndmin=1)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{path}: cannot read skylist: {exc}") from None
    names = [_root(pathlib.Path(n.decode()).stem) for n in table["fname"]]
    return names, [float(v) for v in table["sky"]]


def _root(stem):
    from gpucal.io.naming import KNOWN_SUFFIXES

    pattern = re.compile("^(?P<root>.+?)((_|-)(" + "|".join(map(re.escape, KNOWN_SUFFIXES)) + "))?$")
    match = pattern.match(stem)
    return match.group("root") if match else stem


def _member_filename(member):
    name = getattr(member, "filename", None)
    if name is None:
        name = member.load().meta.filename
    if not name:
        raise InputFileError(f"skymatch: member {member!r} has no file name to look up in the skylist")
    return str(name)


def _user_sky(members, params, progress):
    names, values = read_skylist(params.skylist)
    if len(values) != len(members):
        raise InputFileError(
            f"{params.skylist}: number of entries in skylist ({len(values)}) does not match "
            f"number of input images ({len(members)})"
        )
    names = np.array(names)
    levels, steps = [], []
    for k, member in enumerate(members):
        root = _root(pathlib.Path(_member_filename(member)).stem)
        found = np.nonzero(names == root)[0]
        if found.size == 0:
            raise InputFileError(f"{params.skylist}: image with stem {root!r} not found in the skylist")
        if found.size > 1:
            raise InputFileError(f"{params.skylist}: image with stem {root!r} found multiple times in the skylist")
        sky = values[int(found[0])]
        levels.append(sky)
        steps.append((sky,) if params.subtract else ())
        if progress is not None:
            progress(k)
    return SkyMatchResult(levels, ["COMPLETE"] * len(members), params.subtract, steps, params.skymethod)


def _initial_sky(exposure, params, label):
    """The member's starting sky and jwst's consistency checks of earlier skymatch runs."""
    background = exposure.meta.background
    subtracted, level = background.subtracted, background.level
    if subtracted is None:
        if level is not None:
            raise InputFileError(f"{label}: background level was set but the 'subtracted' property is undefined")
        level = 0.0
    else:
        if level is None:
            raise InputFileError(f"{label}: background level was subtracted but the 'level' property is undefined")
        if bool(subtracted) != params.subtract:
            raise ParameterError(
                f"subtract: {params.subtract} is inconsistent with the background already recorded in {label}"
            )
    return level if params.subtract else 0.0


def _good_mask(exposure, good_bits, xp, label):
    data = exposure.data
    if data is None or data.ndim != 2:
        raise InputFileError(f"{label}: skymatch needs a 2-D SCI array, got {None if data is None else data.shape}")
    data = xp.asarray(data, dtype=xp.float32)
    mask = xp.isfinite(data)
    if good_bits is not None:
        if exposure.dq is None:
            raise InputFileError(f"{label}: no DQ array, which dqbits={good_bits} needs")
        dq = xp.asarray(exposure.dq)
        mask &= (dq.astype(xp.uint32) & xp.uint32(~good_bits & 0xFFFFFFFF)) == 0
    return data, mask


def _measure(stats, data, mask, device):
    """``(sky, npix)`` as stcal's ``SkyImage.calc_sky`` keeps it, or None."""
    try:
        sky, npix = stats.calc_sky(data, mask, device)
    except SkyStatsUndefined:
        return None
    if not np.isfinite(sky):
        return None
    return sky, npix


def _inverse(wcs):
    """What ``wcs.invert(ra, dec, with_bounding_box=False)`` evaluates, with the inverse model built once."""
    try:
        backward = wcs.backward_transform
    except NotImplementedError:  # no analytical inverse: gwcs's numerical one
        return lambda ra, dec: wcs.invert(ra, dec, with_bounding_box=False)
    return lambda ra, dec: backward(ra, dec, with_bounding_box=False, fill_value=np.nan)


def _overlap_plan(members, items, item_of, polygons, stepsize):
    """For each member and other item: (area, overlap pieces in ra/dec), from polygons only."""
    plan = []
    for m in range(len(members)):
        row = {}
        for j, item in enumerate(items):
            if j == item_of[m]:
                continue
            if len(item) == 1:
                inter = footprint.intersection(polygons[m], polygons[item[0]])
                area = footprint.polygon_area(inter)
                pieces = list(inter.to_radec())
            else:
                area, pieces = 0.0, []
                for n in item:
                    inter = footprint.intersection(polygons[m], polygons[n])
                    area1 = footprint.polygon_area(inter)
                    if area1 == 0.0:
                        continue
                    area += area1
                    pieces += list(inter.to_radec())
            row[j] = (area, pieces)
        plan.append(row)
    return plan


def match_sky(members, params, device=None, progress=None):
    """Compute skymatch's sky levels for a set of members loaded one at a time.

    Parameters
    ----------
    members : sequence
        Objects with ``group_id`` (str), ``wcs`` (gwcs with the image's
        pointing), ``shape`` ((ny, nx)) and ``load()`` returning an
        :class:`~gpucal.io.exposure.Exposure` with host arrays (``data``,
        ``dq``) and ``meta.background``. For ``skymethod='user'`` a
        ``filename`` attribute is used when present (else the loaded
        ``meta.filename``).
    params : SkyMatchParams
    device : gpucal.engine.Device, optional
        Where the statistics run (default: the CPU).
    progress : callable, optional
        Called with the member's index after each member is processed.

    Returns
    -------
    SkyMatchResult
        A list of per-member levels (float or None) with ``status``,
        ``subtract``, ``steps`` and ``method``.
    """
    from gpucal.engine import CPU

    if not isinstance(params, SkyMatchParams):
        raise ParameterError(f"params: expected SkyMatchParams, got {type(params).__name__}")
    device = CPU if device is None else device
    members = list(members)
    if not members:
        raise ParameterError("members: skymatch needs at least one image")
    if params.skymethod == "user":
        return _user_sky(members, params, progress)

    method = params.skymethod
    do_match = "match" in method
    do_global = "global" in method
    stats = params.skystats()
    good_bits = params.good_bits()
    xp = device.xp

    groups = {}
    for m, member in enumerate(members):
        groups.setdefault(str(member.group_id), []).append(m)
    items = list(groups.values())
    item_of = {m: j for j, item in enumerate(items) for m in item}
    polygons = []
    for m, member in enumerate(members):
        shape = tuple(member.shape)
        if len(shape) != 2:
            raise InputFileError(f"skymatch: member {m} has shape {shape}, not (ny, nx)")
        polygons.append(footprint.footprint_polygon(member.wcs, shape, params.stepsize))
    plan = _overlap_plan(members, items, item_of, polygons, params.stepsize) if do_match else None

    # second measurement pass needed only for global+match with subtract (data changed by the match)
    two_pass = do_match and do_global and params.subtract
    need_full = (do_global or not do_match) and not two_pass
    initial = [0.0] * len(members)
    full = [None] * len(members)
    overlap = [dict() for _ in members]
    for m, member in enumerate(members):
        exposure = member.load()
        label = exposure.meta.filename or exposure.path or f"member {m}"
        initial[m] = _initial_sky(exposure, params, label)
        data, mask = _good_mask(exposure, good_bits, xp, label)
        if need_full:
            full[m] = _measure(stats, data, mask, device)
        if do_match:
            inverse = None
            for j, (area, pieces) in plan[m].items():
                if area == 0.0:
                    overlap[m][j] = None
                    continue
                if inverse is None:
                    inverse = _inverse(member.wcs)
                fill = xp.asarray(footprint.overlap_mask(data.shape, member.wcs, pieces, inverse)) & mask
                result = _measure(stats, data, fill, device) if bool(fill.any()) else None
                overlap[m][j] = None if result is None else (result[0], result[1], area)
        del data, mask, exposure
        if progress is not None:
            progress(m)

    state = SkyState(items, initial)
    delta = not params.subtract
    if do_match:
        deltas = match_deltas(state, overlap, delta=delta, match_down=params.match_down)
        apply_sky(state, deltas, do_global=False, subtract=params.subtract)
    if do_global or not do_match:
        if two_pass:
            for m, member in enumerate(members):
                exposure = member.load()
                label = exposure.meta.filename or exposure.path or f"member {m}"
                data, mask = _good_mask(exposure, good_bits, xp, label)
                data = subtract_sky(xp.array(data, dtype=xp.float32), state.steps[m])
                full[m] = _measure(stats, data, mask, device)
                del data, mask, exposure
        values = global_skies(state, full, delta=delta)
        if do_global:
            valid = [v for v in values if v is not None]
            minsky = None
            for v in valid:
                if minsky is None or v < minsky:
                    minsky = v
            if minsky is None:
                log.warning('Unable to compute "global" sky value')
            values = [minsky] * len(values)
        apply_sky(state, values, do_global=do_global, subtract=params.subtract)

    levels, status, steps = [], [], []
    for m in range(len(members)):
        ok = state.valid[m]
        status.append("COMPLETE" if ok else "SKIPPED")
        levels.append(float(state.sky[m]) if ok else None)
        steps.append(tuple(state.steps[m]) if (ok and params.subtract) else ())
    return SkyMatchResult(levels, status, params.subtract, steps, method)
