"""The image2 benchmark compares like with like (issue 9): writes out of both step columns, no product dropped."""

import importlib
import pathlib
import sys

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("bench_image2")
    finally:
        sys.path.remove(str(BENCH))


#: Two products of a jwst 3.0 image2 log (trimmed from a real run); resample saves its _i2d inside the step.
JWST_LOG = """\
2026-11-28 09:12:25,645 stpipe.step INFO Step bkg_subtract running with args (<ImageModel(128, 128)>, ['a', 'b']).
2026-11-28 09:12:25,993 stpipe.step INFO Step bkg_subtract done
2026-11-28 09:12:27,620 stpipe.step INFO Step resample running with args (<ImageModel(128, 128)>,).
2026-11-28 09:12:27,731 stcal.resample.resample INFO Drizzling (128, 128) --> (128, 128)
2026-11-28 09:12:27,962 jwst.resample.resample INFO Assigning output S_REGION: POLYGON ICRS  53.16 -27.79
2026-11-28 09:12:28,067 stpipe.step INFO Saved model in /tmp/jwst/x_00001_i2d.fits
2026-11-28 09:12:28,068 stpipe.step INFO Step resample done
2026-11-28 09:12:28,272 stpipe.step INFO Step bkg_subtract running with args (<ImageModel(128, 128)>, ['a', 'b']).
2026-11-28 09:12:28,485 stpipe.step INFO Step bkg_subtract done
2026-11-28 09:12:29,721 stpipe.step INFO Step resample running with args (<ImageModel(128, 128)>,).
2026-11-28 09:12:30,117 jwst.resample.resample INFO Assigning output S_REGION: POLYGON ICRS  53.16 -27.79
2026-11-28 09:12:30,264 stpipe.step INFO Saved model in /tmp/jwst/x_00002_i2d.fits
2026-11-28 09:12:30,268 stpipe.step INFO Step resample done
2026-11-28 09:12:30,405 stpipe.step INFO Saved model in /tmp/jwst/x_00001_cal.fits
2026-11-28 09:12:30,533 stpipe.step INFO Step Image2Pipeline done
"""


def test_jwst_resample_column_excludes_the_i2d_write(bench):
    samples, writes = bench.jwst_step_samples(JWST_LOG)
    # The write runs from the step's last message before "Saved model in" to that line.
    writes_expected = [28.067 - 27.962, 30.264 - 30.117]
    assert writes["resample"] == pytest.approx(writes_expected, abs=1e-5)
    running = [28.068 - 27.620, 30.268 - 29.721]  # "running" to "done": what the old column reported
    assert samples["resample"] == pytest.approx(
        [r - w for r, w in zip(running, writes_expected, strict=True)], abs=1e-5
    )
    assert samples["bkg_subtract"] == pytest.approx([0.348, 0.213], abs=1e-6)
    assert writes["bkg_subtract"] == [0.0, 0.0]


def test_gpucal_samples_keep_every_product(bench):
    log = "\n".join(
        f"{step:<18s} COMPLETE  {seconds:8.3f} s"
        for seconds_by_step in ({"bkg_subtract": 0.7, "photom": 0.05}, {"bkg_subtract": 0.01, "photom": 0.04})
        for step, seconds in seconds_by_step.items()
    )
    assert bench.gpucal_step_samples(log) == {"bkg_subtract": [0.7, 0.01], "photom": [0.05, 0.04]}


def test_first_product_is_reported_and_counted(bench):
    from _helpers import per_product_summary

    summary = per_product_summary({"bkg_subtract": [0.7, 0.01, 0.01, 0.02]})
    assert summary["products"] == 4
    assert summary["first"] == {"bkg_subtract": 0.7}
    assert summary["rest"]["bkg_subtract"] == pytest.approx(0.04 / 3)
    assert summary["all"]["bkg_subtract"] == pytest.approx(0.74 / 4)
    single = per_product_summary({"photom": [0.05]})
    assert single["rest"] is None and single["all"] == {"photom": 0.05}


def test_report_uses_the_mean_of_all_products(bench, capsys):
    runs = {
        "jwst 3.0": {"process": 40.0, "samples": {"bkg_subtract": [1.0, 1.0]}, "writes": {"resample": [0.5, 0.5]}},
        "gpucal cpu": {"process": 10.0, "samples": {"bkg_subtract": [0.9, 0.1]}, "writes": {}},
    }
    bench.report(runs, 2)
    out = capsys.readouterr().out
    assert "gpucal cpu (product 1)" in out and "gpucal cpu (mean of 2)" in out
    assert "steps 2.0x (mean over all 2 products, product 1 included)" in out  # 1.0 / 0.5, not 1.0 / 0.1
    assert "whole process 4.0x" in out
    assert "resample also wrote its product inside the step: 0.500 s" in out
