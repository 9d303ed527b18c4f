"""Small synthetic products for unit tests (the simulator makes realistic ones)."""

import numpy as np


def nircam_meta(**overrides):
    """A minimal but jwst-valid meta tree for a NIRCam imaging ``_rate`` exposure."""
    meta = {
        "telescope": "JWST",
        "instrument": {
            "name": "NIRCAM",
            "detector": "NRCA1",
            "filter": "F200W",
            "pupil": "CLEAR",
            "module": "A",
            "channel": "SHORT",
        },
        "exposure": {
            "type": "NRC_IMAGE",
            "start_time": 60000.0,
            "mid_time": 60000.001,
            "end_time": 60000.002,
            "effective_exposure_time": 100.0,
            "measurement_time": 95.0,
            "exposure_time": 100.0,
            "duration": 105.0,
            "elapsed_exposure_time": 100.0,
            "nints": 1,
            "ngroups": 5,
            "readpatt": "MEDIUM8",
        },
        "observation": {
            "date": "2023-03-01",
            "time": "12:00:00.000",
            "program_number": "01345",
            "observation_number": "001",
            "visit_number": "001",
            "visit_group": "02",
            "sequence_id": "1",
            "activity_id": "01",
            "exposure_number": "00001",
        },
        "subarray": {
            "name": "FULL",
            "xstart": 1,
            "ystart": 1,
            "xsize": 2048,
            "ysize": 2048,
            "fastaxis": -1,
            "slowaxis": 2,
        },
        "wcsinfo": {
            "ra_ref": 53.16,
            "dec_ref": -27.78,
            "roll_ref": 40.0,
            "v2_ref": 120.6,
            "v3_ref": -527.5,
            "v3yangle": -0.55,
            "vparity": -1,
            "wcsaxes": 2,
        },
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
    dist = (
        (models.Shift(-shape[1] / 2) & models.Shift(-shape[0] / 2))
        | (models.Scale(scale) & models.Scale(scale))
        | (models.Shift(120.6) & models.Shift(-527.5))
    )
    dist.inverse = (
        (models.Shift(-120.6) & models.Shift(527.5))
        | (models.Scale(1 / scale) & models.Scale(1 / scale))
        | (models.Shift(shape[1] / 2) & models.Shift(shape[0] / 2))
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


def toy_distortion(shape=(2048, 2048), scale=0.031):
    """An affine pixel -> V2/V3 (arcsec) model with an exact inverse, centred on NRCA1's reference point."""
    from astropy.modeling import models

    cx, cy = (shape[1] - 1) / 2, (shape[0] - 1) / 2
    forward = (
        (models.Shift(-cx) & models.Shift(-cy))
        | (models.Scale(scale) & models.Scale(scale))
        | (models.Shift(120.6) & models.Shift(-527.5))
    )
    forward.inverse = (
        (models.Shift(-120.6) & models.Shift(527.5))
        | (models.Scale(1 / scale) & models.Scale(1 / scale))
        | (models.Shift(cx) & models.Shift(cy))
    )
    return forward


def write_reference_files(
    folder, *, detector="NRCA1", filter_name="F200W", pupil="CLEAR", full=(2048, 2048), seed=0, photmjsr=0.25
):
    """Minimal CRDS-format references (flat, photom, area, distortion, filteroffset) for unit tests.

    Returns ``{reftype: path}``.
    """
    import pathlib

    import asdf
    from astropy.io import fits

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    common = {
        "INSTRUME": "NIRCAM",
        "DETECTOR": detector,
        "EXP_TYPE": "NRC_IMAGE",
        "P_EXP_TY": "NRC_IMAGE|NRC_TSIMAGE|",  # as on real NIRCam imaging references
        "USEAFTER": "2022-01-01T00:00:00",
        "PEDIGREE": "DUMMY",
    }
    flat = rng.normal(1.0, 0.05, full).astype(np.float32)
    flat[10, 10] = 0.0
    flat[11, 11] = np.nan
    flat_dq = np.zeros(full, np.uint32)
    flat_dq[12, 12] = 1 << 18
    paths = {}
    prim = fits.PrimaryHDU()
    whole_frame = {"SUBSTRT1": 1, "SUBSTRT2": 1, "SUBSIZE1": full[1], "SUBSIZE2": full[0]}
    prim.header.update({**common, "REFTYPE": "FLAT", "FILTER": filter_name, "PUPIL": pupil, **whole_frame})
    paths["flat"] = folder / "flat.fits"
    fits.HDUList([prim, fits.ImageHDU(flat, name="SCI"), fits.ImageHDU(np.full(full, 0.01, np.float32), name="ERR"),
                  fits.ImageHDU(flat_dq, name="DQ")]).writeto(paths["flat"], overwrite=True)  # fmt: skip
    table = np.array(
        [(filter_name, pupil, photmjsr, 0.01), ("F150W", "CLEAR", 0.3, 0.01), (filter_name, "F162M", 0.9, 0.01)],
        dtype=[("filter", "S12"), ("pupil", "S12"), ("photmjsr", "f4"), ("uncertainty", "f4")],
    )
    prim = fits.PrimaryHDU()
    prim.header.update({**common, "REFTYPE": "PHOTOM", "PIXAR_SR": 2.29e-14, "PIXAR_A2": 0.000974})
    paths["photom"] = folder / "photom.fits"
    fits.HDUList([prim, fits.BinTableHDU(table, name="PHOTOM")]).writeto(paths["photom"], overwrite=True)
    prim = fits.PrimaryHDU()
    prim.header.update({**common, "REFTYPE": "AREA", "PIXAR_SR": 2.2e-14, "PIXAR_A2": 0.00093, **whole_frame})
    paths["area"] = folder / "area.fits"
    fits.HDUList([prim, fits.ImageHDU(rng.normal(1.0, 0.01, full).astype(np.float32), name="SCI")]).writeto(
        paths["area"], overwrite=True
    )
    exposure = {"type": "NRC_IMAGE", "p_exptype": "NRC_IMAGE|NRC_TSIMAGE|"}
    meta = {"reftype": "distortion", "instrument": {"name": "NIRCAM", "detector": detector}, "exposure": exposure,
            "useafter": "2022-01-01T00:00:00", "pedigree": "DUMMY", "author": "gpucal tests", "description": "toy",
            "telescope": "JWST"}  # fmt: skip
    paths["distortion"] = folder / "distortion.asdf"
    asdf.AsdfFile({"meta": meta, "model": toy_distortion(full)}).write_to(paths["distortion"])
    paths["filteroffset"] = folder / "filteroffset.asdf"
    fmeta = dict(meta, reftype="filteroffset")
    asdf.AsdfFile(
        {"meta": fmeta, "filters": [{"filter": filter_name, "pupil": pupil, "column_offset": 0.2, "row_offset": -0.1}]}
    ).write_to(paths["filteroffset"])
    return {k: str(v) for k, v in paths.items()}


def write_small_rate(
    folder, name="jw01345001001_02101_00001_nrca1_rate.fits", shape=(40, 48), *, start=(1001, 1001), seed=0, **meta
):
    """A small subarray ``_rate`` file (no WCS yet) for pipeline tests; returns its path."""
    import pathlib

    from gpucal.io.exposure import write_exposure

    exposure = small_exposure(shape=shape, seed=seed, wcs=False, **meta)
    exposure.meta.subarray.xstart, exposure.meta.subarray.ystart = start[0], start[1]
    exposure.meta.subarray.name = "SUB40"
    return write_exposure(exposure, pathlib.Path(folder) / name)


def simulated_cal_set(root, *, exposures=3, size=96, seed=8, product="jw00001-o001_t001_nircam_clear-f200w"):
    """A simulated NIRCam dither set calibrated by gpucal's image2 (CPU), and its image3 association.

    Returns ``{"asn", "cals", "rates", "ref_dir"}`` (paths; ``ref_dir`` a str).
    """
    import pathlib

    from gpucal.io.asn import make_image3_asn, write_asn
    from gpucal.pipelines.image2 import Image2Pipeline
    from gpucal.sim import simulate

    root = pathlib.Path(root)
    sim = simulate(root / "sim", exposures=exposures, backgrounds=0, size=size, seed=seed)
    ref_dir = str(next(iter(sim.references.values())).parent)
    names = []
    for rate in sim.science:
        Image2Pipeline.call(str(rate), device="cpu", save_results=True, output_dir=str(root / "cal"), ref_dir=ref_dir,
                            steps={"resample": {"skip": True}})  # fmt: skip
        names.append(rate.name.replace("_rate", "_cal"))
    asn = write_asn(make_image3_asn(product, names, asn_id="o001"), root / "cal" / "image3_asn.json")
    return {"asn": asn, "cals": [root / "cal" / n for n in names], "rates": list(sim.science), "ref_dir": ref_dir}
