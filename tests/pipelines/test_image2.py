"""calwebb_image2 on small synthetic data: numbers, products, devices, parameters."""

import json
import os

import numpy as np
import pytest
from astropy.io import fits

from gpucal.errors import InputFileError, ParameterError, ReferenceFileError
from gpucal.io.asn import make_image2_asn, write_asn
from gpucal.io.exposure import read_exposure, write_exposure
from gpucal.pipelines.image2 import Image2Pipeline
from tests.factories import small_exposure, write_small_rate


def _run(rate, steps, tmp_path, device="cpu", **kwargs):
    out = tmp_path / f"out_{device}"
    return Image2Pipeline.call(
        str(rate), steps=steps, device=device, save_results=True, output_dir=str(out), **kwargs
    ), out


def test_calibrated_values(rate, steps, refs, tmp_path):
    (result,), out = _run(rate, steps, tmp_path)
    raw = read_exposure(rate)
    flat = fits.getdata(refs["flat"], "SCI")[1000:1040, 1000:1048]
    flat_dq = fits.getdata(refs["flat"], "DQ")[1000:1040, 1000:1048]
    good = (raw.dq & 1 == 0) & (flat_dq == 0) & np.isfinite(flat) & (flat != 0)
    expected = (raw.data / flat * np.float32(0.25))[good]
    np.testing.assert_allclose(result.data[good], expected, rtol=1e-6)
    assert np.all(np.isnan(result.data[~good]) | (flat_dq[~good] == 0))
    cal = out / "jw01345001001_02101_00001_nrca1_cal.fits"
    with fits.open(cal) as hdul:
        assert [h.name for h in hdul] == [
            "PRIMARY",
            "SCI",
            "ERR",
            "DQ",
            "AREA",
            "VAR_POISSON",
            "VAR_RNOISE",
            "VAR_FLAT",
            "ASDF",
        ]
        primary, sci = hdul[0].header, hdul["SCI"].header
        assert (primary["S_WCS"], primary["S_FLAT"], primary["S_PHOTOM"], primary["S_RESAMP"]) == (
            "COMPLETE",
            "COMPLETE",
            "COMPLETE",
            "SKIPPED",
        )
        assert "S_BKDSUB" not in primary
        assert primary["R_FLAT"] == os.path.abspath(refs["flat"])
        assert primary["R_CAMERA"] == "N/A"
        assert sci["BUNIT"] == "MJy/sr" and sci["PHOTMJSR"] == pytest.approx(0.25)
        assert sci["PIXAR_SR"] == pytest.approx(2.2e-14)  # from the area reference, not photom
        assert sci["S_REGION"].startswith("POLYGON ICRS  ")
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    with datamodels.open(cal) as model:
        np.testing.assert_array_equal(model.data, result.data)
        ra, dec = model.meta.wcs(10.0, 20.0)
        assert np.allclose((ra, dec), result.wcs(10.0, 20.0), atol=1e-12)


def test_cuda_path_matches_cpu(rate, steps, tmp_path):
    (cpu,), _ = _run(rate, steps, tmp_path, device="cpu")
    (gpu,), _ = _run(rate, steps, tmp_path, device="cuda")
    for name in cpu.arrays:
        np.testing.assert_allclose(gpu.arrays[name], cpu.arrays[name], rtol=1e-6, equal_nan=True, err_msg=name)
        if name == "dq":
            np.testing.assert_array_equal(gpu.dq, cpu.dq)


def test_rateints_cube(tmp_path, steps):
    exposure = small_exposure(shape=(3, 24, 28), wcs=False)
    exposure.meta.subarray.xstart = exposure.meta.subarray.ystart = 101
    path = write_exposure(exposure, tmp_path / "jw01345001001_02101_00001_nrca1_rateints.fits")
    (result,), out = _run(path, steps, tmp_path)
    assert result.is_cube and result.data.shape == (3, 24, 28)
    assert (out / "jw01345001001_02101_00001_nrca1_calints.fits").is_file()
    assert not list(out.glob("*_i2d.fits"))
    flat = fits.getdata(steps["flat_field"]["override_flat"], "SCI")[100:124, 100:128]
    finite = np.isfinite(result.data[1]) & np.isfinite(exposure.data[1])
    np.testing.assert_allclose(result.data[1][finite], (exposure.data[1] / flat * np.float32(0.25))[finite], rtol=1e-6)


def test_tso_defaults_skip_background(tmp_path, steps):
    rate = write_small_rate(tmp_path, **{"visit.tsovisit": True, "exposure.type": "NRC_TSIMAGE"})
    bkg = write_small_rate(tmp_path, name="jw01345001001_02101_00002_nrca1_rate.fits", seed=3)
    asn = write_asn(make_image2_asn(rate.name, backgrounds=[bkg.name]), tmp_path / "tso_asn.json")
    pipeline = Image2Pipeline(steps=steps)
    from gpucal.io.exposure import read_exposure as read

    chosen = pipeline.steps_for(read(rate).meta)
    assert chosen["bkg_subtract"].skip and chosen["resample"].skip
    (result,), _ = _run(asn, steps, tmp_path)
    assert result.meta.cal_step.bkg_subtract == "SKIPPED"


def test_background_subtraction_through_asn(tmp_path, steps):
    rate = write_small_rate(tmp_path)
    names = []
    for seed in (5, 6, 7):
        path = write_small_rate(tmp_path, name=f"jw01345002001_02101_0000{seed}_nrca1_rate.fits", seed=seed)
        names.append(path.name)
    asn = write_asn(make_image2_asn(rate.name, backgrounds=names), tmp_path / "bkg_asn.json")
    steps = dict(steps, bkg_subtract={"save_results": True})
    (result,), out = _run(asn, steps, tmp_path, device="cpu")
    bsub = read_exposure(out / "jw01345001001_02101_00001_nrca1_bsub.fits")
    raw = read_exposure(rate)
    backgrounds = [read_exposure(tmp_path / n) for n in names]
    from astropy.stats import sigma_clip

    stack = np.array([b.data for b in backgrounds], dtype=np.float64)
    expected_bkg = sigma_clip(stack, sigma=3.0, maxiters=None, axis=0).mean(axis=0).data.astype(np.float32)
    np.testing.assert_array_equal(bsub.data, raw.data - expected_bkg)
    np.testing.assert_array_equal(bsub.err, raw.err)  # ERR and variances are untouched
    np.testing.assert_array_equal(bsub.dq, raw.dq | backgrounds[0].dq | backgrounds[1].dq | backgrounds[2].dq)
    assert result.meta.cal_step.bkg_subtract == "COMPLETE"
    (gpu,), _ = _run(asn, steps, tmp_path, device="cuda")
    np.testing.assert_allclose(gpu.data, result.data, rtol=1e-6, equal_nan=True)


def test_background_of_other_dimensionality_is_an_error(tmp_path, steps):
    rate = write_small_rate(tmp_path)
    cube = small_exposure(shape=(2, 40, 48), wcs=False)
    cube.meta.subarray.xstart = cube.meta.subarray.ystart = 1001
    write_exposure(cube, tmp_path / "cube_rateints.fits")
    asn = write_asn(make_image2_asn(rate.name, backgrounds=["cube_rateints.fits"]), tmp_path / "bad_asn.json")
    with pytest.raises(InputFileError, match=r"cube_rateints\.fits: background is 3-D but the science exposure is 2-D"):
        _run(asn, steps, tmp_path)


def test_missing_pointing_keywords(tmp_path, steps):
    exposure = small_exposure(wcs=False)
    del exposure.meta_tree["wcsinfo"]["roll_ref"]
    path = write_exposure(exposure, tmp_path / "nopoint_rate.fits")
    with pytest.raises(InputFileError, match="missing pointing keywords ROLL_REF"):
        _run(path, steps, tmp_path)
    assert not (tmp_path / "out_cpu" / "nopoint_cal.fits").exists()


def test_flat_for_another_detector(tmp_path, rate, steps, refs):
    with fits.open(refs["flat"]) as hdul:
        hdul[0].header["DETECTOR"] = "NRCB3"
        hdul.writeto(tmp_path / "b3_flat.fits")
    steps = dict(steps, flat_field={"override_flat": str(tmp_path / "b3_flat.fits")})
    with pytest.raises(ReferenceFileError, match="DETECTOR=NRCB3, the science has DETECTOR=NRCA1"):
        _run(rate, steps, tmp_path)


def test_subarray_outside_the_flat(tmp_path, steps, refs):
    rate = write_small_rate(tmp_path, start=(2030, 2030))
    with pytest.raises(ReferenceFileError, match="does not contain the subarray of"):
        _run(rate, steps, tmp_path)


def test_photom_without_a_row_keeps_dn_per_second(tmp_path, steps, refs):
    rate = write_small_rate(tmp_path, **{"instrument.filter": "F444W"})
    with fits.open(refs["flat"]) as hdul:  # a flat of the science's filter (another filter's is refused)
        hdul[0].header["FILTER"] = "F444W"
        hdul.writeto(tmp_path / "f444w_flat.fits")
    steps = dict(steps, flat_field={"override_flat": str(tmp_path / "f444w_flat.fits")})
    with pytest.warns(UserWarning, match="no row in .* for FILTER=F444W"):
        (result,), _ = _run(rate, steps, tmp_path)
    assert result.meta.bunit_data == "DN/s" and result.meta.cal_step.photom == "COMPLETE"


def test_nan_only_data(tmp_path, steps):
    exposure = small_exposure(wcs=False)
    exposure.data[:] = np.nan
    exposure.meta.subarray.xstart = exposure.meta.subarray.ystart = 1001
    path = write_exposure(exposure, tmp_path / "nan_rate.fits")
    (result,), _ = _run(path, steps, tmp_path)
    assert np.all(np.isnan(result.data)) and np.all(result.dq & 1)


def test_unknown_step_and_parameter():
    with pytest.raises(ParameterError, match="unknown step 'flatfield'"):
        Image2Pipeline(steps={"flatfield": {}})
    with pytest.raises(ParameterError, match="photom: unknown parameter 'override_flat'"):
        Image2Pipeline(steps={"photom": {"override_flat": "x"}})
    with pytest.raises(ParameterError, match=r"resample\.pixfrac: 2\.0 is above the maximum 1\.0"):
        Image2Pipeline(steps={"resample": {"pixfrac": "2.0"}})
    with pytest.raises(ParameterError, match=r"bkg_subtract\.sigma: 'abc' is not a valid float"):
        Image2Pipeline(steps={"bkg_subtract": {"sigma": "abc"}})


def test_parameter_coercion_from_strings():
    pipeline = Image2Pipeline(
        steps={
            "resample": {"skip": "yes", "output_shape": "100,200", "crval": "10.5 -3"},
            "bkg_subtract": {"maxiters": "None"},
        }
    )
    steps = pipeline.steps_for(None)
    assert steps["resample"].skip is True
    assert steps["resample"].output_shape == (100, 200) and steps["resample"].crval == (10.5, -3.0)
    assert steps["bkg_subtract"].maxiters is None


def test_jwst_parameter_file_and_precedence(tmp_path, rate, steps):
    import asdf

    params = {
        "class": "jwst.pipeline.calwebb_image2.Image2Pipeline", "name": "Image2Pipeline",
        "parameters": {"save_bsub": False, "output_ext": ".fits", "pre_hooks": []},
        "steps": [{"class": "jwst.flatfield.flat_field_step.FlatFieldStep", "name": "flat_field",
                   "parameters": {"skip": True, "inverse": False}},
                  {"class": "jwst.photom.photom_step.PhotomStep", "name": "photom", "parameters": {"skip": True}}],
    }  # fmt: skip
    path = tmp_path / "image2_pars.asdf"
    asdf.AsdfFile(params).write_to(path)
    user = dict(steps, photom={**steps["photom"], "skip": False})
    (result,), _ = _run(rate, user, tmp_path, config_file=str(path))
    assert result.meta.cal_step.flat_field == "SKIPPED"  # from the file
    assert result.meta.cal_step.photom == "COMPLETE"  # the caller wins over the file
    bad = tmp_path / "other_pars.asdf"
    asdf.AsdfFile({"class": "jwst.pipeline.calwebb_image3.Image3Pipeline", "steps": []}).write_to(bad)
    with pytest.raises(ParameterError, match="not for calwebb_image2"):
        Image2Pipeline(config_file=str(bad))


def test_cli_image2(tmp_path, rate, steps):
    import subprocess
    import sys

    args = [f"--steps.{s}.{k}={v}" for s, params in steps.items() for k, v in params.items()]
    command = [sys.executable, "-m", "gpucal.cli", "image2", str(rate), "--device", "cpu", "--output-dir",
               str(tmp_path / "cli"), *args]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cli" / "jw01345001001_02101_00001_nrca1_cal.fits").is_file()
    bad = subprocess.run(
        [sys.executable, "-m", "gpucal.cli", "image2", str(rate), "--steps.flat_field.nope=1"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "unknown parameter 'nope'" in bad.stderr
    printed = subprocess.run(
        [sys.executable, "-m", "gpucal.cli", "image2", "--print-config"], capture_output=True, text=True
    )
    assert [s["name"] for s in json.loads(printed.stdout)["steps"]] == [
        "bkg_subtract",
        "assign_wcs",
        "flat_field",
        "photom",
        "resample",
    ]


def test_dither_set_in_one_association_matches_single_runs(tmp_path, steps):
    """Several products sharing backgrounds: the combined background is reused and I/O
    overlaps computation, with results identical to calibrating each product alone."""
    from gpucal.io.asn import Association, Member, Product, read_asn
    from gpucal.pipelines.image2.bkg_subtract import _COMBINED

    backgrounds = [
        write_small_rate(tmp_path, name=f"jw01345002001_02101_0000{s}_nrca1_rate.fits", seed=s).name for s in (5, 6)
    ]
    products = []
    for k in (1, 2, 3):
        rate = write_small_rate(tmp_path, name=f"jw01345001001_02101_0000{k}_nrca1_rate.fits", seed=10 + k)
        members = [Member(rate.name, "science")] + [Member(b, "background") for b in backgrounds]
        products.append(Product(rate.name.replace("_rate.fits", ""), members))
    asn = write_asn(Association("image2", "o001", products), tmp_path / "dither_asn.json")
    _COMBINED.clear()
    together, _ = _run(asn, steps, tmp_path)
    assert len(together) == 3 and all(len(r.written) == 1 and r.written[0].is_file() for r in together)
    for product, result in zip(read_asn(asn).products, together, strict=True):
        single = write_asn(Association("image2", "o001", [product]), tmp_path / f"{product.name}_asn.json")
        _COMBINED.clear()
        (alone,), _ = _run(single, steps, tmp_path / "alone")
        for name in alone.arrays:
            np.testing.assert_array_equal(result.arrays[name], alone.arrays[name], err_msg=name)
        np.testing.assert_array_equal(read_exposure(result.written[0]).data, alone.data)


def test_written_products_release_their_arrays_when_asked(tmp_path, steps):
    """keep_arrays=False (the command line's choice): results carry paths and meta, not N exposures' arrays."""
    from gpucal.io.asn import Association, Member, Product

    products = []
    for k in (1, 2, 3):
        rate = write_small_rate(tmp_path, name=f"jw01345001001_02101_0000{k}_nrca1_rate.fits", seed=20 + k)
        products.append(Product(rate.name.replace("_rate.fits", ""), [Member(rate.name, "science")]))
    asn = write_asn(Association("image2", "o001", products), tmp_path / "three_asn.json")
    kept = Image2Pipeline.call(str(asn), steps=steps, device="cpu", save_results=True, output_dir=str(tmp_path / "a"))
    light = Image2Pipeline.call(str(asn), steps=steps, device="cpu", save_results=True, output_dir=str(tmp_path / "b"),
                                keep_arrays=False)  # fmt: skip
    assert all(r.arrays for r in kept) and not any(r.arrays for r in light)
    for full, lean in zip(kept, light, strict=True):
        assert lean.meta.filename == full.meta.filename
        assert [p.name for p in lean.written] == [p.name for p in full.written]
        np.testing.assert_array_equal(read_exposure(lean.written[0]).data, full.data)
    with pytest.raises(ParameterError, match="keep_arrays"):
        Image2Pipeline(keep_arrays=False)


def test_product_without_a_name_is_refused(tmp_path, rate, steps):
    doc = make_image2_asn(rate.name).to_dict()
    doc["products"][0]["name"] = ""
    path = tmp_path / "noname_asn.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputFileError, match="has no name"):
        Image2Pipeline.call(str(path), steps=steps, device="cpu", save_results=True, output_dir=str(tmp_path / "o"))
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [("crval", "10.0 -100.0", "Dec"), ("crval", "360.0 0.0", "RA"), ("crval", "nan 0", "RA"),
     ("pixfrac", "0", "pixfrac"), ("rotation", "nan", "rotation"), ("pixel_scale", "nan", "pixel_scale"),
     ("crpix", "nan 3", "crpix")],
)  # fmt: skip
def test_grid_parameters_are_range_checked_up_front(param, value, message):
    """Issue 9, item 4: a Dec of -100 used to give a nonsense grid and exit 0."""
    with pytest.raises(ParameterError, match=message):
        Image2Pipeline(steps={"resample": {param: value}})
