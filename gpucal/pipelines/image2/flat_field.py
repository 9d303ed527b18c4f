"""flat_field: divide by the flat (jwst ``FlatFieldStep``, imaging).

The flat's subarray matching the science is cut out (jwst's
``get_subarray_model``), moved to the device, and one kernel applies the flat,
its DQ rules, VAR_FLAT, ERR and the NaN/DO_NOT_USE matching to every pixel
(every integration of a cube).
"""

import dataclasses
import logging
import typing
import warnings

import numpy as np

from gpucal.engine import to_device
from gpucal.errors import GpucalError, ReferenceFileError, StepSkippedWarning
from gpucal.io.refs import check_reference, read_flat
from gpucal.kernels import kernel_for
from gpucal.pipelines.image2.exp_types import NIRSPEC_IMAGING_EXP_TYPES
from gpucal.pipelines.params import field
from gpucal.pipelines.step import Step

__all__ = ["FlatFieldStep", "reference_cutout"]

log = logging.getLogger("gpucal")

_NIRSPEC_SPECTRAL = {"NRS_AUTOWAVE", "NRS_BRIGHTOBJ", "NRS_FIXEDSLIT", "NRS_IFU", "NRS_LAMP", "NRS_MSASPEC"}
#: NIRSpec imaging types jwst 3.0 flat-fields (``flat_field_step.NRS_IMAGING_MODES``): NRS_VERIFY is not one of
#: them, so jwst skips its flat (no reference looked up) although assign_wcs gives it the imaging WCS.
NIRSPEC_FLAT_IMAGING = frozenset(NIRSPEC_IMAGING_EXP_TYPES) - {"NRS_VERIFY"}


def reference_cutout(exposure, ref, arrays, what):
    """Cut reference arrays to the science subarray (jwst's ``ref_matches_sci`` / ``get_subarray_model``).

    Parameters
    ----------
    exposure : Exposure
    ref : object with ``subarray`` (a readers.Subarray) and ``path``
    arrays : sequence of ndarray
        The reference arrays (full reference shape).
    what : str
        Name for messages ("flat").

    Returns
    -------
    tuple of ndarray
        The cut arrays.

    Raises
    ------
    ReferenceFileError
        When the science subarray does not lie inside the reference, including
        a reference smaller than the science (jwst skips the step then; gpucal
        refuses, as a mismatching reference is an error, not a skip).
    """
    shape = exposure.shape
    science = exposure.path or exposure.meta.filename or "the science exposure"
    if shape[-1] > arrays[0].shape[-1] or shape[-2] > arrays[0].shape[-2]:
        raise ReferenceFileError(
            f"{ref.path}: {what} is {arrays[0].shape[-2]}x{arrays[0].shape[-1]} pixels, smaller than the science "
            f"{science} ({shape[-2]}x{shape[-1]}, SUBARRAY={exposure.meta.subarray.name})"
        )
    sub = exposure.meta.subarray
    xstart, ystart = sub.xstart, sub.ystart
    if xstart is None or ystart is None:
        xstart, ystart = 1, 1
    xstart, ystart = int(xstart), int(ystart)
    xsize, ysize = shape[-1], shape[-2]
    r = ref.subarray
    if (xstart, ystart, xsize, ysize) == (r.xstart, r.ystart, r.xsize, r.ysize):
        return tuple(arrays)
    x0, y0 = xstart - r.xstart, ystart - r.ystart
    if x0 < 0 or y0 < 0 or x0 + xsize > r.xsize or y0 + ysize > r.ysize:
        raise ReferenceFileError(
            f"{ref.path}: {what} covers SUBSTRT1={r.xstart} SUBSTRT2={r.ystart} SUBSIZE1={r.xsize} SUBSIZE2={r.ysize}, "
            f"which does not contain the subarray of {science}: "
            f"SUBSTRT1={xstart} SUBSTRT2={ystart} SUBSIZE1={xsize} SUBSIZE2={ysize}"
        )
    log.info("%s: extracting the matching subarray from %s", what, ref.path)
    return tuple(np.ascontiguousarray(a[..., y0 : y0 + ysize, x0 : x0 + xsize]) for a in arrays)


@dataclasses.dataclass(frozen=True)
class FlatFieldStep(Step):
    """Flat-field a science exposure with a flat reference image."""

    alias: typing.ClassVar[str] = "flat_field"
    jwst_class: typing.ClassVar[str] = "jwst.flatfield.flat_field_step.FlatFieldStep"
    reference_file_types: typing.ClassVar[tuple] = ("flat", "fflat", "sflat", "dflat")

    save_interpolated_flat: bool = field(False, doc="NIRSpec only (unused for imaging)")
    user_supplied_flat: str | None = field(None, doc="a flat to use instead of any reference")
    inverse: bool = field(False, doc="multiply by the flat instead of dividing")

    def process(self, exposure, ctx):
        exp_type = str(exposure.meta.exposure.type or "").upper()
        if exp_type in _NIRSPEC_SPECTRAL:
            raise GpucalError(
                f"flat_field: EXP_TYPE {exp_type} needs the NIRSpec composite flats, which gpucal does not implement"
            )
        nirspec = str(exposure.meta.instrument.name or "").upper() == "NIRSPEC"
        if nirspec and exp_type not in NIRSPEC_FLAT_IMAGING:
            warnings.warn(
                f"flat_field: EXP_TYPE {exp_type}: jwst 3.0 does not flat-field this NIRSpec mode; step skipped",
                StepSkippedWarning, stacklevel=2,
            )  # fmt: skip
            exposure.meta.cal_step.flat_field = "SKIPPED"
            return exposure
        if self.user_supplied_flat is not None:
            flat_path = self.user_supplied_flat
            check_reference("flat", flat_path, exposure.meta, source=exposure.path, label="user_supplied_flat")
            log.info("flat_field: user-supplied flat %s replaces all flat references", flat_path)
            ctx.record_reference(exposure, "flat", str(flat_path).rsplit("/", 1)[-1])
        else:
            flat_path = self.reference("flat", exposure, ctx)
            for reftype in ("fflat", "sflat", "dflat"):
                ctx.record_reference(exposure, reftype, self.overrides.get(reftype, "N/A"))
        if flat_path == "N/A":
            warnings.warn("flat_field: no flat found or supplied; step skipped", StepSkippedWarning, stacklevel=2)
            exposure.meta.cal_step.flat_field = "SKIPPED"
            return exposure
        flat = read_flat(flat_path)
        cut = reference_cutout(exposure, flat, (flat.data, flat.err, flat.dq), "flat")
        device = ctx.device
        refs = to_device({"flat": cut[0], "flat_err": cut[1], "flat_dq": cut[2]}, device)
        xp = device.xp
        vp = exposure.var_poisson if exposure.var_poisson is not None else xp.zeros(exposure.shape, xp.float32)
        vr = exposure.var_rnoise if exposure.var_rnoise is not None else xp.zeros(exposure.shape, xp.float32)
        if exposure.err is None:
            exposure.err = xp.empty(exposure.shape, xp.float32)
        var_flat = xp.empty(exposure.shape, xp.float32)
        kernel = kernel_for("flat_field", device)
        kernel(
            exposure.data, vp, vr, exposure.dq, refs["flat"], refs["flat_err"], refs["flat_dq"], bool(self.inverse),
            out=(exposure.data, exposure.err, vp, vr, var_flat, exposure.dq),
        )  # fmt: skip
        exposure.var_poisson, exposure.var_rnoise, exposure.var_flat = vp, vr, var_flat
        exposure.meta.cal_step.flat_field = "COMPLETE"
        return exposure
