"""Stream exposures onto one output grid on a device (stcal/jwst ``Resample`` semantics).

A :class:`Resampler` owns the output arrays (data, weight, context, the
variance running sums), resident on the device for the whole run. Exposures
are added one at a time: each one's pixel map is evaluated on the device by
the compiled WCS, its weights are built, and a single drizzle pass
accumulates SCI into the output and, in the same pass, the square roots of its
three variances into a fresh grid whose squares feed the variance sums, as
jwst does with separate drizzles. ``finalize`` turns the sums into VAR_* and
ERR and returns host arrays plus the time keywords.

Only one input exposure is on the device at a time, so a mosaic of any number
of exposures needs device memory for the output grid plus one exposure. Each
``add`` allocates its per-exposure variance temporaries and combines the
variances only over the exposure's window on the grid (the bounding box of
its pixel map, widened by the kernel's reach), so a mosaic of N exposures
costs N exposures' work, not N grids'. ``add`` never writes into the caller's
arrays.
"""

import dataclasses
import logging
import math

import numpy as np

from gpucal.dqflags import interpret_bit_flags
from gpucal.engine import to_device, to_host
from gpucal.errors import DeviceMemoryError, ParameterError
from gpucal.io.grouping import group_id as _group_id
from gpucal.kernels import kernel_for
from gpucal.kernels.drizzle import fill_unweighted
from gpucal.kernels.drizzle_weight import WEIGHT_EXPTIME, WEIGHT_IVM, WEIGHT_UNIT
from gpucal.resample._window import pixmap_extent
from gpucal.wcs.compile import compile_pixmap

__all__ = ["VARIANCE_NAMES", "ResampleSettings", "Resampler", "parse_fillval"]

log = logging.getLogger("gpucal")

#: stcal's order of the variance arrays (ERR sums them in this order).
VARIANCE_NAMES = ("var_rnoise", "var_flat", "var_poisson")


def parse_fillval(fillval):
    """jwst's ``fillval``: ``"NAN"`` -> NaN, ``"INDEF"``/None -> None (leave), else a number."""
    if fillval is None:
        return None
    text = str(fillval).strip().upper()
    if text == "INDEF":
        return None
    if text == "NAN":
        return float("nan")
    try:
        return float(text)
    except ValueError:
        raise ParameterError(f"fillval: {fillval!r} is not 'NAN', 'INDEF' or a number") from None


@dataclasses.dataclass(frozen=True)
class ResampleSettings:
    """The drizzle choices of one resampling run (jwst ResampleStep parameters)."""

    kernel: str = "square"
    pixfrac: float = 1.0
    fillval: str = "NAN"
    weight_type: str | None = "ivm"
    good_bits: str = "~DO_NOT_USE+NON_SCIENCE"
    enable_ctx: bool = True
    enable_var: bool = True
    compute_err: str | None = "from_var"
    propagate_dq: bool = False

    @classmethod
    def from_step(cls, step):
        enable_err = getattr(step, "enable_err", True)
        if getattr(step, "single", False):
            # jwst's single=True: ResampleImage(enable_var=False, compute_err="driz_err"), context as usual.
            return cls(
                kernel=step.kernel, pixfrac=step.pixfrac, fillval=step.fillval, weight_type=step.weight_type,
                good_bits=step.good_bits, enable_ctx=step.enable_ctx, enable_var=False, compute_err="driz_err",
                propagate_dq=step.propagate_dq,
            )  # fmt: skip
        return cls(
            kernel=step.kernel, pixfrac=step.pixfrac, fillval=step.fillval, weight_type=step.weight_type,
            good_bits=step.good_bits, enable_ctx=step.enable_ctx, enable_var=enable_err,
            compute_err="from_var" if enable_err else None, propagate_dq=step.propagate_dq,
        )  # fmt: skip


def _tmeasure(meta):
    """stcal's ``get_tmeasure``: (measurement time, True) or (exposure time, False)."""
    t = meta.exposure.measurement_time
    if t is None:
        return meta.exposure.exposure_time, False
    return t, True


def _input_box(shape, bbox):
    """stcal's ``resample_range``: inclusive (xmin, xmax, ymin, ymax) from a WCS bounding box."""
    if bbox is None:
        return 0, max(shape[1] - 1, 0), 0, max(shape[0] - 1, 0)
    (x1, x2), (y1, y2) = bbox
    xmin = max(0, int(x1 + 0.5))
    ymin = max(0, int(y1 + 0.5))
    xmax = max(xmin, min(shape[1] - 1, int(x2 + 0.5)))
    ymax = max(ymin, min(shape[0] - 1, int(y2 + 0.5)))
    return xmin, xmax, ymin, ymax


class Resampler:
    """Accumulate exposures onto ``grid`` on ``device``.

    Parameters
    ----------
    grid : gpucal.resample.grid.OutputGrid
    device : gpucal.engine.Device
    settings : ResampleSettings
    n_inputs : int, optional
        Number of exposures to come (sizes the context planes; grows if exceeded).
    """

    def __init__(self, grid, device, settings, n_inputs=1):
        self.grid = grid
        self.device = device
        self.settings = settings
        self.fillval = parse_fillval(settings.fillval)
        if settings.kernel not in ("square", "point", "turbo", "gaussian", "lanczos2", "lanczos3"):
            raise ParameterError(f"kernel: {settings.kernel!r} is not a drizzle kernel")
        if settings.weight_type not in ("ivm", "exptime", None):
            raise ParameterError(f"weight_type: {settings.weight_type!r} is not 'ivm', 'exptime' or None")
        if settings.weight_type is None and settings.enable_var:
            # stcal 1.20's resample_variance_arrays weights the variances by 'ivm' or 'exptime' only and
            # raises "unrecognized weight type" otherwise: there is no jwst result to reproduce.
            raise ParameterError(
                "weight_type: None gives unit drizzle weights, but jwst/stcal define no variance combination "
                "for it; use 'ivm' or 'exptime', or turn off the variance arrays (enable_err=false)"
            )
        good = interpret_bit_flags(settings.good_bits)
        self.bad_bits = 0 if good is None else (~good & 0xFFFFFFFF)
        xp = device.xp
        shape = tuple(grid.shape)
        self._check_memory(shape, n_inputs)
        start = np.nan if self.fillval is None else self.fillval
        self.data = xp.full(shape, start, dtype=xp.float32)
        self.wht = xp.zeros(shape, dtype=xp.float32)
        self._min_planes = (max(n_inputs, 1) - 1) // 32 + 1
        self.con = xp.zeros((self._min_planes, *shape), dtype=xp.int32) if settings.enable_ctx else None
        self.dq = xp.zeros(shape, dtype=xp.uint32) if settings.propagate_dq else None
        if settings.compute_err == "driz_err" and settings.enable_var:
            raise ParameterError(
                "compute_err='driz_err' drizzles ERR itself and cannot be combined with variance resampling"
            )
        self.err = xp.full(shape, start, dtype=xp.float32) if settings.compute_err == "driz_err" else None
        if settings.enable_var:
            self.wsum = {n: xp.full(shape, np.nan, dtype=xp.float32) for n in VARIANCE_NAMES}
            self.wt = {n: xp.zeros(shape, dtype=xp.float32) for n in VARIANCE_NAMES}
        self.n_added = 0
        self.group_ids = []
        self.times = {
            "exposure_time": 0.0,
            "measurement_time": 0.0,
            "duration": 0.0,
            "start": [],
            "end": [],
            "tmeasure_ok": [],
        }

    def _grid_planes(self, n_inputs):
        """(persistent, per-add peak) numbers of 4-byte grid-sized arrays this run allocates on the device.

        Persistent: data, wht, the context planes, the DQ, the drizzled ERR, the
        six variance sums. Peak beyond them: an ``add``'s variance temporaries
        (3 drizzled stds, their weight, 2 copies of the sums being combined),
        at most grid-sized, or ``finalize``'s 3 VAR and ERR arrays.
        """
        s = self.settings
        planes = (max(n_inputs, 1) - 1) // 32 + 1 if s.enable_ctx else 0
        persistent = 2 + planes + (1 if s.propagate_dq else 0) + (1 if s.compute_err == "driz_err" else 0)
        peak = 0
        if s.enable_var:
            n = len(VARIANCE_NAMES)
            persistent += 2 * n
            per_add = n + 1 + 2  # drizzled stds, their weight, contiguous copies of one (S, T) pair
            at_finalize = n + 1  # VAR_* and ERR
            peak = max(per_add, at_finalize)
        return persistent, peak

    def _check_memory(self, shape, n_inputs):
        """Refuse a grid whose arrays (persistent and per-add) would not fit on the GPU, with a clear message."""
        if not self.device.uses_cupy:
            return
        persistent, peak = self._grid_planes(n_inputs)
        self._require(int(np.prod(shape)) * 4 * (persistent + peak), shape)

    def _require(self, needed, shape):
        """Raise DeviceMemoryError unless ``needed`` bytes are free on the GPU."""
        import cupy

        free, total = cupy.cuda.runtime.memGetInfo()
        if needed > free:
            raise DeviceMemoryError(
                f"output grid {shape[1]}x{shape[0]} needs {needed / 2**30:.1f} GiB on {self.device} but only "
                f"{free / 2**30:.1f} GiB of {total / 2**30:.1f} GiB are free; use --device cpu, a larger "
                "pixel_scale or a smaller output_shape"
            )

    def _grow_context(self, input_id):
        """Make room for ``input_id``'s context bit: double the planes (amortised), trimmed in finalize."""
        if self.con is None or input_id // 32 < self.con.shape[0]:
            return
        xp = self.device.xp
        planes = max(input_id // 32 + 1, 2 * self.con.shape[0])
        if self.device.uses_cupy:
            self._require(int(np.prod(self.con.shape[1:])) * 4 * planes, self.con.shape[1:])
        grown = xp.zeros((planes, *self.con.shape[1:]), dtype=xp.int32)
        grown[: self.con.shape[0]] = self.con
        self.con = grown

    def _window(self, pixmap, box):
        """``(x0, y0, nx, ny)``: the part of the grid that input box ``box`` can reach.

        The bounding box of the finite pixel-map values of the box and its
        one-pixel rim (the square kernel's corners interpolate, or at the image
        edge extrapolate, those), widened by the kernel's reach in output
        pixels (its half-width ``/ kernel_ratio``) plus twice the largest
        pixel-map step (the corners' extrapolation) and 2 pixels for rounding,
        then clipped to the grid. A pixel map with no finite value gives a
        1x1 window (drizzle then refuses the exposure).
        """
        ny_out, nx_out = self.grid.shape
        xmin, xmax, ymin, ymax = box
        sub = pixmap[max(ymin - 1, 0) : ymax + 2, max(xmin - 1, 0) : xmax + 2]
        found, lo_x, hi_x, lo_y, hi_y, step = pixmap_extent(sub)
        if not found:
            return 0, 0, 1, 1
        pixfrac, ratio = float(self.settings.pixfrac), float(self.grid.kernel_ratio or 1.0)
        reach = {"lanczos2": 2.0, "lanczos3": 3.0, "turbo": pixfrac / 2, "gaussian": max(2.5 * pixfrac / 2.3548, 1.2)}
        margin = math.ceil(reach.get(self.settings.kernel, 0.0) / ratio + 2.0 * step) + 2
        x0 = min(max(math.floor(lo_x) - margin, 0), nx_out - 1)
        y0 = min(max(math.floor(lo_y) - margin, 0), ny_out - 1)
        x1 = max(min(math.ceil(hi_x) + margin, nx_out - 1), x0)
        y1 = max(min(math.ceil(hi_y) + margin, ny_out - 1), y0)
        return x0, y0, x1 - x0 + 1, y1 - y0 + 1

    def pixmap(self, exposure):
        """The exposure's pixel map onto the grid, evaluated on the device."""
        plan = compile_pixmap(exposure.wcs, self.grid.wcs, exposure.shape)
        if not plan.exact:
            log.info("resample: pixel map from a coarse grid (max error %.2g pixel)", plan.error_bound)
        return plan.evaluate(self.device)

    def add(self, exposure, pixmap=None):
        """Drizzle one exposure (its arrays on this device) onto the grid; returns its pixel map.

        The caller's arrays are never modified: jwst's ``match_nans_and_flags``
        writes fresh arrays, and only those are drizzled. ``pixmap``: the
        exposure's pixel map onto this grid when the caller has it already (as
        :meth:`pixmap` returns it); computed when not given.
        """
        xp = self.device.xp
        meta = exposure.meta
        if exposure.data.ndim != 2:
            raise ParameterError(f"resample: {exposure.path or meta.filename}: input is not a 2-D image")
        name = exposure.path or meta.filename
        arrays = to_device(exposure.arrays, self.device)
        shape = arrays["data"].shape
        zeros = None
        if any(arrays.get(n) is None for n in ("err", *VARIANCE_NAMES)):
            zeros = xp.zeros(shape, xp.float32)  # read only: match_nans writes new arrays
        names = ("err", "var_poisson", "var_rnoise", "var_flat")
        inputs = [zeros if arrays.get(n) is None else arrays[n] for n in names]
        sci, err, vp, vr, vf, dq = kernel_for("match_nans", self.device)(arrays["data"], *inputs, arrays["dq"])
        variances = {"var_poisson": vp, "var_rnoise": vr, "var_flat": vf}

        if pixmap is None:
            pixmap = self.pixmap(exposure)
        weight_type = self.settings.weight_type
        tmeasure, _ = _tmeasure(meta)
        rnoise = vr
        if weight_type == "ivm" and arrays.get("var_rnoise") is None:
            log.warning("resample: %s has no VAR_RNOISE; drizzle weight set to 1", meta.filename)
            rnoise = xp.ones(shape, xp.float32)
        mode = {"ivm": WEIGHT_IVM, "exptime": WEIGHT_EXPTIME, None: WEIGHT_UNIT}[weight_type]
        weight = kernel_for("drizzle_weight", self.device)(dq, rnoise, self.bad_bits, mode, float(tmeasure or 0.0))
        data = sci
        level, subtracted = meta.background.level, meta.background.subtracted
        if level is not None and not subtracted:
            data = sci - xp.float32(level)
        box = _input_box(shape, exposure.wcs.bounding_box)
        xmin, xmax, ymin, ymax = box
        input_id = self.n_added
        self._grow_context(input_id)
        common = {
            "kernel": self.settings.kernel, "pixfrac": self.settings.pixfrac, "kernel_ratio": self.grid.kernel_ratio,
            "iscale": 1.0, "xmin": xmin, "xmax": xmax, "ymin": ymin, "ymax": ymax,
        }  # fmt: skip
        if self.dq is not None:
            common.update(dq=dq, out_dq=self.dq)
        drizzle = kernel_for("drizzle", self.device)
        extra = {}
        window = None
        if self.err is not None:
            # jwst's "driz_err": ERR drizzled with the same weights, accumulating with the data.
            extra = {"extra_data": xp.ascontiguousarray(err[None]), "extra_out": self.err[None]}
        if self.settings.enable_var:
            # The variances are separate drizzles into fresh NaN grids (fillval NaN whatever the user's
            # fillval, as stcal's _resample_one_variance_array); only this exposure's window is allocated.
            window = self._window(pixmap, box)
            x0, y0, wnx, wny = window
            if self.device.uses_cupy:
                self._require(wnx * wny * 4 * (len(VARIANCE_NAMES) + 3), tuple(self.grid.shape))
            extra = {
                "extra_data": xp.stack([xp.sqrt(variances[n]) for n in VARIANCE_NAMES]),
                "extra_out": xp.full((len(VARIANCE_NAMES), wny, wnx), np.nan, dtype=xp.float32),
                "extra_wht": xp.zeros((wny, wnx), dtype=xp.float32),
                "extra_origin": (x0, y0),
            }
        try:
            drizzle(
                data,
                weight,
                pixmap,
                self.data,
                self.wht,
                self.con,
                input_id=input_id,
                fillval=self.fillval,
                **common,
                **extra,
            )
        except ValueError as exc:
            raise ParameterError(f"resample: {name}: its WCS maps no pixel onto the output grid ({exc})") from exc
        if self.settings.enable_var:
            fill_unweighted(extra["extra_out"], extra["extra_wht"], np.nan)  # undo a numeric fillval
            self._combine_variances(extra["extra_out"], window, tmeasure)
        self.n_added += 1
        self._update_time(meta)
        if not bool((weight > 0).any()):
            log.warning(
                "resample: %s has no valid pixels (all flagged or weight 0); it adds nothing to the output", name
            )
        return pixmap

    def blot(self, image, exposure, pixmap=None, *, fillval=float("nan")):
        """Resample an output-grid image back onto an exposure's pixels (outlier detection's blot).

        Parameters
        ----------
        image : array, shape ``grid.shape``
            E.g. the median of the single-exposure drizzles, on this device.
        exposure : Exposure
            Supplies the WCS and the shape of the result.
        pixmap : array, optional
            The exposure's pixel map onto the grid (as :meth:`add` returns it);
            computed when not given. Blot uses the same direction as drizzle.

        Returns
        -------
        array of float32, shape ``exposure.shape``, on this device.
        """
        if pixmap is None:
            pixmap = self.pixmap(exposure)
        return kernel_for("blot", self.device)(image, pixmap, fillval, 1.0)

    def _combine_variances(self, stds, window, tmeasure):
        """Add this exposure's drizzled stds (covering ``window`` of the grid) to the variance sums there."""
        xp = self.device.xp
        combine = kernel_for("variance_combine", self.device)
        mode = 1 if self.settings.weight_type == "exptime" else 0
        x0, y0, nx, ny = window
        region = (slice(y0, y0 + ny), slice(x0, x0 + nx))
        rn_std = stds[0]
        for k, name in enumerate(VARIANCE_NAMES):
            wsum = xp.ascontiguousarray(self.wsum[name][region])
            wt = xp.ascontiguousarray(self.wt[name][region])
            combine(stds[k], rn_std, wsum, wt, mode, float(tmeasure or 0.0), out=(wsum, wt))
            self.wsum[name][region] = wsum
            self.wt[name][region] = wt

    def _update_time(self, meta):
        group_id = _group_id(meta) or meta.filename
        if group_id in self.group_ids:
            return
        self.group_ids.append(group_id)
        self.times["start"].append(meta.exposure.start_time)
        self.times["end"].append(meta.exposure.end_time)
        if meta.exposure.exposure_time is not None:
            self.times["exposure_time"] += meta.exposure.exposure_time
        t, ok = _tmeasure(meta)
        self.times["tmeasure_ok"].append(ok)
        if t is not None:
            self.times["measurement_time"] += t
        if meta.exposure.duration is not None:
            self.times["duration"] += meta.exposure.duration

    def finalize(self):
        """Host arrays of the product (data, wht, con, err, var_*) and its time keywords."""
        out = {"data": self.data, "wht": self.wht}
        if self.con is not None:
            used = max((self.n_added - 1) // 32 + 1, self._min_planes)
            out["con"] = self.con[:used] if used < self.con.shape[0] else self.con
        if self.dq is not None:
            out["dq"] = self.dq
        ratio = self.grid.pixel_scale_ratio
        if self.err is not None:
            out["err"] = self.err / self.device.xp.float32(1.0 if ratio is None else ratio)
        if self.settings.enable_var:
            scaling = 1.0 if ratio is None else 1.0 / ratio**2
            finalize = kernel_for("variance_finalize", self.device)
            for name in VARIANCE_NAMES:
                out[name] = finalize(self.wsum[name], self.wt[name], scaling)
            if self.settings.compute_err == "from_var":
                out["err"] = kernel_for("error_from_variances", self.device)(*(out[n] for n in VARIANCE_NAMES))
        starts = [t for t in self.times["start"] if t is not None]
        ends = [t for t in self.times["end"] if t is not None]
        times = {
            "exposure_time": self.times["exposure_time"],
            "start_time": min(starts) if starts else None,
            "end_time": max(ends) if ends else None,
            "duration": self.times["duration"],
            "measurement_time": self.times["measurement_time"] if all(self.times["tmeasure_ok"]) else None,
            "pointings": len(self.group_ids),
        }
        return to_host(out), times
