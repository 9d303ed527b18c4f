"""photom: convert DN/s to MJy/sr (jwst ``PhotomStep``, NIRCam, MIRI, NIRISS and FGS imaging).

The conversion is chosen on the host (PHOTOM row by filter/pupil for NIRCam
and NIRISS, filter/subarray for MIRI, the only row for FGS; divided by the
time-dependence correction at EXPMID); one kernel scales SCI/ERR by it and
the variances by its square and matches NaNs and DO_NOT_USE. The pixel-area
map becomes the AREA extension and PIXAR_SR/PIXAR_A2 come from the area
reference (or the photom file). As jwst 3.0 does, a NIRISS ``_rateints``
cube is not converted (jwst's NIRISS photom refuses a CubeModel and the step
records SKIPPED), though its AREA and pixel-area keywords are already set.
NIRSpec's imaging-mode exposures have no photom or area reference in CRDS
(their photom is spectroscopic): the step records both as N/A and SKIPPED,
and the ``_cal`` stays in DN/s, as jwst's.
"""

import dataclasses
import logging
import typing
import warnings

import numpy as np

from gpucal.engine import to_device
from gpucal.errors import GpucalError, ReferenceFileError, StepSkippedWarning
from gpucal.io.refs import read_area, read_photom
from gpucal.kernels import kernel_for
from gpucal.pipelines.image2.exp_types import NIRSPEC_IMAGING_EXP_TYPES, exp_type_of
from gpucal.pipelines.image2.flat_field import reference_cutout
from gpucal.pipelines.params import field
from gpucal.pipelines.step import Step

__all__ = ["MJSR_TO_UJA2", "PhotomStep", "photom_row", "time_correction"]

log = logging.getLogger("gpucal")

#: (MJy/sr) -> (uJy/arcsec^2), as astropy computes it.
MJSR_TO_UJA2 = 23.50443053909789


def _column(table, name):
    values = table[name]
    return np.array([(v.decode() if isinstance(v, bytes) else str(v)).strip().upper() for v in values])


def photom_row(table, instrument, filter_name, pupil, subarray, path):
    """Index of the PHOTOM row for an exposure, or None (jwst's row rules).

    NIRCam: filter and pupil (and subarray where the table has that column).
    NIRISS: filter and pupil (a subarray column, if any, is not used).
    MIRI imager: subarray and filter, falling back to subarray ``GENERIC``.
    FGS: the first row, without matching (FGS has no filters).

    Raises
    ------
    ReferenceFileError
        More than one row matches, or a needed column is missing.
    """
    names = {n.lower(): n for n in table.dtype.names}

    def find(fields):
        mask = np.ones(len(table), bool)
        for key, value in fields.items():
            if key not in names:
                raise ReferenceFileError(f"{path}: PHOTOM table has no {key!r} column")
            mask &= _column(table, names[key]) == (None if value is None else str(value).upper())
        rows = np.nonzero(mask)[0]
        if len(rows) > 1:
            raise ReferenceFileError(f"{path}: {len(rows)} PHOTOM rows match {fields}")
        return int(rows[0]) if len(rows) else None

    if instrument == "FGS":
        if len(table) == 0:
            raise ReferenceFileError(f"{path}: PHOTOM table is empty")
        return 0
    if instrument == "MIRI":
        row = find({"subarray": subarray, "filter": filter_name})
        return row if row is not None else find({"subarray": "GENERIC", "filter": filter_name})
    fields = {"filter": filter_name, "pupil": pupil}
    if instrument == "NIRCAM" and "subarray" in names:
        fields["subarray"] = subarray
    return find(fields)


_INSTRUMENTS = ("NIRCAM", "MIRI", "NIRISS", "FGS")


def time_correction(photom, row, mid_time):
    """Product of the time-dependence corrections at MJD ``mid_time`` for a row (jwst's ``get_correction_table``)."""
    correction = 1.0
    coeff = photom.timecoeff
    if "linear" in coeff:
        p = coeff["linear"][row]
        correction *= 1.0 - np.float64(p["lossperyear"]) * (mid_time - np.float64(p["t0"])) / 365.0
    if "exponential" in coeff:
        p = coeff["exponential"][row]
        correction *= np.float64(p["amplitude"]) * np.exp(
            -(mid_time - np.float64(p["t0"])) / np.float64(p["tau"])
        ) + np.float64(p["const"])
    if "powerlaw" in coeff:
        p = coeff["powerlaw"][row]
        norm = ((365.0 + np.float64(p["tsoft"])) ** np.float64(p["alpha"])) / np.float64(p["year1value"])
        correction *= ((mid_time - np.float64(p["t0"]) + np.float64(p["tsoft"])) ** np.float64(p["alpha"])) / norm
    return np.float64(correction)


def _skipped(exposure, message):
    """Warn (StepSkippedWarning), record S_PHOTOM = SKIPPED, return the exposure unchanged."""
    warnings.warn(message, StepSkippedWarning, stacklevel=3)
    exposure.meta.cal_step.photom = "SKIPPED"
    return exposure


@dataclasses.dataclass(frozen=True)
class PhotomStep(Step):
    """Apply the photometric calibration (DN/s -> MJy/sr)."""

    alias: typing.ClassVar[str] = "photom"
    jwst_class: typing.ClassVar[str] = "jwst.photom.photom_step.PhotomStep"
    reference_file_types: typing.ClassVar[tuple] = ("photom", "area")

    inverse: bool = field(False, doc="invert the operation (MJy/sr -> DN/s)")
    source_type: str | None = field(None, doc="process as this source type (spectroscopy only)")
    apply_time_correction: bool = field(True, doc="apply time-dependent corrections if the reference has them")

    def process(self, exposure, ctx):
        instrument = str(exposure.meta.instrument.name or "").upper()
        if instrument == "NIRSPEC" and exp_type_of(exposure.meta) in NIRSPEC_IMAGING_EXP_TYPES:
            return self._nirspec_imaging(exposure, ctx)
        if instrument not in _INSTRUMENTS:
            raise GpucalError(
                f"photom: instrument {instrument or '(missing)'} is not supported (NIRCam, MIRI, NIRISS, FGS imaging)"
            )
        photom_path = self.reference("photom", exposure, ctx)
        area_path = self.reference("area", exposure, ctx)
        if photom_path == "N/A":
            return _skipped(exposure, "photom: no photom reference; step skipped")
        photom = read_photom(photom_path)
        if "wavelength" in {n.lower() for n in photom.table.dtype.names}:
            raise ReferenceFileError(
                f"{photom_path}: a spectroscopic photom table (wavelength column) cannot calibrate imaging"
            )
        self._save_area_info(exposure, photom, area_path, ctx)
        if instrument == "NIRISS" and exposure.is_cube:
            # jwst 3.0: calc_niriss raises DataModelTypeError for a CubeModel; the step logs it and skips.
            log.error(
                "photom: unexpected data model type CubeModel for NIRISS (%s); photom is skipped, as in jwst",
                exposure.path or exposure.meta.filename,
            )
            return _skipped(
                exposure, "photom: a NIRISS rateints cube is not flux-calibrated (jwst 3.0 skips it); data left in DN/s"
            )

        meta = exposure.meta
        row = photom_row(
            photom.table, instrument, meta.instrument.filter, meta.instrument.pupil, meta.subarray.name, photom_path
        )
        if row is None:
            # jwst warns, leaves the data unchanged and still marks the step COMPLETE.
            warnings.warn(
                f"photom: no row in {photom_path} for FILTER={meta.instrument.filter} PUPIL={meta.instrument.pupil} "
                f"SUBARRAY={meta.subarray.name}; data left in DN/s (as jwst does)",
                StepSkippedWarning, stacklevel=2,
            )  # fmt: skip
            exposure.meta.cal_step.photom = "COMPLETE"
            return exposure
        names = {n.lower(): n for n in photom.table.dtype.names}
        conversion = np.float32(photom.table[names["photmjsr"]][row]) if "photmjsr" in names else None
        if conversion is None:
            raise ReferenceFileError(f"{photom_path}: PHOTOM table has no photmjsr column for imaging")
        if self.apply_time_correction and photom.timecoeff:
            mid_time = meta.exposure.mid_time
            if mid_time is None:
                raise GpucalError(
                    f"photom: {exposure.path}: EXPMID is missing but {photom_path} has time-dependence tables"
                )
            correction = time_correction(photom, row, float(mid_time))
            if correction != 1.0:
                log.info("photom: multiplicative time dependence correction is %.6g", correction)
                conversion = conversion / correction
        log.info("photom: PHOTMJSR value: %.6g", conversion)
        meta.photometry.conversion_megajanskys = conversion
        meta.photometry.conversion_microjanskys = conversion * MJSR_TO_UJA2
        squared = conversion * conversion

        xp = ctx.device.xp
        zeros = {
            n: xp.zeros(exposure.shape, xp.float32)
            for n in ("var_poisson", "var_rnoise", "var_flat")
            if exposure.arrays.get(n) is None
        }
        arrays = [
            exposure.data,
            exposure.err,
            *(exposure.arrays.get(n, zeros.get(n)) for n in ("var_poisson", "var_rnoise", "var_flat")),
            exposure.dq,
        ]
        kernel_for("photom_scale", ctx.device)(
            *arrays, float(conversion), float(squared), bool(self.inverse), out=tuple(arrays)
        )
        unit = "DN/s" if self.inverse else "MJy/sr"
        meta.bunit_data = unit
        meta.bunit_err = unit
        exposure.meta.cal_step.photom = "COMPLETE"
        return exposure

    def _nirspec_imaging(self, exposure, ctx):
        """NIRSpec imaging modes: CRDS gives no photom or area (N/A), so jwst skips the step; so does gpucal."""
        given = [r for r in ("photom", "area") if str(self.overrides.get(r, "N/A")).upper() != "N/A"]
        if given:
            raise ReferenceFileError(
                f"photom: {exposure.path or exposure.meta.filename}: override_{given[0]} given, but NIRSpec imaging "
                f"mode {exp_type_of(exposure.meta)} has no photometric calibration (jwst 3.0 and CRDS have none)"
            )
        for reftype in ("photom", "area"):
            ctx.record_reference(exposure, reftype, "N/A")
        return _skipped(
            exposure, "photom: NIRSpec imaging-mode exposures have no photom reference; step skipped, data stay in DN/s"
        )

    def _save_area_info(self, exposure, photom, area_path, ctx):
        pixar_sr, pixar_a2 = None, None
        if area_path != "N/A":
            area = read_area(area_path)
            # jwst slices a full-frame map at SUBSTRT; the cutout also places a subarray map by its own SUBSTRT.
            (cut,) = reference_cutout(exposure, area, (area.data,), "area")
            exposure.area = to_device({"area": cut.copy()}, ctx.device)["area"]
            pixar_sr, pixar_a2 = area.pixar_sr, area.pixar_a2
        if pixar_sr is None or pixar_a2 is None:
            pixar_sr, pixar_a2 = photom.pixar_sr, photom.pixar_a2
        exposure.meta.photometry.pixelarea_arcsecsq = None if pixar_a2 is None else float(pixar_a2)
        exposure.meta.photometry.pixelarea_steradians = None if pixar_sr is None else float(pixar_sr)
