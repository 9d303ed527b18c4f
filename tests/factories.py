"""Small synthetic products for unit tests (the simulator makes realistic ones)."""

import numpy as np


def nircam_meta(**overrides):
    """A minimal but jwst-valid meta tree for a NIRCam imaging ``_rate`` exposure."""
    meta = {
        "telescope": "JWST",
        "instrument": {"name": "NIRCAM", "detector": "NRCA1", "filter": "F200W", "pupil": "CLEAR", "module": "A", "channel": "SHORT"},
        "exposure": {"type": "NRC_IMAGE", "start_time": 60000.0, "mid_time": 60000.001, "end_time": 60000.002,
                     "effective_exposure_time": 100.0, "measurement_time": 95.0, "exposure_time": 100.0,
                     "duration": 105.0, "elapsed_exposure_time": 100.0, "nints": 1, "ngroups": 5,
                     "readpatt": "MEDIUM8"},
        "observation": {"date": "2023-03-01", "time": "12:00:00.000", "program_number": "01345",
                        "observation_number": "001", "visit_number": "001", "visit_group": "02",
                        "sequence_id": "1", "activity_id": "01", "exposure_number": "00001"},
        "subarray": {"name": "FULL", "xstart": 1, "ystart": 1, "xsize": 2048, "ysize": 2048, "fastaxis": -1, "slowaxis": 2},
        "wcsinfo": {"ra_ref": 53.16, "dec_ref": -27.78, "roll_ref": 40.0, "v2_ref": 120.6, "v3_ref": -527.5,
                    "v3yangle": -0.55, "vparity": -1, "wcsaxes": 2},
        "velocity_aberration": {"scale_factor": 1.00003},
        "bunit_data": "DN/s",
        "bunit_err": "DN/s",
        "cal_step": {"dq_init": "COMPLETE", "ramp_fit": "COMPLETE"},
        "visit": {"tsovisit": False},
    }
    for key, value in overrides.items():
        node = meta
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return meta


def small_arrays(shape=(32, 40), seed=0, nan_fraction=0.01):
    """SCI/ERR/DQ/VAR_* arrays of a rate product with a few NaNs and flags."""
    rng = np.random.default_rng(seed)
    sci = rng.normal(2.0, 0.5, shape).astype(np.float32)
    vp = np.abs(rng.normal(0.01, 0.002, shape)).astype(np.float32)
    vr = np.full(shape, 0.004, np.float32)
    dq = np.zeros(shape, np.uint32)
    bad = rng.random(shape) < nan_fraction
    dq[bad] = 1
    sci[bad] = np.nan
    err = np.sqrt(vp + vr).astype(np.float32)
    err[bad] = np.nan
    return {"data": sci, "err": err, "dq": dq, "var_poisson": vp, "var_rnoise": vr}


def simple_wcs(shape=(32, 40), crval=(53.16, -27.78)):
    """A small gwcs through the imaging pipeline with a toy distortion (affine with an inverse)."""
    from astropy.modeling import models

    from gpucal.wcs.imaging import imaging_wcs
    from gpucal.wcs.pointing import Pointing

    scale = 0.031
    dist = (models.Shift(-shape[1] / 2) & models.Shift(-shape[0] / 2)) | (models.Scale(scale) & models.Scale(scale)) | (
        models.Shift(120.6) & models.Shift(-527.5)
    )
    dist.inverse = (models.Shift(-120.6) & models.Shift(527.5)) | (models.Scale(1 / scale) & models.Scale(1 / scale)) | (
        models.Shift(shape[1] / 2) & models.Shift(shape[0] / 2)
    )
    pointing = Pointing(crval[0], crval[1], 40.0, 120.6, -527.5, 1.00003)
    return imaging_wcs(dist, pointing, shape=shape)


def small_exposure(shape=(32, 40), seed=0, wcs=True, **meta_overrides):
    """An :class:`~gpucal.io.exposure.Exposure` with synthetic arrays and NIRCam meta."""
    from gpucal.io.exposure import Exposure

    meta = nircam_meta(**meta_overrides)
    meta["subarray"].update({"xsize": shape[-1], "ysize": shape[-2], "name": "SUB32" if shape[-1] < 2048 else "FULL"})
    exposure = Exposure(small_arrays(shape, seed), meta)
    if wcs:
        exposure.meta.wcs = simple_wcs(shape[-2:])
    return exposure
