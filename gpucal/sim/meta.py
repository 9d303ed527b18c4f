"""The meta tree of a simulated ``_rate`` / ``_rateints`` file, as stage 1 leaves it.

Every attribute is one a flight NIRCam, MIRI, NIRISS, FGS or NIRSpec imaging rate file carries
(stdatamodels names; the FITS keywords follow from the schema map in
:mod:`gpucal.io.schema`): observation identifiers (which jwst uses to group
exposures), exposure timing, instrument and subarray, pointing (the
``V1`` attitude, the aperture reference point and the basic FITS WCS that
``set_telescope_pointing`` writes), velocity aberration, dither and visit
information, the stage-1 ``cal_step`` record and the units. NIRSpec adds
its optical configuration: GRATING (the GWA's MIRROR), the GWA tilt-sensor
readings and temperature its WCS uses, the lamp (off) and operating mode
(IMAGE) and no fixed slit.
"""

import dataclasses
import datetime
import math

import numpy as np

from gpucal.sim.siaf import prd_version, siaf_aperture
from gpucal.wcs.pointing import v23tosky

__all__ = ["ObservationIds", "rate_meta", "s_region", "v1_attitude"]

_STAGE1_STEPS = {
    "nircam": {
        "group_scale": "SKIPPED", "dq_init": "COMPLETE", "saturation": "COMPLETE", "ipc": "SKIPPED",
        "superbias": "COMPLETE", "refpix": "COMPLETE", "linearity": "COMPLETE", "persistence": "SKIPPED",
        "dark_sub": "COMPLETE", "charge_migration": "SKIPPED", "jump": "COMPLETE", "clean_flicker_noise": "SKIPPED",
        "ramp_fit": "COMPLETE", "gain_scale": "SKIPPED",
    },
    "miri": {
        "group_scale": "SKIPPED", "dq_init": "COMPLETE", "emicorr": "COMPLETE", "saturation": "COMPLETE",
        "firstframe": "COMPLETE", "lastframe": "COMPLETE", "reset": "COMPLETE", "linearity": "COMPLETE",
        "rscd": "COMPLETE", "dark_sub": "COMPLETE", "refpix": "COMPLETE", "jump": "COMPLETE",
        "clean_flicker_noise": "SKIPPED", "ramp_fit": "COMPLETE", "gain_scale": "SKIPPED",
    },
}  # fmt: skip
# NIRISS and FGS run the near-infrared calwebb_detector1 as NIRCam does (NIRISS also charge_migration).
_STAGE1_STEPS["niriss"] = {**_STAGE1_STEPS["nircam"], "charge_migration": "COMPLETE"}
_STAGE1_STEPS["fgs"] = dict(_STAGE1_STEPS["nircam"])
_STAGE1_STEPS["nirspec"] = dict(_STAGE1_STEPS["nircam"])
_STAGE1_REFERENCES = {
    "nircam": ("mask", "saturation", "superbias", "refpix", "linearity", "dark", "readnoise", "gain"),
    "miri": ("mask", "saturation", "linearity", "rscd", "dark", "readnoise", "gain", "emicorr", "reset"),
    "niriss": ("mask", "saturation", "superbias", "refpix", "linearity", "dark", "readnoise", "gain"),
    "fgs": ("mask", "saturation", "superbias", "linearity", "dark", "readnoise", "gain"),
    "nirspec": ("mask", "saturation", "superbias", "refpix", "linearity", "dark", "readnoise", "gain"),
}
_TEMPLATES = {"nircam": "NIRCam Imaging", "miri": "MIRI Imaging", "niriss": "NIRISS Imaging", "fgs": "FGS Imaging",
              "nirspec": "NIRSpec Imaging"}  # fmt: skip
_SECONDS_PER_DAY = 86400.0
_TT_MINUS_UTC_DAYS = 69.184 / _SECONDS_PER_DAY


@dataclasses.dataclass(frozen=True)
class ObservationIds:
    """The identifiers of one exposure (program, observation, visit...), as integers.

    The file root is ``jw{program:05d}{observation:03d}{visit:03d}_{visit_group:02d}{sequence}{activity:02d}``
    ``_{exposure:05d}_{detector}``.
    """

    program: int = 1
    observation: int = 1
    visit: int = 1
    visit_group: int = 2
    sequence: int = 1
    activity: int = 1
    exposure: int = 1

    def root(self, detector_name):
        """The exposure's file root, e.g. ``jw00001001001_02101_00001_nrca1``."""
        return (
            f"jw{self.program:05d}{self.observation:03d}{self.visit:03d}_{self.visit_group:02d}{self.sequence:1d}"
            f"{self.activity:02d}_{self.exposure:05d}_{detector_name}"
        )

    @property
    def visit_id(self):
        return f"{self.program:05d}{self.observation:03d}{self.visit:03d}"

    @property
    def obs_id(self):
        return f"V{self.visit_id}P{0:08d}{self.visit_group:02d}{self.sequence:1d}{self.activity:02d}"


def _position_angle(ra1, dec1, ra2, dec2):
    """Position angle (deg, east of north) of point 2 seen from point 1."""
    ra1, dec1, ra2, dec2 = (math.radians(v) for v in (ra1, dec1, ra2, dec2))
    y = math.sin(ra2 - ra1) * math.cos(dec2)
    x = math.cos(dec1) * math.sin(dec2) - math.sin(dec1) * math.cos(dec2) * math.cos(ra2 - ra1)
    return math.degrees(math.atan2(y, x)) % 360.0


def v1_attitude(pointing):
    """``(RA_V1, DEC_V1, PA_V3)`` of the attitude a :class:`~gpucal.wcs.pointing.Pointing` describes.

    V1 is the telescope boresight, ``(V2, V3) = (0, 0)``; PA_V3 is the
    position angle of the +V3 axis there.
    """
    to_sky = v23tosky(pointing)
    ra_v1, dec_v1 = (float(v) for v in to_sky(0.0, 0.0))
    ra_up, dec_up = (float(v) for v in to_sky(0.0, 1.0))
    return ra_v1, dec_v1, _position_angle(ra_v1, dec_v1, ra_up, dec_up)


def _pc_matrix(roll_ref, v3yangle, vparity):
    """The FITS PC matrix of the basic WCS (jwst's ``calc_rotation_matrix``)."""
    angle = math.radians(roll_ref - vparity * v3yangle)
    return {
        "pc1_1": vparity * math.cos(angle),
        "pc1_2": math.sin(angle),
        "pc2_1": -vparity * math.sin(angle),
        "pc2_2": math.cos(angle),
    }


def _iso(mjd):
    moment = datetime.datetime(1858, 11, 17, tzinfo=datetime.UTC) + datetime.timedelta(days=mjd)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def _timing(readout, nints, start_mjd):
    duration = nints * readout.integration_duration
    exposure_time = nints * readout.integration_time
    end = start_mjd + duration / _SECONDS_PER_DAY
    mid = (start_mjd + end) / 2
    return {
        "start_time": start_mjd, "mid_time": mid, "end_time": end,
        "start_time_mjd": start_mjd, "mid_time_mjd": mid, "end_time_mjd": end,
        "start_time_tdb": start_mjd + _TT_MINUS_UTC_DAYS, "mid_time_tdb": mid + _TT_MINUS_UTC_DAYS,
        "end_time_tdb": end + _TT_MINUS_UTC_DAYS,
        "readpatt": readout.pattern, "nframes": readout.nframes, "groupgap": readout.groupgap,
        "ngroups": readout.ngroups, "nints": nints, "integration_start": 1, "integration_end": nints,
        "frame_time": readout.frame_time, "group_time": readout.group_time,
        "integration_time": readout.integration_time, "exposure_time": exposure_time,
        "effective_exposure_time": exposure_time, "measurement_time": exposure_time,
        "duration": duration, "elapsed_exposure_time": duration, "nresets_at_start": 1,
        "nresets_between_ints": readout.nresets_between_ints, "frame_divisor": readout.nframes,
        "drop_frames1": 0, "drop_frames3": 0, "nsamples": 1, "sample_time": 10.0, "noutputs": readout.noutputs,
        "zero_frame": False, "data_problem": False, "count": 1, "prime_parallel": "PRIME",
    }  # fmt: skip


def _wcsinfo(detector, subarray, pointing):
    """Aperture reference point and basic FITS WCS of the science array (header pointing)."""
    aperture = siaf_aperture(detector.instrument, subarray.aperture)
    if subarray.name == "GENERIC":
        crpix1 = aperture.sci_ref[0] - (subarray.xstart - 1)
        crpix2 = aperture.sci_ref[1] - (subarray.ystart - 1)
    else:
        crpix1, crpix2 = aperture.sci_ref
    info = {
        "wcsaxes": 2, "crpix1": crpix1, "crpix2": crpix2, "crval1": pointing.ra_ref, "crval2": pointing.dec_ref,
        "ctype1": "RA---TAN", "ctype2": "DEC--TAN", "cunit1": "deg", "cunit2": "deg",
        "cdelt1": aperture.sci_scale[0] / 3600.0, "cdelt2": aperture.sci_scale[1] / 3600.0,
        "v2_ref": pointing.v2_ref, "v3_ref": pointing.v3_ref, "vparity": aperture.vidl_parity,
        "v3yangle": aperture.v3_idl_yangle, "ra_ref": pointing.ra_ref, "dec_ref": pointing.dec_ref,
        "roll_ref": pointing.roll_ref,
    }  # fmt: skip
    info.update(_pc_matrix(pointing.roll_ref, aperture.v3_idl_yangle, aperture.vidl_parity))
    return info


def s_region(wcs, shape):
    """S_REGION polygon of the array's outer pixel edges through a gwcs (jwst's format)."""
    ny, nx = shape[-2:]
    x = np.array([-0.5, nx - 0.5, nx - 0.5, -0.5])
    y = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5])
    ra, dec = wcs.forward_transform(x, y)
    coords = " ".join(f"{r:.9f} {d:.9f}" for r, d in zip(np.asarray(ra) % 360.0, dec, strict=True))
    return f"POLYGON ICRS  {coords}"


def rate_meta(
    *, detector, filter_spec, subarray, readout, nints, ids, pointing, start_mjd, target, wcs=None,
    tso=False, background=False, dither=None, total_exposures=1, gwa=None,
):  # fmt: skip
    """The meta tree of a simulated rate file.

    Parameters
    ----------
    detector, filter_spec, subarray, readout
        From :mod:`gpucal.sim.instruments`.
    nints : int
    ids : ObservationIds
    pointing : gpucal.wcs.pointing.Pointing
        The pointing as the header records it (including any error).
    start_mjd : float
        EXPSTART (MJD UTC).
    target : tuple of float
        ``(ra, dec)`` of the target (TARG_RA, TARG_DEC).
    wcs : gwcs.WCS, optional
        The header WCS, for S_REGION.
    tso : bool
        Time series (NRC_TSIMAGE with TSOVISIT=T for NIRCam; TSOVISIT=T for MIRI).
    background : bool
        A dedicated background exposure (BKGDTARG=T).
    dither : dict, optional
        ``position``, ``total``, ``x_offset``, ``y_offset`` (arcsec, ideal frame).
    total_exposures : int
        NEXPOSUR of the visit.
    gwa : gpucal.sim.nirspec.GwaReadings, optional
        NIRSpec: GWA_XTIL, GWA_YTIL and GWA_TILT.

    Returns
    -------
    dict
    """
    instrument = detector.instrument
    exp_type = "NRC_TSIMAGE" if (tso and instrument == "nircam") else detector.exp_type
    timing = _timing(readout, nints, start_mjd)
    wcsinfo = _wcsinfo(detector, subarray, pointing)
    if wcs is not None:
        wcsinfo["s_region"] = s_region(wcs, subarray.shape)
    if tso:
        wcsinfo["siaf_xref_sci"], wcsinfo["siaf_yref_sci"] = wcsinfo["crpix1"], wcsinfo["crpix2"]
    ra_v1, dec_v1, pa_v3 = v1_attitude(pointing)
    fast, slow = siaf_aperture(instrument, subarray.aperture).readout_axes(detector.fast_axis)
    instrument_meta = {"name": detector.instrument_name, "detector": detector.detector}
    if detector.has_filter_wheel:
        instrument_meta["filter"] = filter_spec.filter
    if instrument == "nircam":
        instrument_meta.update(module=detector.module, channel=detector.channel)
    if detector.has_pupil_wheel:
        instrument_meta["pupil"] = filter_spec.pupil
    if instrument == "nirspec":
        instrument_meta.update(grating="MIRROR", fixed_slit="NONE", lamp_state="NONE", lamp_mode="IMAGE")
        if gwa is not None:
            instrument_meta.update(gwa_xtilt=gwa.xtilt, gwa_ytilt=gwa.ytilt, gwa_tilt=gwa.temperature)
    dither = dither or {"position": 1, "total": 1, "x_offset": 0.0, "y_offset": 0.0}
    begin = _iso(start_mjd)
    meta = {
        "telescope": "JWST",
        "origin": "STSCI",
        "time_sys": "UTC",
        "time_unit": "s",
        "calibration_software_version": "3.0.0",
        "data_processing_software_version": "gpucal.sim",
        "prd_software_version": prd_version(),
        "program": {"title": "gpucal simulated imaging", "pi_name": "Simulator, Gpucal", "category": "GO",
                    "sub_category": "UNKNOWN", "science_category": "Galaxies", "continuation_id": 0},
        "observation": {
            "date": begin[:10], "time": begin[11:], "date_beg": begin, "date_end": _iso(timing["end_time"]),
            "obs_id": ids.obs_id, "visit_id": ids.visit_id, "program_number": f"{ids.program:05d}",
            "observation_number": f"{ids.observation:03d}", "visit_number": f"{ids.visit:03d}",
            "visit_group": f"{ids.visit_group:02d}", "sequence_id": f"{ids.sequence:1d}",
            "activity_id": f"{ids.activity:02d}", "exposure_number": f"{ids.exposure:05d}",
            "bkgdtarg": bool(background), "template": _TEMPLATES[instrument],
            "observation_label": "gpucal simulated field",
        },
        "visit": {"engineering_quality": "OK", "type": "PRIME_TARGETED_FIXED", "status": "SUCCESSFUL",
                  "total_exposures": total_exposures, "internal_target": False, "too_visit": False,
                  "tsovisit": bool(tso), "crowded_field": False, "start_time": begin.replace("T", " ")},
        "target": {"proposer_name": "GPUCAL-SIM", "catalog_name": "GPUCAL-SIM-FIELD", "type": "FIXED",
                   "ra": float(target[0]), "dec": float(target[1]), "ra_uncertainty": 0.0, "dec_uncertainty": 0.0,
                   "proposer_ra": float(target[0]), "proposer_dec": float(target[1]), "source_type_apt": "EXTENDED"},
        "instrument": instrument_meta,
        "exposure": {"type": exp_type, "sca_num": detector.sca_num, **timing},
        "subarray": {"name": subarray.name, "xstart": subarray.xstart, "ystart": subarray.ystart,
                     "xsize": subarray.xsize, "ysize": subarray.ysize, "fastaxis": fast, "slowaxis": slow},
        "dither": {"primary_type": "NONE" if background else "FULL", "position_number": int(dither["position"]),
                   "total_points": int(dither["total"]), "primary_points": int(dither["total"]),
                   "subpixel_total_points": 1, "x_offset": float(dither["x_offset"]),
                   "y_offset": float(dither["y_offset"])},
        "aperture": {"name": subarray.aperture, "pps_name": subarray.aperture,
                     "position_angle": (pointing.roll_ref + wcsinfo["v3yangle"]) % 360.0},
        "pointing": {"ra_v1": ra_v1, "dec_v1": dec_v1, "pa_v3": pa_v3},
        "wcsinfo": wcsinfo,
        "coordinates": {"reference_frame": "ICRS"},
        "velocity_aberration": {"scale_factor": pointing.va_scale, "va_ra_ref": pointing.ra_ref,
                                "va_dec_ref": pointing.dec_ref},
        "cal_step": dict(_STAGE1_STEPS[instrument]),
        "ref_file": {"crds": {"sw_version": "gpucal.sim", "context_used": "jwst_0000.pmap"},
                     **{name: {"name": f"gpucal_sim_{instrument}_{detector.name}_{name}.fits"}
                        for name in _STAGE1_REFERENCES[instrument]}},
        "bunit_data": "DN/s",
        "bunit_err": "DN/s",
    }  # fmt: skip
    return meta
