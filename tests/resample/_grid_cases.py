"""Input exposures for the output-grid tests, and their jwst counterparts."""

import copy

import numpy as np

from tests.factories import simple_wcs, small_arrays, small_exposure

__all__ = ["MIRI_V2V3_REF", "dithered_exposures", "jwst_library", "miri_exposures", "world_grid"]

#: V2/V3 (arcsec) of MIRIM_FULL's reference point, where the flight distortion maps pixel (516, 512).
MIRI_V2V3_REF = (-433.9076, -375.1776)


def _finish(exposure, index, ra, dec):
    from gpucal.wcs.footprint import s_region_imaging

    exposure.meta.wcsinfo.ra_ref, exposure.meta.wcsinfo.dec_ref = ra, dec
    exposure.meta.wcsinfo.s_region = s_region_imaging(exposure.meta.wcs, exposure.shape)
    exposure.meta.filename = f"jw01345001001_0210{index + 1}_00001_nrca1_cal.fits"
    return exposure


def dithered_exposures(offsets_arcsec=((0, 0), (1.1, -0.4), (-0.7, 0.9)), shape=(32, 40), center=(53.16, -27.78)):
    """Small NIRCam-like exposures (toy affine distortion) pointed at ``center`` plus the offsets."""
    exposures = []
    for index, (dx, dy) in enumerate(offsets_arcsec):
        ra = center[0] + dx / 3600 / np.cos(np.deg2rad(center[1]))
        dec = center[1] + dy / 3600
        exposure = small_exposure(shape=shape, seed=index)
        exposure.meta.wcs = simple_wcs(shape, crval=(ra, dec))
        exposures.append(_finish(exposure, index, ra, dec))
    return exposures


def miri_exposures(real_data, pointings=((80.48, -69.51, 250.0), (80.4812, -69.5098, 250.0))):
    """Full-frame MIRI imager exposures with the flight distortion reference (``real_data`` folder)."""
    import asdf

    from gpucal.io.exposure import Exposure
    from gpucal.wcs.imaging import imaging_wcs
    from gpucal.wcs.pointing import Pointing
    from tests.factories import nircam_meta

    with asdf.open(real_data / "jwst_miri_imager_distortion_flt9.asdf") as af:
        distortion = copy.deepcopy(af.tree["model"])
    shape = (1024, 1032)
    exposures = []
    for index, (ra, dec, roll) in enumerate(pointings):
        meta = nircam_meta(**{
            "instrument.name": "MIRI", "instrument.detector": "MIRIMAGE", "instrument.filter": "F770W",
            "exposure.type": "MIR_IMAGE", "wcsinfo.roll_ref": roll, "wcsinfo.v2_ref": MIRI_V2V3_REF[0],
            "wcsinfo.v3_ref": MIRI_V2V3_REF[1], "wcsinfo.v3yangle": 4.83544897, "wcsinfo.vparity": -1,
            "photometry.pixelarea_steradians": 2.8440360952308e-13, "photometry.pixelarea_arcsecsq": 0.0121,
        })  # fmt: skip
        arrays = {"data": np.zeros(shape, np.float32)}
        exposure = Exposure(arrays, meta)
        pointing = Pointing(ra, dec, roll, MIRI_V2V3_REF[0], MIRI_V2V3_REF[1], 1.0)
        exposure.meta.wcs = imaging_wcs(distortion, pointing, shape=shape)
        exposures.append(_finish(exposure, index, ra, dec))
    return exposures


def jwst_library(exposures):
    """A jwst ``ModelLibrary`` of in-memory ImageModels with the same WCS, meta.wcsinfo and data shape."""
    from jwst.datamodels import ModelLibrary
    from stdatamodels.jwst import datamodels

    models = []
    for exposure in exposures:
        arrays = (
            small_arrays(exposure.shape) if exposure.shape[0] * exposure.shape[1] < 10_000 else {"data": exposure.data}
        )
        model = datamodels.ImageModel(data=np.array(arrays["data"], dtype=np.float32))
        for name in ("dq", "err", "var_poisson", "var_rnoise"):
            if name in arrays:
                setattr(model, name, arrays[name])
        model.meta.wcs = copy.deepcopy(exposure.wcs)
        for key, value in exposure.meta.wcsinfo.to_dict().items():
            setattr(model.meta.wcsinfo, key, value)
        area = exposure.meta.photometry.pixelarea_steradians
        if area is not None:
            model.meta.photometry.pixelarea_steradians = area
        model.meta.filename = exposure.meta.filename
        model.meta.exposure.exposure_time = 100.0
        model.meta.exposure.measurement_time = 95.0
        model.meta.exposure.start_time = 60000.0
        model.meta.exposure.end_time = 60000.002
        model.meta.exposure.duration = 105.0
        model.meta.exposure.elapsed_exposure_time = 100.0
        model.meta.exposure.type = "NRC_IMAGE"
        model.meta.instrument.name = "NIRCAM"
        model.meta.bunit_data = "MJy/sr"
        models.append(model)
    return ModelLibrary(models)


def world_grid(wcs, n=7):
    """World coordinates of an ``n x n`` grid of points spanning the bounding box (pixel edges included)."""
    (x0, x1), (y0, y1) = wcs.bounding_box.bounding_box(order="F")
    x, y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    return np.array(wcs(x, y, with_bounding_box=False))
