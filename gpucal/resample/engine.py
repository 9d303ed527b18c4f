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
of exposures needs device memory for the output grid plus one exposure.
"""

import dataclasses
import logging

import numpy as np

from gpucal.dqflags import interpret_bit_flags
from gpucal.engine import to_device, to_host
from gpucal.engine.dispatch import kernel_for
from gpucal.errors import DeviceMemoryError, ParameterError
from gpucal.io.grouping import group_id as _group_id
from gpucal.kernels.drizzle_weight import WEIGHT_EXPTIME, WEIGHT_IVM
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
    weight_type: str = "ivm"
    good_bits: str = "~DO_NOT_USE+NON_SCIENCE"
    enable_ctx: bool = True
    enable_var: bool = True
    compute_err: str | None = "from_var"
    propagate_dq: bool = False

    @classmethod
    def from_step(cls, step):
        enable_err = getattr(step, "enable_err", True)
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
        if settings.propagate_dq:
            raise ParameterError(
                "propagate_dq: propagating DQ through drizzle is not implemented in gpucal yet; use the default (false)"
            )
        if settings.weight_type not in ("ivm", "exptime"):
            raise ParameterError(f"weight_type: {settings.weight_type!r} is not 'ivm' or 'exptime'")
        good = interpret_bit_flags(settings.good_bits)
        self.bad_bits = 0 if good is None else (~good & 0xFFFFFFFF)
        xp = device.xp
        shape = tuple(grid.shape)
        self._check_memory(shape, n_inputs)
        start = np.nan if self.fillval is None else self.fillval
        self.data = xp.full(shape, start, dtype=xp.float32)
        self.wht = xp.zeros(shape, dtype=xp.float32)
        self.con = xp.zeros(((max(n_inputs, 1) - 1) // 32 + 1, *shape), dtype=xp.int32) if settings.enable_ctx else None
        if settings.compute_err == "driz_err" and settings.enable_var:
            raise ParameterError("compute_err='driz_err' drizzles ERR itself and cannot be combined with variance resampling")
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

    def _check_memory(self, shape, n_inputs):
        """Refuse a grid whose arrays would not fit on the GPU, with a clear message."""
        if not self.device.uses_cupy:
            return
        import cupy

        npix = int(np.prod(shape))
        planes = (max(n_inputs, 1) - 1) // 32 + 1
        needed = npix * 4 * (2 + (planes if self.settings.enable_ctx else 0) + (9 if self.settings.enable_var else 0))
        free, total = cupy.cuda.runtime.memGetInfo()
        if needed > free:
            raise DeviceMemoryError(
                f"output grid {shape[1]}x{shape[0]} needs {needed / 2**30:.1f} GiB on {self.device} but only {free / 2**30:.1f} GiB "
                f"of {total / 2**30:.1f} GiB are free; use --device cpu, a larger pixel_scale or a smaller output_shape"
            )

    def _grow_context(self, input_id):
        if self.con is None or input_id // 32 < self.con.shape[0]:
            return
        xp = self.device.xp
        grown = xp.zeros((input_id // 32 + 1, *self.con.shape[1:]), dtype=xp.int32)
        grown[: self.con.shape[0]] = self.con
        self.con = grown

    def pixmap(self, exposure):
        """The exposure's pixel map onto the grid, evaluated on the device."""
        plan = compile_pixmap(exposure.wcs, self.grid.wcs, exposure.shape)
        if not plan.exact:
            log.info("resample: pixel map from a coarse grid (max error %.2g pixel)", plan.error_bound)
        return plan.evaluate(self.device)

    def add(self, exposure):
        """Drizzle one exposure (its arrays on this device) onto the grid."""
        xp = self.device.xp
        meta = exposure.meta
        if exposure.data.ndim != 2:
            raise ParameterError(f"resample: {exposure.path or meta.filename}: input is not a 2-D image")
        name = exposure.path or meta.filename
        arrays = to_device(exposure.arrays, self.device)
        shape = arrays["data"].shape
        kernel = kernel_for("match_nans", self.device)
        ones = None
        missing = {n: xp.zeros(shape, xp.float32) for n in ("err", *VARIANCE_NAMES) if arrays.get(n) is None}
        sci, err, vp, vr, vf = (
            arrays.get(n, missing.get(n)) for n in ("data", "err", "var_poisson", "var_rnoise", "var_flat")
        )
        kernel(sci, err, vp, vr, vf, arrays["dq"], out=(sci, err, vp, vr, vf, arrays["dq"]))

        pixmap = self.pixmap(exposure)
        weight_type = self.settings.weight_type
        tmeasure, _ = _tmeasure(meta)
        if weight_type == "ivm" and arrays.get("var_rnoise") is None:
            log.warning("resample: %s has no VAR_RNOISE; drizzle weight set to 1", meta.filename)
            ones = xp.ones(shape, xp.float32)
        mode = WEIGHT_EXPTIME if weight_type == "exptime" else WEIGHT_IVM
        weight = kernel_for("drizzle_weight", self.device)(
            arrays["dq"], vr if ones is None else ones, self.bad_bits, mode, float(tmeasure or 0.0)
        )
        data = sci
        level, subtracted = meta.background.level, meta.background.subtracted
        if level is not None and not subtracted:
            data = sci - xp.float32(level)
        xmin, xmax, ymin, ymax = _input_box(shape, exposure.wcs.bounding_box)
        input_id = self.n_added
        self._grow_context(input_id)
        common = {
            "kernel": self.settings.kernel, "pixfrac": self.settings.pixfrac, "kernel_ratio": self.grid.kernel_ratio,
            "iscale": 1.0, "xmin": xmin, "xmax": xmax, "ymin": ymin, "ymax": ymax,
        }  # fmt: skip
        drizzle = kernel_for("drizzle", self.device)
        extra = {}
        if self.err is not None:
            # jwst's "driz_err": ERR drizzled with the same weights, accumulating with the data.
            extra = {"extra_data": xp.ascontiguousarray(err[None]), "extra_out": self.err[None]}
        if self.settings.enable_var:
            stds = xp.stack([xp.sqrt(arrays.get(n, missing.get(n))) for n in VARIANCE_NAMES])
            extra = {
                "extra_data": stds,
                "extra_out": xp.full((3, *self.grid.shape), np.nan, dtype=xp.float32),
                "extra_wht": xp.zeros(tuple(self.grid.shape), dtype=xp.float32),
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
            self._combine_variances(extra["extra_out"], meta, tmeasure)
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

    def _combine_variances(self, stds, meta, tmeasure):
        combine = kernel_for("variance_combine", self.device)
        mode = 1 if self.settings.weight_type == "exptime" else 0
        rn_std = stds[0]
        for k, name in enumerate(VARIANCE_NAMES):
            combine(
                stds[k],
                rn_std,
                self.wsum[name],
                self.wt[name],
                mode,
                float(tmeasure or 0.0),
                out=(self.wsum[name], self.wt[name]),
            )

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
            out["con"] = self.con
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
