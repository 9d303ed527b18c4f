"""Imaging outlier detection over many exposures with memory flat in their number (jwst ``imaging.detect_outliers``).

Three passes, one exposure resident at a time (``docs``: image3-dataflow):

1. *singles*: per exposure group, one drizzle of its members onto the mosaic
   grid (no context, variance or error); the group's weight threshold is
   computed from its whole WHT on the device, then SCI and WHT are cut into row
   bands (:class:`~gpucal.outlier.median.BandStore`);
2. *median*: band by band, the weight-masked NaN-median of all groups;
3. *flag*: per exposure, the median blotted onto it, the derivative test,
   ``DQ |= 17`` on outliers, jwst's NaN/flag matching, and ``member.store``.

With ``resample_data=False`` the median is of the inputs themselves (weights
from ``build_driz_weight``, one threshold per input) and an input is flagged
where ``|SCI - median| > snr1 * ERR``.

Peak memory: one exposure, the drizzle grid pair (SCI, WHT) of the group being
made, the median (one float32 grid) and the band buffer (``memory_budget``).
"""

import dataclasses
import logging
import pathlib

import numpy as np

from gpucal.dqflags import interpret_bit_flags
from gpucal.engine import to_device, to_host
from gpucal.errors import OutputError, ParameterError
from gpucal.kernels import kernel_for
from gpucal.kernels.drizzle_weight import WEIGHT_EXPTIME, WEIGHT_IVM
from gpucal.outlier.median import BandStore, band_rows, median_by_bands
from gpucal.outlier.params import OutlierParams
from gpucal.outlier.threshold import weight_threshold
from gpucal.resample.engine import VARIANCE_NAMES, Resampler, ResampleSettings

__all__ = ["MemberResult", "OutlierResults", "SingleImage", "detect_outliers"]

log = logging.getLogger("gpucal")


@dataclasses.dataclass(frozen=True)
class SingleImage:
    """One group's single drizzle, saved as ``.npy`` files (``save_intermediate_results``)."""

    group_id: str
    sci_path: pathlib.Path
    wht_path: pathlib.Path
    threshold: float


@dataclasses.dataclass(frozen=True)
class MemberResult:
    """What outlier detection did to one input."""

    index: int
    group_id: str
    n_flagged: int
    n_pixels: int
    blot_path: pathlib.Path | None = None


@dataclasses.dataclass(frozen=True)
class OutlierResults:
    """Outcome of :func:`detect_outliers`.

    Attributes
    ----------
    skipped : bool
        True when there were fewer than 2 inputs (nothing was changed or stored).
    members : tuple of MemberResult
        Per input, in input order.
    thresholds : tuple of float
        Per median plane (group, or input without resampling), the weight threshold.
    band_rows, n_bands : int
        How the median was cut.
    storage : str
        ``"memory"`` or ``"disk"``: where the single images' bands were kept.
    median : ndarray or None
        The median image (``save_intermediate_results`` only).
    singles : tuple of SingleImage
        The saved single images (``save_intermediate_results`` with ``resample_data``).
    """

    skipped: bool
    members: tuple = ()
    thresholds: tuple = ()
    band_rows: int = 0
    n_bands: int = 0
    storage: str = ""
    median: np.ndarray | None = None
    singles: tuple = ()

    @property
    def n_flagged(self):
        """Outlier pixels over all inputs."""
        return sum(m.n_flagged for m in self.members)

    @property
    def flagged_fraction(self):
        """Outlier pixels over all inputs' pixels (0 when skipped)."""
        total = sum(m.n_pixels for m in self.members)
        return self.n_flagged / total if total else 0.0


def _member_group(member, index):
    gid = getattr(member, "group_id", None)
    if gid is None:
        raise ParameterError(f"members[{index}]: has no group_id")
    return str(gid)


def _workdir(workdir):
    if workdir is None:
        raise ParameterError("workdir: a folder for the median's band files is required")
    path = pathlib.Path(workdir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"workdir: cannot create {path}: {exc}") from exc
    return path


def _name(exposure, index):
    return exposure.meta.filename or exposure.path or f"members[{index}]"


def _settings(params):
    return ResampleSettings(
        kernel=params.kernel, pixfrac=params.pixfrac, fillval=params.fillval, weight_type=params.weight_type,
        good_bits=params.good_bits, enable_ctx=False, enable_var=False, compute_err=None,
    )  # fmt: skip


def _report(progress, stage, done, total):
    if progress is not None:
        progress(stage, done, total)


def _singles(members, groups, grid, params, device, store, workdir, progress):
    """Pass 1: one drizzle per group into the band store; returns thresholds and saved singles."""
    thresholds, saved = [], []
    settings = _settings(params)
    done = 0
    for k, (gid, indices) in enumerate(groups.items()):
        resampler = Resampler(grid, device, settings, n_inputs=len(indices))
        for i in indices:
            resampler.add(members[i].load())
            done += 1
            _report(progress, "singles", done, len(members))
        threshold = weight_threshold(resampler.wht, params.maskpt)
        arrays, _ = resampler.finalize()
        del resampler
        thresholds.append(threshold)
        store.append(arrays["data"], arrays["wht"])
        if params.save_intermediate_results:
            sci_path = workdir / f"outlier_single_{k:04d}_sci.npy"
            wht_path = workdir / f"outlier_single_{k:04d}_wht.npy"
            np.save(sci_path, arrays["data"])
            np.save(wht_path, arrays["wht"])
            saved.append(SingleImage(gid, sci_path, wht_path, threshold))
        log.info(
            "outlier_detection: group %s (%d exposures) drizzled; weight threshold %.6g", gid, len(indices), threshold
        )
    return thresholds, saved


def _inputs_as_singles(members, params, device, store, progress):
    """Pass 1 without resampling: each input's SCI and ``build_driz_weight`` weight into the band store."""
    good = interpret_bit_flags(params.good_bits)
    bad_bits = 0 if good is None else (~good & 0xFFFFFFFF)
    mode = WEIGHT_EXPTIME if params.weight_type == "exptime" else WEIGHT_IVM
    thresholds = []
    for i, member in enumerate(members):
        exposure = member.load()
        if exposure.shape != store.shape:
            raise ParameterError(
                f"resample_data=False: {_name(exposure, i)} has shape {exposure.shape}, "
                f"not {store.shape} as the first input"
            )
        arrays = to_device({k: exposure.arrays.get(k) for k in ("data", "dq", "var_rnoise")}, device)
        vr = arrays["var_rnoise"]
        if vr is None:
            if params.weight_type == "ivm":
                log.warning("outlier_detection: %s has no VAR_RNOISE; weight set to 1", _name(exposure, i))
            vr = device.xp.ones(store.shape, device.xp.float32)
        tmeasure = exposure.meta.exposure.measurement_time
        if tmeasure is None:
            tmeasure = exposure.meta.exposure.exposure_time
        weight = kernel_for("drizzle_weight", device)(arrays["dq"], vr, bad_bits, mode, float(tmeasure or 0.0))
        thresholds.append(weight_threshold(weight, params.maskpt))
        host = to_host({"data": arrays["data"], "wht": weight})
        store.append(np.ascontiguousarray(host["data"], np.float32), host["wht"])
        _report(progress, "singles", i + 1, len(members))
    return thresholds


def _flag_member(exposure, index, blot, params, device):
    """Flag one exposure (host arrays) against ``blot`` (device); returns the number of outliers."""
    name = _name(exposure, index)
    if exposure.err is None or exposure.dq is None:
        raise ParameterError(f"outlier_detection: {name} has no ERR or DQ array")
    xp = device.xp
    arrays = to_device(exposure.arrays, device)
    sci, err, dq = arrays["data"], arrays["err"], arrays["dq"]
    snr1, snr2 = params.snr_pair
    scale1, scale2 = params.scale_pair
    try:
        if params.resample_data:
            backg = params.backg
            level, subtracted = exposure.meta.background.level, exposure.meta.background.subtracted
            if subtracted is False and level is not None:
                backg = float(level)
            cr, dq = kernel_for("outlier_flag", device)(sci, err, blot, dq, backg, snr1, snr2, scale1, scale2)
        else:
            cr, dq = kernel_for("outlier_flag_direct", device)(sci, err, blot, dq, snr1)
    except ParameterError as exc:
        raise ParameterError(f"outlier_detection: {name}: {exc}") from exc
    n_flagged = int(cr.sum())
    del cr
    zeros = xp.zeros(sci.shape, xp.float32)
    variances = [arrays.get(n) if arrays.get(n) is not None else zeros for n in VARIANCE_NAMES]
    vr, vf, vp = variances
    kernel_for("match_nans", device)(sci, err, vp, vr, vf, dq, out=(sci, err, vp, vr, vf, dq))
    arrays["dq"] = dq
    exposure.arrays = dict(to_host(arrays))
    return n_flagged


def detect_outliers(members, grid, params, device, *, workdir, memory_budget=None, progress=None, on_flagged=None):
    """Flag outliers in imaging exposures, as jwst 3.0's imaging ``outlier_detection``.

    Parameters
    ----------
    members : sequence
        The inputs, in association order; each has ``group_id`` (str), ``load()``
        returning a host :class:`~gpucal.io.exposure.Exposure` and
        ``store(exposure)`` receiving the flagged exposure. Each is loaded twice
        (singles, then flagging) and stored once.
    grid : gpucal.resample.grid.OutputGrid
        The mosaic's grid (jwst drizzles the singles onto the final output grid).
    params : OutlierParams
    device : gpucal.engine.Device
    workdir : path-like
        Folder for the median's band files (removed afterwards) and, with
        ``save_intermediate_results``, the ``.npy`` singles and blots.
    memory_budget : int, optional
        Bytes for one median band of all groups (SCI and WHT); default one
        float32 image of the grid, jwst's default median buffer. The singles
        are kept in memory instead of files only when ``params.in_memory`` and
        the whole stack fits this budget, so memory never grows with the
        number of groups beyond it.
    progress : callable, optional
        ``progress(stage, done, total)`` with stage ``"singles"``, ``"median"`` or ``"flag"``.
    on_flagged : callable, optional
        ``on_flagged(index, exposure, pixmap)`` after each member is flagged and
        stored: the flagged host exposure (as stored) and its pixel map onto
        ``grid`` on ``device`` (None without resampling), e.g. to drizzle it
        onto a mosaic of the same grid without reading it back.

    Returns
    -------
    OutlierResults
        Per-input outlier counts (``skipped`` with fewer than 2 inputs, as jwst),
        and with ``save_intermediate_results`` the median and the saved singles/blots.

    Raises
    ------
    ParameterError
        Bad parameters, a member without ``group_id``, unusable input arrays.
    OutputError
        ``workdir`` cannot be written.
    """
    if not isinstance(params, OutlierParams):
        raise ParameterError(f"params: expected OutlierParams, got {type(params).__name__}")
    members = list(members)
    if len(members) < 2:
        log.warning(
            "outlier_detection: input only contains %d exposures; outlier detection will be skipped", len(members)
        )
        return OutlierResults(skipped=True)
    workdir = _workdir(workdir)
    groups = {}
    for i, member in enumerate(members):
        groups.setdefault(_member_group(member, i), []).append(i)

    if params.resample_data:
        shape, nplanes = tuple(grid.shape), len(groups)
    else:
        shape, nplanes = members[0].load().shape, len(members)
    rows = band_rows(shape, nplanes, memory_budget)
    fits = memory_budget is not None and nplanes * shape[0] * shape[1] * 8 <= memory_budget
    store = BandStore(shape, nplanes, rows, folder=None if params.in_memory and fits else workdir)
    log.info(
        "outlier_detection: %d exposures in %d groups; median in %d band(s) of %d rows (%s)",
        len(members), len(groups), len(store.bands), rows, "memory" if store.in_memory else "disk",
    )  # fmt: skip
    try:
        if params.resample_data:
            thresholds, singles = _singles(members, groups, grid, params, device, store, workdir, progress)
        else:
            thresholds, singles = _inputs_as_singles(members, params, device, store, progress), []
        median = median_by_bands(store, thresholds, device, progress)
    finally:
        storage = "memory" if store.in_memory else "disk"
        store.close()

    median_dev = to_device({"median": median}, device)["median"]
    blotter = Resampler(grid, device, _settings(params)) if params.resample_data else None
    results = []
    group_of = {i: gid for gid, indices in groups.items() for i in indices}
    for i, member in enumerate(members):
        exposure = member.load()
        blot_path = None
        pixmap = None
        if blotter is not None:
            pixmap = blotter.pixmap(exposure)
            blot = blotter.blot(median_dev, exposure, pixmap)
        else:
            blot = median_dev
        if params.save_intermediate_results and blotter is not None:
            blot_path = workdir / f"outlier_blot_{i:04d}.npy"
            np.save(blot_path, to_host({"b": blot})["b"])
        n_flagged = _flag_member(exposure, i, blot, params, device)
        del blot
        member.store(exposure)
        if on_flagged is not None:
            on_flagged(i, exposure, pixmap)
        del pixmap
        log.info("outlier_detection: %s: %d pixels marked as outliers", _name(exposure, i), n_flagged)
        results.append(MemberResult(i, group_of[i], n_flagged, int(np.prod(exposure.shape)), blot_path))
        _report(progress, "flag", i + 1, len(members))
    return OutlierResults(
        skipped=False, members=tuple(results), thresholds=tuple(thresholds), band_rows=rows,
        n_bands=-(-shape[0] // rows), storage=storage,
        median=median if params.save_intermediate_results else None, singles=tuple(singles),
    )  # fmt: skip
