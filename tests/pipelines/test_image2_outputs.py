"""image2's outputs (issue 9): inputs never overwritten, steps never applied twice, product sets atomic,
stale temporaries removed, and writes overlapping computation on a bounded background writer."""

import logging
import os
import pathlib
import shutil
import threading
import time

import numpy as np
import pytest

from gpucal.errors import OutputError
from gpucal.io.asn import Association, Member, Product, make_image2_asn, write_asn
from gpucal.io.atomic import ScratchFolder
from gpucal.io.exposure import read_exposure
from gpucal.pipelines import writer as writer_module
from gpucal.pipelines.image2 import Image2Pipeline
from tests.factories import write_small_rate

ROOT = "jw01345001001_02101_00001_nrca1"


def _call(input, steps, out, **kwargs):
    return Image2Pipeline.call(str(input), steps=steps, device="cpu", save_results=True, output_dir=str(out), **kwargs)


def _snapshot(folder):
    """{name: bytes} of every entry of a folder (hidden ones included: temporaries must not be left)."""
    return {p.name: (p.read_bytes() if p.is_file() else None) for p in pathlib.Path(folder).iterdir()}


def _hidden(folder):
    return sorted(p.name for p in pathlib.Path(folder).iterdir() if p.name.startswith("."))


@pytest.fixture
def with_resample(steps):
    """Every reference overridden, resample on (the _i2d is part of each product set)."""
    return {**steps, "resample": {"pixfrac": 1.0}}


@pytest.fixture
def cal(rate, steps, tmp_path):
    """A _cal made by image2 from the small _rate, in its own folder."""
    (result,) = _call(rate, steps, tmp_path / "cal")
    return result.written[0]


# -- item 3: never write over an input; never apply a step twice ------------------------------------------
def test_a_cal_input_is_never_overwritten(cal, steps):
    """The _cal of x_cal.fits is x_cal.fits again: refused before any computation, input untouched."""
    before = _snapshot(cal.parent)
    with pytest.raises(OutputError, match=rf"{ROOT}_cal.fits: this output would overwrite a science exposure"):
        _call(cal, steps, cal.parent)
    assert _snapshot(cal.parent) == before


def test_an_output_over_a_background_member_is_refused(tmp_path, steps):
    rate = write_small_rate(tmp_path)
    background = write_small_rate(tmp_path, name="other_cal.fits", seed=3)
    asn = write_asn(make_image2_asn(rate.name, backgrounds=[background.name]), tmp_path / "asn.json")
    before = _snapshot(tmp_path)
    with pytest.raises(OutputError, match=r"other_cal\.fits: this output would overwrite a background exposure"):
        _call(asn, steps, tmp_path, output_file="other")
    assert _snapshot(tmp_path) == before


def test_steps_complete_in_the_input_are_not_applied_twice(cal, steps, tmp_path, caplog):
    """A _cal as input: flat_field and photom skipped with a warning (not x2.2 as before), unless forced."""
    original = read_exposure(cal)
    with caplog.at_level(logging.WARNING, logger="gpucal"):
        (again,) = _call(cal, steps, tmp_path / "again")
    assert "flat_field: skipped: S_FLAT is already COMPLETE" in caplog.text
    assert "photom: skipped: S_PHOTOM is already COMPLETE" in caplog.text
    for name in ("data", "err", "dq", "var_poisson", "var_rnoise", "var_flat"):
        np.testing.assert_array_equal(again.arrays[name], original.arrays[name], err_msg=name)
    assert (again.meta.cal_step.flat_field, again.meta.cal_step.photom) == ("COMPLETE", "COMPLETE")
    assert ("flat_field", 0.0, "already COMPLETE") in again.timings
    (twice,) = _call(cal, steps, tmp_path / "twice", reapply_complete_steps=True)
    good = np.isfinite(twice.data) & np.isfinite(original.data) & (original.data != 0)
    ratio = twice.data[good] / original.data[good]
    assert np.median(ratio) == pytest.approx(0.25, rel=0.1)  # photom (0.25) applied a second time, as asked


def test_background_subtracted_input_is_not_subtracted_again(tmp_path, steps):
    rate = write_small_rate(tmp_path, **{"cal_step.bkg_subtract": "COMPLETE"})
    background = write_small_rate(tmp_path, name="jw01345002001_02101_00005_nrca1_rate.fits", seed=5)
    asn = write_asn(make_image2_asn(rate.name, backgrounds=[background.name]), tmp_path / "asn.json")
    (skipped,) = _call(asn, steps, tmp_path / "a")
    (plain,) = _call(rate, steps, tmp_path / "b")
    np.testing.assert_array_equal(skipped.data, plain.data)
    assert skipped.meta.cal_step.bkg_subtract == "COMPLETE"


def test_cli_refuses_to_overwrite_and_can_reapply(cal, steps, tmp_path, capsys):
    from gpucal.cli import main

    args = [f"--steps.{s}.{k}={v}" for s, params in steps.items() for k, v in params.items()]
    logger = logging.getLogger("gpucal")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    try:
        code = main(["image2", str(cal), "--device", "cpu", "--output-dir", str(cal.parent), *args])
        assert code == 6
        assert f"{cal.name}: this output would overwrite" in capsys.readouterr().err
        out = tmp_path / "cli"
        assert (
            main(["image2", str(cal), "--device", "cpu", "--output-dir", str(out), "--reapply-complete-steps", *args])
            == 0
        )
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved
    assert read_exposure(out / cal.name).meta.cal_step.photom == "COMPLETE"
    assert "write_wait" not in capsys.readouterr().out.split("steps")[0]  # I/O is reported apart from the steps


# -- item 5: an exposure's products are committed together -------------------------------------------------
@pytest.mark.parametrize("fault", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_earlier_products_byte_identical(rate, with_resample, tmp_path, monkeypatch, fault):
    """The _i2d used to be written inside resample, before the _cal: a _cal failure left a new _i2d."""
    out = tmp_path / "out"
    _call(rate, with_resample, out)
    before = _snapshot(out)
    assert sorted(before) == [f"{ROOT}_cal.fits", f"{ROOT}_i2d.fits"]
    real = writer_module.write_hdus

    def full_disk_on_the_cal(path, hdus):
        if pathlib.Path(path).name.endswith("_cal.fits"):
            raise fault
        return real(path, hdus)

    monkeypatch.setattr(writer_module, "write_hdus", full_disk_on_the_cal)
    steps = {**with_resample, "resample": {"pixfrac": 0.5}}
    if isinstance(fault, OSError):
        with pytest.raises(OutputError, match=rf"{out / ROOT}_cal.fits: write failed \(No space left on device\)"):
            _call(rate, steps, out)
    else:
        with pytest.raises(KeyboardInterrupt):
            _call(rate, steps, out)
    assert _snapshot(out) == before


def test_a_failed_rename_of_the_cal_restores_the_i2d(rate, with_resample, tmp_path, monkeypatch):
    from gpucal.io import atomic

    out = tmp_path / "out"
    _call(rate, with_resample, out)
    before = _snapshot(out)
    real = os.replace

    def refuse_cal(src, dst, *args, **kwargs):
        if pathlib.Path(dst) == out / f"{ROOT}_cal.fits" and ".gpucal-image2-" in str(src):
            raise OSError(13, "Permission denied")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "replace", refuse_cal)
    with pytest.raises(OutputError, match=rf"{ROOT}_cal.fits: cannot be renamed into place \(Permission denied\)"):
        _call(rate, {**with_resample, "resample": {"pixfrac": 0.5}}, out)
    assert _snapshot(out) == before


# -- item 6: stale temporaries of the run's own products are removed ---------------------------------------
def test_a_rerun_removes_stale_temporaries_of_its_products(rate, steps, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    stale_part = out / f".{ROOT}_cal.fits.k1ll3d_0.part"
    stale_part.write_bytes(b"half a product")
    stale = ScratchFolder(out, f"image2-{ROOT}")
    (stale.path / f"{ROOT}_cal.fits").write_bytes(b"staged by a killed run")
    os.close(stale._fd)  # its process is gone
    other_part = out / ".jw99999001001_02101_00001_nrca1_cal.fits.k1ll3d_0.part"
    other_part.write_bytes(b"another product's")
    _call(rate, steps, out)
    assert not stale_part.exists() and not stale.path.exists()
    assert other_part.exists()
    assert sorted(p.name for p in out.iterdir()) == sorted([other_part.name, f"{ROOT}_cal.fits"])


# -- writes overlap computation ----------------------------------------------------------------------------
def _dither_asn(tmp_path, n=3):
    products = []
    for k in range(1, n + 1):
        rate = write_small_rate(tmp_path, name=f"jw01345001001_02101_0000{k}_nrca1_rate.fits", seed=30 + k)
        products.append(Product(rate.name.replace("_rate.fits", ""), [Member(rate.name, "science")]))
    return write_asn(Association("image2", "o001", products), tmp_path / "dither_asn.json")


def test_product_sets_are_written_on_the_background_thread(tmp_path, with_resample, monkeypatch, caplog):
    asn = _dither_asn(tmp_path)
    threads = []
    real = writer_module.write_hdus

    def recording(path, hdus):
        threads.append((threading.current_thread().name, pathlib.Path(path).name))
        return real(path, hdus)

    monkeypatch.setattr(writer_module, "write_hdus", recording)
    with caplog.at_level(logging.INFO, logger="gpucal"):
        results = _call(asn, with_resample, tmp_path / "out", keep_arrays=False)
    assert len(threads) == 6 and all(name.startswith("gpucal-write") for name, _ in threads)
    for result in results:
        assert [p.name for p in result.written] == [f"{result.meta.filename[:-9]}_i2d.fits", result.meta.filename]
        assert not result.arrays  # released once written
        kinds = [(alias, status) for alias, _, status in result.timings if alias in ("write", "write_wait")]
        assert kinds == [("write", "background"), ("write_wait", "")]
    assert "overlapped computation" in caplog.text and "background thread" in caplog.text
    single = _call(tmp_path / "jw01345001001_02101_00001_nrca1_rate.fits", with_resample, tmp_path / "one")
    assert [status for alias, _, status in single[0].timings if alias == "write"] == ["foreground"]


def test_at_most_one_set_is_pending(tmp_path, monkeypatch):
    """submit() of the next set blocks until the previous one is committed: memory stays bounded."""
    release = threading.Event()
    written = []

    def slow(path, hdus):
        release.wait(10)
        pathlib.Path(path).write_bytes(b"x")
        written.append(pathlib.Path(path).name)

    monkeypatch.setattr(writer_module, "encode_exposure", lambda exposure, path: [])
    monkeypatch.setattr(writer_module, "write_hdus", slow)
    out = tmp_path / "out"
    timings = [[], [], []]
    with writer_module.ProductWriter(background=True) as writer:
        writer.submit([(None, out / "a_cal.fits")], tag="image2-a", timings=timings[0])
        second = threading.Thread(
            target=writer.submit,
            args=([(None, out / "b_cal.fits")],),
            kwargs={"tag": "image2-b", "timings": timings[1]},
        )
        second.start()
        time.sleep(0.3)
        assert second.is_alive() and written == []  # waiting for the first set, not queueing a second
        release.set()
        second.join(10)
        assert not second.is_alive()
    assert written == ["a_cal.fits", "b_cal.fits"]
    assert timings[0][-1][0] == "write_wait" and timings[0][-1][1] > 0.2  # the blocked time is recorded
    assert _hidden(out) == []


def test_a_background_write_error_reaches_the_caller_naming_the_file(tmp_path, steps, monkeypatch):
    asn = _dither_asn(tmp_path)
    real = writer_module.write_hdus

    def fail_first(path, hdus):
        if pathlib.Path(path).name.startswith("jw01345001001_02101_00001"):
            raise OSError(122, "Disk quota exceeded")
        return real(path, hdus)

    monkeypatch.setattr(writer_module, "write_hdus", fail_first)
    out = tmp_path / "out"
    with pytest.raises(OutputError, match=r"jw01345001001_02101_00001_nrca1_cal.fits: write failed \(Disk quota"):
        _call(asn, steps, out)
    assert [p.name for p in out.iterdir()] == []  # nothing partial, no temporaries


def test_outputs_match_a_synchronous_run(tmp_path, with_resample):
    """The background writer writes the same arrays as one product at a time."""
    asn = _dither_asn(tmp_path, n=2)
    together = _call(asn, with_resample, tmp_path / "together", keep_arrays=False)
    for result in together:
        rate = tmp_path / result.meta.filename.replace("_cal.fits", "_rate.fits")
        _call(rate, with_resample, tmp_path / "alone")
        for path in result.written:
            a, b = (read_exposure(p, required=("data",)) for p in (path, tmp_path / "alone" / path.name))
            for name in a.arrays:
                np.testing.assert_array_equal(a.arrays[name], b.arrays[name], err_msg=f"{path.name} {name}")
    shutil.rmtree(tmp_path / "alone")


def test_read_ahead_gives_what_read_exposure_gives(rate, cal):
    """Pixels read ahead without the ASDF tree, the meta read on the pipeline thread: the same exposure."""
    for path in (rate, cal):
        pipeline = Image2Pipeline(device="cpu")
        split = pipeline._exposure(path, pipeline._read_pixels(path))
        whole = read_exposure(path)
        assert sorted(split.arrays) == sorted(whole.arrays)
        for name, array in whole.arrays.items():
            np.testing.assert_array_equal(split.arrays[name], array, err_msg=name)
        assert {k: v for k, v in split.meta_tree.items() if k != "wcs"} == {
            k: v for k, v in whole.meta_tree.items() if k != "wcs"
        }
        assert (split.model_type, split.extra_fits, split.history) == (
            whole.model_type,
            whole.extra_fits,
            whole.history,
        )
        assert [h.tostring() for h, _ in split.tables] == [h.tostring() for h, _ in whole.tables]
        assert (split.wcs is None) == (whole.wcs is None)
        if whole.wcs is not None:
            assert split.wcs(3.0, 4.0) == whole.wcs(3.0, 4.0)


def test_warning_filters_are_touched_only_on_the_pipeline_thread(tmp_path, with_resample, monkeypatch):
    """``warnings.catch_warnings`` swaps the process-wide filters: from the read-ahead or writer thread it would
    hide the pipeline thread's warnings, or leave its temporary filters in place for good."""
    import warnings

    threads = set()
    real = warnings.catch_warnings

    class Recording(real):
        def __enter__(self):
            threads.add(threading.current_thread().name)
            return super().__enter__()

    asn = _dither_asn(tmp_path)
    monkeypatch.setattr(warnings, "catch_warnings", Recording)
    _call(asn, with_resample, tmp_path / "out", keep_arrays=False)
    assert threads == {threading.main_thread().name}


def test_a_step_result_is_saved_as_it_was_then(rate, steps, refs, tmp_path):
    """flat_field's save_results without the pipeline's: written, and as it left flat_field (before photom),
    although the exposure is calibrated further in place before its product set is written."""
    from astropy.io import fits

    out = tmp_path / "out"
    steps = {**steps, "flat_field": {**steps["flat_field"], "save_results": True}}
    (result,) = Image2Pipeline.call(str(rate), steps=steps, device="cpu", output_dir=str(out))
    assert [p.name for p in result.written] == [f"{ROOT}_flat_field.fits"]
    saved = read_exposure(out / f"{ROOT}_flat_field.fits")
    assert saved.meta.cal_step.flat_field == "COMPLETE" and saved.meta.cal_step.photom is None
    raw = read_exposure(rate)
    flat = fits.getdata(refs["flat"], "SCI")[1000:1040, 1000:1048]
    good = np.isfinite(saved.data) & np.isfinite(raw.data) & (flat > 0)
    np.testing.assert_allclose(saved.data[good], (raw.data / flat)[good], rtol=1e-6)
    np.testing.assert_allclose(result.data[good], saved.data[good] * np.float32(0.25), rtol=1e-6)
