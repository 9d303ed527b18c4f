"""bkg_subtract: subtract dedicated background exposures (jwst ``BackgroundStep``, imaging).

The backgrounds named by the image2 association (or ``bkg_list``) are placed
in the science frame by their subarray keywords, as jwst's
``ImageSubsetArray`` does (including its habit of placing a partially
overlapping cutout at the array origin), combined per pixel with a
sigma-clipped mean (for ``_rateints`` backgrounds, first over integrations),
and subtracted from SCI on the device; DQ gains the OR of the backgrounds' DQ.
ERR and the variances are left as they are.
"""

import dataclasses
import logging
import os
import typing
import warnings

import numpy as np

from gpucal.engine import to_device
from gpucal.errors import GpucalError, InputFileError, StepSkippedWarning
from gpucal.io.exposure import Exposure, read_exposure
from gpucal.kernels import kernel_for
from gpucal.pipelines.params import field
from gpucal.pipelines.step import Step

__all__ = ["BackgroundStep"]

log = logging.getLogger("gpucal")

_UNSUPPORTED = {"NIS_WFSS", "NRC_WFSS", "MIR_WFSS", "NIS_SOSS"}


@dataclasses.dataclass(frozen=True)
class BackgroundStep(Step):
    """Subtract designated background exposures from a science exposure."""

    alias: typing.ClassVar[str] = "bkg_subtract"
    jwst_class: typing.ClassVar[str] = "jwst.background.background_step.BackgroundStep"
    reference_file_types: typing.ClassVar[tuple] = ("bkg", "wavelengthrange")

    bkg_list: tuple[str, ...] | None = field(None, doc="background files (ignored when the ASN has background members)")
    save_combined_background: bool = field(False, doc="save the combined background image")
    sigma: float = field(3.0, doc="clipping threshold (standard deviations)", min=0.0)
    maxiters: int | None = field(None, doc="clipping iterations (None: until convergence)", min=1)
    soss_source_percentile: float = field(35.0, doc="SOSS only (not supported by gpucal)")
    soss_bkg_percentile: tuple[float, ...] | None = field(None, doc="SOSS only (not supported by gpucal)", length=2)
    wfss_mmag_extract: float | None = field(None, doc="WFSS only (not supported by gpucal)")
    wfss_mask: str | None = field(None, doc="WFSS only (not supported by gpucal)")
    wfss_maxiter: int = field(5, doc="WFSS only (not supported by gpucal)")
    wfss_rms_stop: float = field(0.0, doc="WFSS only (not supported by gpucal)")
    wfss_outlier_percent: float = field(1.0, doc="WFSS only (not supported by gpucal)")

    def process(self, exposure, ctx, backgrounds=None):
        exp_type = str(exposure.meta.exposure.type or "").upper()
        if exp_type in _UNSUPPORTED:
            raise GpucalError(
                f"bkg_subtract: EXP_TYPE {exp_type} needs the WFSS/SOSS background algorithms, "
                "which gpucal does not implement"
            )
        paths = list(backgrounds or []) or [p for p in (self.bkg_list or ()) if p]
        if not paths:
            warnings.warn("bkg_subtract: no background exposures given; step skipped", StepSkippedWarning, stacklevel=2)
            exposure.meta.cal_step.bkg_subtract = "SKIPPED"
            return exposure
        key = _cache_key(exposure, paths, self, ctx.device)
        cached = None if key is None or self.save_combined_background else _COMBINED.get(key)
        if cached is None:
            bkg, bkg_dq, stack, err_stack = self._combine(exposure, paths, ctx)
            if key is not None:
                _COMBINED.clear()  # keep one combination: a dither set shares its backgrounds
                _COMBINED[key] = (bkg, bkg_dq)
        else:
            log.info("bkg_subtract: reusing the combined background of %d exposures", len(paths))
            bkg, bkg_dq = cached
        subtract = kernel_for("background_subtract", ctx.device)
        subtract(exposure.data, exposure.dq, bkg, bkg_dq, out=(exposure.data, exposure.dq))
        exposure.meta.cal_step.bkg_subtract = "COMPLETE"
        if self.save_combined_background:
            _save_combined(exposure, stack, err_stack, bkg_dq.get() if hasattr(bkg_dq, "get") else bkg_dq, self, ctx)
        return exposure

    def _combine(self, exposure, paths, ctx):
        """The combined background (float64) and its DQ on the device, plus the host stacks."""
        maxiters = -1 if self.maxiters is None else self.maxiters
        stack, err_stack, bkg_dq = _background_stack(exposure, paths, self, ctx)
        moved = to_device({"stack": stack, "bkg_dq": bkg_dq}, ctx.device)
        combine = kernel_for("sigma_clip_mean", ctx.device)
        bkg = combine(moved["stack"], self.sigma, self.sigma, maxiters, False).reshape(exposure.shape[-2:])
        return bkg, moved["bkg_dq"], stack, err_stack


#: The last combined background: {key: (bkg, bkg_dq)} (device arrays).
_COMBINED = {}


def _cache_key(exposure, paths, step, device):
    """What the combined background depends on: the files (and their versions), the
    science placement and shape, the clipping parameters and the device; None if a
    file cannot be stat-ed (then nothing is cached)."""
    try:
        files = tuple((os.path.abspath(p), os.stat(p).st_mtime_ns, os.stat(p).st_size) for p in paths)
    except OSError:
        return None
    sub = exposure.meta.subarray
    return (files, (sub.xstart, sub.ystart), tuple(exposure.shape), step.sigma, step.maxiters, str(device))


def _placement(exposure, path):
    """(jmin, jmax, imin, imax): detector rows/columns covered, 0-based, as jwst's ImageSubsetArray."""
    sub = exposure.meta.subarray
    values = (sub.xstart, sub.ystart, sub.xsize, sub.ysize)
    if any(v is None for v in values):
        instrument = str(exposure.meta.instrument.name or "").upper()
        full = (1024, 1032) if instrument == "MIRI" else (2048, 2048)
        if tuple(exposure.shape[-2:]) != full:
            raise InputFileError(
                f"{path}: subarray keywords SUBSTRT1/2, SUBSIZE1/2 missing and the array is not full frame"
            )
        values = (1, 1, full[1], full[0])
    xstart, ystart, xsize, ysize = (int(v) for v in values)
    return ystart - 1, ystart - 1 + ysize, xstart - 1, xstart - 1 + xsize


def _subset(science_box, science_shape, background, path):
    """The background's SCI/DQ placed in the science frame (NaN / 0 where it does not reach).

    jwst copies the overlapping cutout to the *origin* of the science array,
    not to its offset; that is reproduced here.
    """
    sj0, sj1, si0, si1 = science_box
    bj0, bj1, bi0, bi1 = _placement(background, path)
    if si1 <= bi0 or bi1 <= si0 or sj1 <= bj0 or bj1 <= sj0:
        return None, None, None
    imin, imax = max(si0, bi0), max(min(si1, bi1), max(si0, bi0))
    jmin, jmax = max(sj0, bj0), max(min(sj1, bj1), max(sj0, bj0))
    if (bj0, bj1, bi0, bi1) == (sj0, sj1, si0, si1) and background.data.shape[-2:] == tuple(science_shape[-2:]):
        return background.data, background.err, background.dq  # same placement: no copy needed
    shape = list(science_shape)
    if len(shape) == 3:
        shape[0] = background.data.shape[0]
    data = np.full(shape, np.nan, dtype=np.float32)
    err = np.full(shape, np.nan, dtype=np.float32)
    dq = np.zeros(shape, dtype=np.uint32)
    cut = (..., slice(jmin - bj0, jmax - bj0), slice(imin - bi0, imax - bi0))
    part = background.data[cut]
    h, w = part.shape[-2], part.shape[-1]
    data[..., :h, :w] = part
    err[..., :h, :w] = background.err[cut]
    dq[..., :h, :w] = background.dq[cut]
    return data, err, dq


def _astropy_clip(values, step):
    from astropy.stats import sigma_clip

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sigma_clip(values, sigma=step.sigma, maxiters=step.maxiters, axis=0)


def _background_stack(exposure, paths, step, ctx):
    """Per-background images as a stack (n_bkg, n_pixels), their squared errors (when the
    combined background is to be saved) and their OR-ed DQ, on the host."""
    shape = exposure.shape
    npix = shape[-2] * shape[-1]
    box = _placement(exposure, exposure.path or "science")
    stack = np.full((len(paths), npix), np.nan, dtype=np.float32 if len(shape) == 2 else np.float64)
    err_stack = np.full((len(paths), npix), np.nan) if step.save_combined_background else None
    bkg_dq = np.zeros(shape[-2:], dtype=np.uint32)
    combine = kernel_for("sigma_clip_mean", ctx.device)
    maxiters = -1 if step.maxiters is None else step.maxiters
    for i, path in enumerate(paths):
        background = read_exposure(path, arrays={"data", "err", "dq"}, tree=False)
        if background.data.ndim != len(shape):
            raise InputFileError(
                f"{path}: background is {background.data.ndim}-D but the science exposure is {len(shape)}-D"
            )
        log.info("bkg_subtract: accumulating %s", path)
        data, err, dq = _subset(box, shape, background, path)
        if data is None:
            log.info("bkg_subtract: %s does not overlap the science exposure", path)
            continue
        if len(shape) == 2:
            stack[i] = data.reshape(-1)
            bkg_dq |= dq
            if err_stack is not None:
                err_stack[i] = (err * err).reshape(-1)
        else:
            # Per-integration background cube: clip and average over integrations first (float32 sums, as jwst).
            moved = to_device({"cube": data.reshape(data.shape[0], -1)}, ctx.device)
            mean = combine(moved["cube"], step.sigma, step.sigma, maxiters, True)
            stack[i] = mean.get() if hasattr(mean, "get") else mean
            bkg_dq |= np.bitwise_or.reduce(dq, axis=0)
            if err_stack is not None:
                err_stack[i] = _astropy_clip(err * err, step).mean(axis=0).reshape(-1)
    return stack, err_stack, bkg_dq


def _save_combined(exposure, stack, err_stack, bkg_dq, step, ctx):
    """Write the ``_combinedbackground`` product (on the host: an optional diagnostic).

    As jwst: data is the clipped mean; err is ``sqrt(sum of err**2 over the
    kept values) / (number kept)``; dq the OR of the backgrounds' DQ.
    """
    clipped = _astropy_clip(stack.astype(np.float64), step)
    shape = exposure.shape[-2:]
    data = clipped.mean(axis=0).data.astype(np.float32).reshape(shape)
    err2 = np.ma.masked_array(err_stack, mask=np.ma.getmaskarray(clipped))
    with np.errstate(divide="ignore", invalid="ignore"):
        err = (np.sqrt(err2.sum(axis=0)) / (len(stack) - err2.mask.sum(axis=0))).data.astype(np.float32).reshape(shape)
    meta = {k: v for k, v in exposure.meta_tree.items() if k != "wcs"}
    product = Exposure({"data": data, "dq": bkg_dq, "err": err}, dict(meta), model_type="ImageModel")
    ctx.add_product(product, "combinedbackground", snapshot=True)  # its meta shares the science exposure's nodes
