"""calwebb_image3 on MIRI, NIRISS and FGS imaging: gpucal vs jwst 3.0 on one simulated dither set each.

jwst's pipeline table sends MIR_IMAGE, NIS_IMAGE and FGS_IMAGE (besides
NRC_IMAGE, see test_image3_vs_jwst.py) to calwebb_image3. For each
instrument, three dithered exposures (with cosmic rays) are simulated and
calibrated by gpucal's image2 (whose ``_cal`` equals jwst's, see
test_image2_vs_jwst.py); known sky offsets are added for skymatch. Both
pipelines then run the whole of calwebb_image3 with its default steps:
tweakreg (on sets this small the relative fit finds fewer than 15 matches,
so both sides keep the original WCS and mark the step COMPLETE),
skymatch, outlier_detection, resample and source_catalog (with the
simulator's APCORR and ABVEGAOFFSET references; FGS's APCORR table has no
selector columns, as jwst's FGS model). Checked: product names, every
``_crf`` (DQ identical outside OUTLIER|DO_NOT_USE, SCI/ERR/VAR to 1e-6
where neither flags), the ``_i2d`` (grid, SCI/WHT relative RMS <= 1e-4) and
the source catalog. CPU only: the CUDA path of these steps is compared on
NIRCam in test_image3_vs_jwst.py.
"""

import dataclasses
import json
import pathlib

import numpy as np
import pytest
from astropy.io import fits

from gpucal.io.asn import make_image3_asn, write_asn
from gpucal.pipelines.image2 import Image2Pipeline
from gpucal.pipelines.image3 import Image3Pipeline
from gpucal.sim import simulate
from tests.jwst_offline import image2_step_options, run_pipeline
from tests.parity._compare import rel_rms

#: Sky offsets (MJy/sr) added to the three exposures.
SKY_OFFSETS = (0.0, 0.023, -0.011)
OUTLIER = np.uint32(1 | 16)
#: instrument -> (detector, filter, rows): small generic subarrays, as the other parity tests use.
SETS = {
    "miri": ("mirimage", "f770w", 128),
    "niriss": ("nis", "f150w", 128),
    "fgs": ("guider1", "clear", 96),
}


@dataclasses.dataclass
class Image3Pair:
    """One instrument's image3 association, and jwst's and gpucal's runs on it."""

    instrument: str
    asn: pathlib.Path
    jwst: object
    ours: pathlib.Path
    result: object


def _cal_set(root, instrument, seed):
    detector, filter_name, size = SETS[instrument]
    sim = simulate(root / "sim", instrument=instrument, detector=detector, filter=filter_name, exposures=3,
                   backgrounds=0, size=size, seed=seed)  # fmt: skip
    steps = image2_step_options(sim.references, {"resample": {"skip": True}})
    cal_dir = root / "cal"
    names = []
    for rate, offset in zip(sim.science, SKY_OFFSETS, strict=True):
        Image2Pipeline.call(str(rate), steps=steps, device="cpu", save_results=True, output_dir=str(cal_dir))
        name = rate.name.replace("_rate", "_cal")
        with fits.open(cal_dir / name, mode="update") as hdul:
            hdul["SCI"].data = (hdul["SCI"].data + np.float32(offset)).astype(hdul["SCI"].data.dtype)
        names.append(name)
    product = json.loads(pathlib.Path(sim.image3_asn).read_text())["products"][0]["name"]
    asn = write_asn(make_image3_asn(product, names, asn_id="o001"), cal_dir / "image3_asn.json")
    return asn, sim.references


@pytest.fixture(scope="module", params=list(SETS))
def pair(request, tmp_path_factory):
    instrument = request.param
    root = tmp_path_factory.mktemp(f"image3_{instrument}")
    asn, refs = _cal_set(root, instrument, seed=41)
    catalog_refs = {"override_apcorr": str(refs["apcorr"].resolve()),
                    "override_abvegaoffset": str(refs["abvegaoffset"].resolve())}  # fmt: skip
    steps = {"source_catalog": catalog_refs}
    jwst = run_pipeline("Image3Pipeline", asn, root / "jwst", steps)
    assert jwst.returncode == 0, jwst.log[-4000:]
    ours = root / "ours"
    result = Image3Pipeline.call(str(asn), device="cpu", save_results=True, output_dir=str(ours), steps=steps)
    return Image3Pair(instrument, asn, jwst, ours, result)


def _pairs(run, suffix, ext="fits"):
    theirs = sorted(run.jwst.products(suffix)) if ext == "fits" else sorted(run.jwst.outputs)
    theirs = [p for p in theirs if p.name.endswith(f"_{suffix}.{ext}")]
    ours = sorted(run.ours.glob(f"*_{suffix}.{ext}"))
    assert [p.name for p in ours] == [p.name for p in theirs], suffix
    assert theirs, f"jwst wrote no _{suffix}.{ext}"
    return list(zip(ours, theirs, strict=True))


def test_products_are_named_as_jwst_names_them(pair):
    assert sorted(p.name for p in pair.result.written) == sorted(p.name for p in pair.jwst.outputs)
    assert len(pair.jwst.products("crf")) == 3


def test_crf_match_jwst(pair):
    for ours_path, theirs_path in _pairs(pair, "crf"):
        with fits.open(ours_path) as ours, fits.open(theirs_path) as theirs:
            assert ours[0].header["EXP_TYPE"] == theirs[0].header["EXP_TYPE"]
            assert [h.name for h in ours] == [h.name for h in theirs], ours_path.name
            dq_a, dq_b = ours["DQ"].data, theirs["DQ"].data
            np.testing.assert_array_equal(dq_a & ~OUTLIER, dq_b & ~OUTLIER, err_msg=f"{ours_path.name}: DQ")
            flag_a, flag_b = (dq_a & 16) > 0, (dq_b & 16) > 0
            differ = np.count_nonzero(flag_a != flag_b)
            assert differ <= max(1, 0.001 * flag_b.sum()), f"{ours_path.name}: {differ} of {flag_b.sum()} flags differ"
            clean = ~flag_a & ~flag_b
            for name in ("SCI", "ERR", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT"):
                a, b = ours[name].data[clean], theirs[name].data[clean]
                np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"{ours_path.name} {name} NaNs")
                np.testing.assert_allclose(a, b, rtol=1e-6, atol=0, equal_nan=True, err_msg=f"{ours_path.name} {name}")
            for key in ("S_TWKREG", "S_SKYMAT", "S_OUTLIR", "BKGSUB"):
                assert ours[0].header.get(key) == theirs[0].header.get(key), f"{ours_path.name}: {key}"
            level_a, level_b = ours[0].header.get("BKGLEVEL"), theirs[0].header.get("BKGLEVEL")
            assert (level_a is None) == (level_b is None), f"{ours_path.name}: BKGLEVEL {level_a} vs {level_b}"
            if level_b is not None:
                scale = max(abs(level_b), float(np.nanmedian(theirs["ERR"].data)))
                assert abs(level_a - level_b) <= 1e-3 * scale, f"{ours_path.name}: BKGLEVEL {level_a} vs {level_b}"


def test_i2d_matches_jwst(pair):
    ((ours_path, theirs_path),) = _pairs(pair, "i2d")
    with fits.open(ours_path) as ours, fits.open(theirs_path) as theirs:
        assert [h.name for h in ours] == [h.name for h in theirs]
        assert ours["SCI"].data.shape == theirs["SCI"].data.shape
        for key in ("CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2"):
            assert ours["SCI"].header[key] == pytest.approx(theirs["SCI"].header[key], rel=1e-12, abs=1e-9), key
        for key in ("NDRIZ", "S_RESAMP", "S_SKYMAT", "S_OUTLIR", "S_TWKREG", "EXP_TYPE"):
            assert ours[0].header.get(key) == theirs[0].header.get(key), key
        covered = theirs["WHT"].data > 0
        assert covered.mean() > 0.5
        assert rel_rms(ours["SCI"].data, theirs["SCI"].data, covered) <= 1e-4
        assert rel_rms(ours["WHT"].data, theirs["WHT"].data, covered) <= 1e-4
        for name in ("ERR", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT"):
            assert rel_rms(ours[name].data, theirs[name].data, covered) <= 1e-3, name


def test_outliers_are_found(pair):
    assert pair.result.outliers.n_flagged > 0, "the simulated cosmic rays should be flagged"


def test_source_catalog_matches_jwst(pair):
    from astropy.table import QTable

    ((ours_path, theirs_path),) = _pairs(pair, "cat", ext="ecsv")
    ours, theirs = QTable.read(ours_path), QTable.read(theirs_path)
    assert ours.colnames == theirs.colnames
    assert len(ours) == len(theirs) >= 1
    idx, sep, _ = theirs["sky_centroid"].match_to_catalog_sky(ours["sky_centroid"])
    assert sep.arcsec.max() <= 1e-3
    for column in ("aper_total_flux", "isophotal_flux", "aper30_flux", "aper_bkg_flux", "aper_total_vegamag"):
        a = np.asarray(getattr(ours[column], "value", ours[column]), np.float64)[idx]
        b = np.asarray(getattr(theirs[column], "value", theirs[column]), np.float64)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-12, equal_nan=True, err_msg=column)
    for column in ("isophotal_area", "is_extended"):
        np.testing.assert_array_equal(np.asarray(ours[column])[idx], np.asarray(theirs[column]), err_msg=column)
