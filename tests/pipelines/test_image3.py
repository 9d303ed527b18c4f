"""image3: inputs, products, step control, bad input and interrupted runs (small simulated dither sets, CPU).

Numbers against jwst are in tests/parity/test_image3_vs_jwst.py; this file checks
what a user meets: the products and their names, skipping, errors naming the
file, and that a failed run leaves nothing half-written.
"""

import json
import pathlib
import shutil

import numpy as np
import pytest
from astropy.io import fits

from gpucal.errors import AssociationError, InputFileError, ParameterError
from gpucal.io.asn import make_image3_asn, write_asn
from gpucal.io.exposure import read_metadata
from gpucal.pipelines.image3 import Image3Pipeline
from tests.factories import simulated_cal_set

PRODUCT = "jw00001-o001_t001_nircam_clear-f200w"


@pytest.fixture(scope="module")
def cal_set(tmp_path_factory):
    """Three dithered 96x96 NIRCam _cal files (with cosmic rays) and their image3 association."""
    return simulated_cal_set(tmp_path_factory.mktemp("image3_set"), exposures=3, size=96, seed=8, product=PRODUCT)


def _names(result):
    return sorted(p.name for p in result.written)


def test_association_gives_crf_and_mosaic_named_as_jwst(cal_set, tmp_path):
    result = Image3Pipeline.call(
        str(cal_set["asn"]), device="cpu", save_results=True, output_dir=str(tmp_path), ref_dir=cal_set["ref_dir"]
    )
    roots = [p.name.replace("_cal.fits", "") for p in cal_set["cals"]]
    products = [f"{PRODUCT}_i2d.fits", f"{PRODUCT}_cat.ecsv", f"{PRODUCT}_segm.fits"]
    assert _names(result) == sorted(products + [f"{r}_o001_crf.fits" for r in roots])
    assert sorted(p.name for p in tmp_path.iterdir()) == _names(result), "scratch or temporary files left behind"
    statuses = {alias: status for alias, _, status in result.timings}
    assert statuses == {"tweakreg": "COMPLETE", "skymatch": "COMPLETE", "outlier_detection": "COMPLETE",
                        "resample": "COMPLETE", "source_catalog": "COMPLETE"}  # fmt: skip
    assert result.catalog.n_sources > 0
    with fits.open(tmp_path / f"{roots[0]}_o001_crf.fits") as crf, fits.open(cal_set["cals"][0]) as cal:
        header = crf[0].header
        assert header["S_SKYMAT"] == "COMPLETE" and header["S_OUTLIR"] == "COMPLETE"
        assert header["BKGSUB"] is False and header["BKGMETH"] == "match" and "BKGLEVEL" in header
        assert header["FILENAME"] == f"{roots[0]}_o001_crf.fits"
        flagged = (crf["DQ"].data & 16) > 0
        assert flagged.any(), "the simulated cosmic rays are flagged"
        np.testing.assert_array_equal(crf["DQ"].data & ~np.uint32(17), cal["DQ"].data & ~np.uint32(17))
        np.testing.assert_array_equal(crf["SCI"].data[~flagged], cal["SCI"].data[~flagged])
    crf_meta = read_metadata(tmp_path / f"{roots[0]}_o001_crf.fits")[0].meta
    assert crf_meta.asn.exptype == "science" and crf_meta.group_id  # as jwst's ModelLibrary records them
    with fits.open(tmp_path / f"{PRODUCT}_i2d.fits") as i2d:
        assert i2d[0].header["S_RESAMP"] == "COMPLETE" and i2d[0].header["NDRIZ"] == 3
        assert {"SCI", "ERR", "WHT", "CON", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT"} <= {h.name for h in i2d}
        assert np.isfinite(i2d["SCI"].data[i2d["WHT"].data > 0]).all()


def test_mosaic_readable_by_stdatamodels(cal_set, tmp_path):
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    Image3Pipeline.call(str(cal_set["asn"]), device="cpu", save_results=True, output_dir=str(tmp_path),
                        steps={"outlier_detection": {"skip": True}}, ref_dir=cal_set["ref_dir"])  # fmt: skip
    with datamodels.open(tmp_path / f"{PRODUCT}_i2d.fits") as model:
        assert model.meta.cal_step.resample == "COMPLETE"
        assert model.data.shape == model.wht.shape
        ra, dec = model.meta.wcs(10.0, 10.0)
        assert np.isfinite([ra, dec]).all()
        # as jwst's ModelLibrary records them on every member, and the blended mosaic keeps the first's
        assert model.meta.asn.exptype == "science"
        assert model.meta.group_id


def test_list_of_cal_files_and_user_skipped_outlier_step(cal_set, tmp_path):
    paths = [str(p) for p in cal_set["cals"]]
    result = Image3Pipeline.call(paths, device="cpu", save_results=True, output_dir=str(tmp_path),
                                 steps={"outlier_detection": {"skip": True},
                                        "source_catalog": {"skip": True}})  # fmt: skip
    # A user-skipped outlier step writes no _crf (as jwst); the mosaic takes the first input's root.
    assert _names(result) == [cal_set["cals"][0].name.replace("_cal.fits", "_i2d.fits")]
    assert dict((a, s) for a, _, s in result.timings)["outlier_detection"] == "skipped"


def test_one_exposure_skips_outlier_detection_and_says_so(cal_set, tmp_path, caplog):
    result = Image3Pipeline.call(
        str(cal_set["cals"][0]), device="cpu", save_results=True, output_dir=str(tmp_path), ref_dir=cal_set["ref_dir"]
    )
    assert "needs at least two input exposures" in caplog.text
    crf = next(p for p in result.written if p.name.endswith("_crf.fits"))
    with fits.open(crf) as hdul:
        assert hdul[0].header["S_OUTLIR"] == "SKIPPED"


def test_intermediate_products(cal_set, tmp_path):
    result = Image3Pipeline.call(str(cal_set["asn"]), device="cpu", save_results=True, output_dir=str(tmp_path),
                                 steps={"outlier_detection": {"save_intermediate_results": True}},
                                 ref_dir=cal_set["ref_dir"])  # fmt: skip
    names = _names(result)
    assert f"{PRODUCT}_median.fits" in names
    assert sum(n.endswith("_blot.fits") for n in names) == 3
    assert sum(n.endswith("_outlier_i2d.fits") for n in names) == 3
    with fits.open(tmp_path / f"{PRODUCT}_median.fits") as median, fits.open(tmp_path / f"{PRODUCT}_i2d.fits") as i2d:
        assert median["SCI"].data.shape == i2d["SCI"].data.shape


def _levels(asn, out, method, cals):
    steps = {"skymatch": {"skymethod": method, "skystat": "mean"}, "resample": {"skip": True}}
    Image3Pipeline.call(str(asn), device="cpu", save_results=True, output_dir=str(out), steps=steps)
    levels = []
    for cal in cals:
        with fits.open(out / cal.name.replace("_cal.fits", "_o001_crf.fits")) as hdul:
            levels.append(hdul[0].header["BKGLEVEL"])
    return np.array(levels)


def test_skymatch_levels_follow_added_sky_offsets(cal_set, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    offsets = np.array([0.0, 0.05, -0.02])
    for cal, offset in zip(cal_set["cals"], offsets, strict=True):
        with fits.open(cal) as hdul:
            hdul["SCI"].data = hdul["SCI"].data + np.float32(offset)
            hdul.writeto(folder / cal.name)
    asn = write_asn(make_image3_asn(PRODUCT, [c.name for c in cal_set["cals"]], asn_id="o001"), folder / "asn.json")
    for method in ("match", "global+match", "local", "global"):
        base = _levels(cal_set["asn"], tmp_path / f"base-{method}", method, cal_set["cals"])
        shifted = _levels(asn, tmp_path / method, method, cal_set["cals"])
        if method == "match":
            # Matching recovers the added offsets between exposures (up to the common level), and the lowest is 0.
            np.testing.assert_allclose(np.diff(shifted - base), np.diff(offsets), atol=2e-3)
            assert shifted.min() == 0.0
        elif method == "local":
            np.testing.assert_allclose(shifted - base, offsets, atol=2e-3)
        elif method == "global":
            assert len(set(shifted)) == 1
            assert shifted[0] == pytest.approx(base[0] + offsets.min(), abs=2e-3)


def test_bad_parameters_fail_before_reading(cal_set, tmp_path):
    with pytest.raises(ParameterError, match="skymethod"):
        Image3Pipeline(steps={"skymatch": {"skymethod": "best"}})
    with pytest.raises(ParameterError, match="unknown step"):
        Image3Pipeline(steps={"flat_field": {}})
    with pytest.raises(ParameterError, match="unknown parameter"):
        Image3Pipeline(steps={"tweakreg": {"no_such_parameter": 3}})
    with pytest.raises(ParameterError, match="kernel"):
        Image3Pipeline(steps={"outlier_detection": {"kernel": "lanczos3"}})


def test_rate_file_is_refused_naming_it(cal_set, tmp_path):
    bad = [str(cal_set["cals"][0]), str(cal_set["rates"][1])]
    with pytest.raises(InputFileError, match=cal_set["rates"][1].name):
        Image3Pipeline.call(bad, device="cpu", save_results=True, output_dir=str(tmp_path), ref_dir=cal_set["ref_dir"])
    assert not any(tmp_path.iterdir())


def test_nirspec_imaging_exposures_are_refused_naming_them(cal_set, tmp_path):
    """NIRSpec's TA/imaging modes end at image2 (DN/s, no photom): image3 says so instead of blaming photom."""
    nirspec = tmp_path / "jw00001001001_02101_00009_nrs1_cal.fits"
    with fits.open(cal_set["cals"][1]) as hdul:
        header = hdul[0].header
        header.update({"INSTRUME": "NIRSPEC", "DETECTOR": "NRS1", "EXP_TYPE": "NRS_MSATA", "S_PHOTOM": "SKIPPED"})
        hdul.writeto(nirspec)
    with pytest.raises(InputFileError, match=rf"{nirspec.name}: EXP_TYPE NRS_MSATA: NIRSpec imaging-mode"):
        Image3Pipeline.call([str(cal_set["cals"][0]), str(nirspec)], device="cpu")


def test_mixed_filters_are_refused(cal_set, tmp_path):
    other = tmp_path / "other_cal.fits"
    with fits.open(cal_set["cals"][1]) as hdul:
        hdul[0].header["FILTER"] = "F150W"
        hdul.writeto(other)
    with pytest.raises(InputFileError, match=r"one instrument, filter and pupil"):
        Image3Pipeline.call([str(cal_set["cals"][0]), str(other)], device="cpu")


def test_missing_member_is_an_association_error(cal_set, tmp_path):
    doc = json.loads(cal_set["asn"].read_text())
    doc["products"][0]["members"].append({"expname": "jw_missing_cal.fits", "exptype": "science"})
    asn = cal_set["asn"].parent / "broken_asn.json"
    asn.write_text(json.dumps(doc))
    with pytest.raises(AssociationError, match=r"jw_missing_cal\.fits"):
        Image3Pipeline.call(str(asn), device="cpu")


def test_failed_run_leaves_earlier_products_and_no_partial_files(cal_set, tmp_path, monkeypatch):
    first = Image3Pipeline.call(
        str(cal_set["asn"]), device="cpu", save_results=True, output_dir=str(tmp_path), ref_dir=cal_set["ref_dir"]
    )
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    import gpucal.resample.mosaic as mosaic

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(mosaic, "resample_library", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        Image3Pipeline.call(
            str(cal_set["asn"]), device="cpu", save_results=True, output_dir=str(tmp_path), ref_dir=cal_set["ref_dir"]
        )
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before, "a failed run changed or left files"
    monkeypatch.undo()
    again = Image3Pipeline.call(
        str(cal_set["asn"]), device="cpu", save_results=True, output_dir=str(tmp_path), ref_dir=cal_set["ref_dir"]
    )
    assert _names(again) == _names(first)


def test_cli_image3(cal_set, tmp_path, capsys):
    from gpucal.cli import main

    args = [str(p) for p in cal_set["cals"]]
    code = main(["-q", "image3", *args, "--device", "cpu", "--output-dir", str(tmp_path),
                 "--ref-dir", cal_set["ref_dir"],
                 "--steps.outlier_detection.snr", "4.0 3.0", "--steps.resample.pixfrac=0.8"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "_i2d.fits" in out and "_crf.fits" in out
    with fits.open(next(tmp_path.glob("*_i2d.fits"))) as hdul:
        assert hdul[0].header["PIXFRAC"] == 0.8
    assert main(["image3", "--print-config"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in config["steps"]] == ["tweakreg", "skymatch", "outlier_detection", "resample",
                                                    "source_catalog"]  # fmt: skip
    assert main(["image3", str(tmp_path / "nothing.json")]) == 4


def test_farm_runs_one_task_per_association(cal_set, tmp_path):
    pytest.importorskip("distributed")
    from gpucal.farm import connect, run_image3_many

    second = tmp_path / "second"
    shutil.copytree(cal_set["asn"].parent, second, ignore=shutil.ignore_patterns("*_rate.fits"))
    client = connect(workers=2, processes=False)
    try:
        results = run_image3_many(
            [cal_set["asn"], second / cal_set["asn"].name],
            client=client,
            output_dir=tmp_path / "out",
            device="cpu",
            steps={"outlier_detection": {"skip": True}, "source_catalog": {"skip": True}},
        )
    finally:
        client.close()
    assert all(r.ok for r in results), [r.error for r in results]
    assert all(any(pathlib.Path(p).name.endswith("_i2d.fits") for p in r.written) for r in results)


def test_mosaic_fed_by_outlier_pass_equals_a_separate_resample_pass(cal_set, tmp_path, monkeypatch):
    """The mosaic drizzled while outlier detection flags (one read and one pixel map fewer per exposure)
    is bit for bit the mosaic of a separate resample pass over the flagged exposures."""
    steps = {"source_catalog": {"skip": True}}
    fused = Image3Pipeline.call(str(cal_set["asn"]), device="cpu", save_results=True, output_dir=str(tmp_path / "a"),
                                steps=steps)  # fmt: skip
    monkeypatch.setattr(Image3Pipeline, "_mosaic_builder", lambda self, *args: None)
    separate = Image3Pipeline.call(str(cal_set["asn"]), device="cpu", save_results=True,
                                   output_dir=str(tmp_path / "b"), steps=steps)  # fmt: skip
    assert _names(fused) == _names(separate)
    for name in ("data", "wht", "con", "err", "var_rnoise", "var_poisson", "var_flat"):
        np.testing.assert_array_equal(fused.mosaic.arrays[name], separate.mosaic.arrays[name], err_msg=name)


def test_resample_single_is_refused_before_any_work():
    with pytest.raises(ParameterError, match="single=true"):
        Image3Pipeline(steps={"resample": {"single": True}})


def test_gpu_out_of_memory_runs_again_on_the_cpu_or_stops_with_require_gpu(cal_set, tmp_path, monkeypatch):
    from gpucal.errors import DeviceMemoryError, HostFallbackWarning
    from gpucal.pipelines.image3 import skymatch

    devices = []
    original = skymatch.SkyMatchStep.process

    def process(self, library, ctx):
        devices.append(str(ctx.device))
        if ctx.device.is_cuda:
            raise DeviceMemoryError("output grid 99999x99999 needs 9000.0 GiB on cuda:0")
        return original(self, library, ctx)

    monkeypatch.setattr(skymatch.SkyMatchStep, "process", process)
    steps = {"tweakreg": {"skip": True}, "source_catalog": {"skip": True}}
    pipeline = Image3Pipeline(device="cuda", save_results=True, output_dir=str(tmp_path / "fallback"), steps=steps,
                              ref_dir=cal_set["ref_dir"])  # fmt: skip
    if not pipeline.device.is_cuda:
        pytest.skip("no CUDA device, real or simulated")
    with pytest.warns(HostFallbackWarning, match="ran out of memory.*again on the CPU"):
        result = pipeline.run(str(cal_set["asn"]))
    assert devices == [str(pipeline.device), "cpu"]
    assert str(pipeline.device).startswith("cuda")  # the pipeline's own device is unchanged
    assert (tmp_path / "fallback" / f"{PRODUCT}_i2d.fits").exists() and result.mosaic is not None
    assert not any(p.name.startswith(".") for p in (tmp_path / "fallback").iterdir())

    pipeline.require_gpu = True
    with pytest.raises(DeviceMemoryError, match="--require-gpu") as info:
        pipeline.run(str(cal_set["asn"]))
    assert info.value.exit_code == 3
