"""assign_wcs: the imaging gwcs from distortion + filteroffset references and pointing (jwst ``AssignWcsStep``).

Builds detector -> v2v3 -> v2v3vacorr -> world for the NIRCam, MIRI, NIRISS
and FGS imaging exposure types (:mod:`gpucal.pipelines.image2.exp_types`),
and NIRSpec's optical-model WCS for its imaging-mode types
(:mod:`gpucal.wcs.nirspec`), then S_REGION and (``sip_approx``) the FITS SIP
approximation in ``meta.wcsinfo``, as jwst writes them. As in jwst, NIRCam, MIRI and NIRISS
shift the detector by the filter's offset (filteroffset reference, NIRCam
and NIRISS rows by filter and pupil, MIRI by filter); FGS has no filters and
no filteroffset reference (CRDS has none; jwst's FGS WCS ignores one). The
gwcs object is built on the host; resample evaluates it on the device.
"""

import dataclasses
import logging
import typing

from gpucal.errors import InputFileError, ReferenceFileError
from gpucal.io.refs import read_distortion, read_filteroffset
from gpucal.io.refs.nirspec import NIRSPEC_MSA_REFTYPES, NIRSPEC_OPTICS_REFTYPES, read_nirspec_optics
from gpucal.pipelines.image2.exp_types import (
    IMAGING_WCS_EXP_TYPES,
    NIRSPEC_IMAGING_EXP_TYPES,
    check_image2_exp_type,
)
from gpucal.pipelines.params import field
from gpucal.pipelines.step import Step
from gpucal.wcs.footprint import s_region_imaging, sip_wcsinfo
from gpucal.wcs.imaging import imaging_wcs
from gpucal.wcs.nirspec import nirspec_imaging_wcs
from gpucal.wcs.pointing import Pointing

__all__ = ["IMAGING_EXP_TYPES", "AssignWcsStep"]

log = logging.getLogger("gpucal")

#: Exposure types whose jwst WCS is the distortion-based imaging pipeline (NIRCam, MIRI, NIRISS, FGS).
IMAGING_EXP_TYPES = frozenset(IMAGING_WCS_EXP_TYPES)
#: Instruments whose imaging WCS uses a filteroffset reference.
_FILTER_OFFSET_INSTRUMENTS = ("NIRCAM", "MIRI", "NIRISS")
_POINTING = ("ra_ref", "dec_ref", "roll_ref", "v2_ref", "v3_ref")


@dataclasses.dataclass(frozen=True)
class AssignWcsStep(Step):
    """Create the gwcs of an imaging exposure and store it in ``meta.wcs``."""

    alias: typing.ClassVar[str] = "assign_wcs"
    jwst_class: typing.ClassVar[str] = "jwst.assign_wcs.assign_wcs_step.AssignWcsStep"
    reference_file_types: typing.ClassVar[tuple] = (
        "distortion", "filteroffset", "specwcs", "regions", "wavelengthrange", "camera", "chromcorr", "collimator",
        "disperser", "fore", "fpa", "msa", "ote", "ifupost", "ifufore", "ifuslicer",
    )  # fmt: skip

    sip_approx: bool = field(True, doc="add the FITS SIP approximation to the header")
    sip_max_pix_error: float = field(0.01, doc="max error of the forward SIP fit (pixels)")
    sip_degree: int | None = field(None, doc="forward SIP degree (None: lowest that meets the error)", max=6)
    sip_max_inv_pix_error: float = field(0.01, doc="max error of the inverse SIP fit (pixels)")
    sip_inv_degree: int | None = field(None, doc="inverse SIP degree (None: lowest that meets the error)", max=6)
    sip_npoints: int = field(12, doc="points per axis for the SIP fit", min=3)
    slit_y_low: float = field(-0.55, doc="NIRSpec only (unused for imaging)")
    slit_y_high: float = field(0.55, doc="NIRSpec only (unused for imaging)")
    nrs_ifu_slice_wcs: bool = field(False, doc="NIRSpec only (unused for imaging)")

    def process(self, exposure, ctx):
        source = exposure.path or exposure.meta.filename or "exposure"
        exp_type = check_image2_exp_type(exposure.meta, source)
        instrument = str(exposure.meta.instrument.name or "").upper()
        missing = [k.upper() for k in _POINTING if exposure.meta.wcsinfo.get(k) is None]
        opaque = str(exposure.meta.instrument.filter or "").strip().upper() == "OPAQUE"
        if missing and not (exp_type in NIRSPEC_IMAGING_EXP_TYPES and opaque):  # an OPAQUE WCS ends at the MSA
            raise InputFileError(
                f"{source}: missing pointing keywords {', '.join(missing)}; assign_wcs cannot build the WCS"
            )

        if exp_type in NIRSPEC_IMAGING_EXP_TYPES:
            wcs = self._nirspec_wcs(exposure, ctx, source, opaque)
        else:
            wcs = self._imaging_wcs(exposure, ctx, source, instrument)
        exposure.meta.wcs = wcs
        exposure.meta.cal_step.assign_wcs = "COMPLETE"
        if wcs.output_frame.name != "world":  # jwst: no S_REGION and no SIP without a sky frame
            exposure.meta.wcsinfo.s_region = None
            return exposure

        try:
            s_region = s_region_imaging(wcs, exposure.shape)
        except Exception as exc:  # jwst logs and carries on
            log.error("assign_wcs: unable to update S_REGION for %s: %s", exp_type, exc)
        else:
            if s_region is not None:
                exposure.meta.wcsinfo.s_region = s_region
        if self.sip_approx:
            try:
                wcsinfo = sip_wcsinfo(
                    wcs, exposure.meta.wcsinfo.to_dict(), max_pix_error=self.sip_max_pix_error,
                    degree=self.sip_degree, max_inv_pix_error=self.sip_max_inv_pix_error,
                    inv_degree=self.sip_inv_degree, npoints=self.sip_npoints,
                )  # fmt: skip
            except (ValueError, RuntimeError) as exc:
                log.warning("assign_wcs: failed to update meta.wcsinfo with the FITS SIP approximation: %s", exc)
            else:
                exposure.meta_tree["wcsinfo"] = wcsinfo
        return exposure

    def _record_unused(self, exposure, ctx, used):
        """Record the reftypes this WCS does not read as jwst does (N/A, or the override given)."""
        for reftype in self.reference_file_types:
            if reftype not in used:
                recorded = self.overrides.get(reftype, "N/A")
                ctx.record_reference(exposure, reftype, recorded if recorded == "N/A" else str(recorded))

    def _nirspec_wcs(self, exposure, ctx, source, opaque):
        """NIRSpec's optical-model WCS from its optics references (jwst's ``nirspec.imaging``).

        FILTER=OPAQUE: the WCS ends at the MSA and needs neither the FORE nor the OTE reference; they are
        recorded as given (or N/A) instead of being looked up, as CRDS has none for OPAQUE.
        """
        meta = exposure.meta
        instrument, sub = meta.instrument, meta.subarray
        needed = NIRSPEC_MSA_REFTYPES if opaque else NIRSPEC_OPTICS_REFTYPES
        paths = {}
        for reftype in needed:
            path = self.reference(reftype, exposure, ctx)
            if path == "N/A":
                raise ReferenceFileError(
                    f"assign_wcs: no {reftype} reference for {source}; NIRSpec's imaging WCS needs {', '.join(needed)}"
                )
            paths[reftype] = path
        self._record_unused(exposure, ctx, needed)
        result = nirspec_imaging_wcs(
            read_nirspec_optics(paths, to_msa=opaque),
            None if opaque else Pointing.from_meta(meta),
            detector=instrument.detector, filter=instrument.filter, grating=instrument.grating,
            lamp=instrument.lamp_state, exp_type=meta.exposure.type, xstart=sub.xstart or 1, ystart=sub.ystart or 1,
            gwa_xtilt=instrument.gwa_xtilt, gwa_ytilt=instrument.gwa_ytilt,
        )  # fmt: skip
        meta.wcsinfo.waverange_start = result.waverange[0]
        meta.wcsinfo.waverange_end = result.waverange[1]
        meta.wcsinfo.spectral_order = result.spectral_order
        return result.wcs

    def _imaging_wcs(self, exposure, ctx, source, instrument):
        """The distortion-reference imaging WCS (NIRCam, MIRI, NIRISS, FGS)."""
        distortion_path = self.reference("distortion", exposure, ctx)
        if distortion_path == "N/A":
            raise ReferenceFileError(f"assign_wcs: no distortion reference for {source}; it is required for imaging")
        if instrument in _FILTER_OFFSET_INSTRUMENTS:
            filteroffset_path = self.reference("filteroffset", exposure, ctx)
        else:  # FGS: CRDS has no filteroffset reference, and jwst's FGS WCS does not use one even if given
            if "filteroffset" in self.overrides:
                self.reference("filteroffset", exposure, ctx)  # recorded (R_FILOFF) as jwst records it
            else:
                ctx.record_reference(exposure, "filteroffset", "N/A")
            filteroffset_path = "N/A"
        self._record_unused(exposure, ctx, self.reference_file_types[:2])

        distortion = read_distortion(distortion_path)
        offset = None
        if filteroffset_path != "N/A":
            offsets = read_filteroffset(filteroffset_path)
            pupil = exposure.meta.instrument.pupil if instrument != "MIRI" else None
            offset = offsets.offset_for(exposure.meta.instrument.filter, pupil)
        sub = exposure.meta.subarray
        subarray = (sub.xstart, sub.ystart, sub.xsize, sub.ysize) if sub.xstart is not None else None
        return imaging_wcs(
            distortion.model,
            Pointing.from_meta(exposure.meta),
            shape=exposure.shape,
            filter_offset=offset,
            subarray=subarray,
        )
