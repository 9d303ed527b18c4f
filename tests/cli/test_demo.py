"""``gpucal demo`` end to end on a small dither set: products, quick-look PNG, JSON report, truth comparison."""

import contextlib
import io
import json
import sys

import numpy as np
import pytest
from astropy.table import QTable, Table

from gpucal.cli import main
from gpucal.cli.demo import QUICKLOOK_NAME, REPORT_NAME

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _demo(outdir, *options):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["demo", str(outdir), "--device", "cpu", "--backgrounds", "0", *options])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("demo") / "work"
    code, out, err = _demo(outdir, "--size", "256", "--exposures", "3", "--seed", "1")
    assert code == 0, err
    return outdir, out, json.loads((outdir / REPORT_NAME).read_text())


def test_report_records_steps_device_versions_and_products(demo):
    outdir, _, report = demo
    assert report["device"]["name"] == "cpu"
    assert {"gpucal", "numpy", "photutils", "tweakwcs"} <= set(report["versions"])
    assert report["parameters"]["size"] == 256 and report["parameters"]["exposures"] == 3
    assert len(report["image2"]["exposures"]) == 3
    assert [s["step"] for s in report["image3"]["steps"]] == ["tweakreg", "skymatch", "outlier_detection", "resample",
                                                              "source_catalog"]  # fmt: skip
    assert all(s["seconds"] >= 0 for s in report["image3"]["steps"])
    products = report["products"]
    assert QUICKLOOK_NAME in products and REPORT_NAME in products
    assert sum(p.endswith("_crf.fits") for p in products) == 3
    assert all((outdir / p).is_file() for p in products), "every product listed exists"
    catalog = next(p for p in products if p.endswith("_cat.ecsv"))
    assert report["image3"]["n_sources"] == len(Table.read(outdir / catalog)) > 0
    assert report["quicklook"]["n_sources"] == report["image3"]["n_sources"]
    assert (outdir / QUICKLOOK_NAME).read_bytes()[:8] == PNG_MAGIC


def test_tweakreg_shifts_and_pointing_against_the_injected_errors(demo):
    outdir, out, report = demo
    truth = Table.read(outdir / "sim" / "truth_pointings.ecsv")
    rows = report["tweakreg"]
    assert [r["exposure"] + "_rate.fits" for r in rows] == list(truth["file"])
    assert all(r["status"] in ("COMPLETE", "FAILED") for r in rows)
    pointing = report["truth"]["pointing"]
    for row, record, expected in zip(rows, pointing["exposures"], truth, strict=True):
        assert record["injected_mas"] == pytest.approx([expected["error_east"], expected["error_north"]], abs=1e-3)
        # measured from the header WCS at the true source positions: the injected error (up to the roll's effect)
        assert record["before_mas"] == pytest.approx(record["injected_mas"], abs=1.0)
        applied = np.subtract(record["before_mas"], record["after_mas"])
        if not row["aligned"]:
            assert row["shift_east_mas"] == row["shift_north_mas"] == 0.0 and not applied.any()
    recovered = np.array([r["recovered_relative_mas"] for r in pointing["exposures"]])
    injected = np.array([r["injected_relative_mas"] for r in pointing["exposures"]])
    assert pointing["max_error_mas"] == pytest.approx(np.hypot(*(recovered - injected).T).max(), abs=1e-3)
    assert "tweakreg vs the simulator's truth" in out and "pointing:" in out


def test_catalog_completeness_and_flux_against_the_truth(demo):
    outdir, out, report = demo
    result = report["truth"]["catalog"]
    assert result["mag_limit_ab"] == 24.5 and result["radius_arcsec"] == 0.1
    assert result["n_truth"] > 5 and result["completeness"] >= 0.8  # bright sources on a clean simulated sky
    assert result["n_catalog"] == report["image3"]["n_sources"]
    flux = result["flux_ratio"]["star"]
    assert flux["n"] > 3 and 0.5 < flux["median"] < 1.2
    assert "completeness" in out and "aper_total_flux / true flux" in out
    catalog = QTable.read(next(outdir.glob("image3/*_cat.ecsv")))
    assert len(catalog) == result["n_catalog"]


def test_without_matplotlib_the_demo_says_so_and_still_writes_the_report(tmp_path, monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, err = _demo(tmp_path / "work", "--size", "128", "--exposures", "2", "--seed", "3")
    assert code == 0, err
    assert "quick-look PNG not written" in out and "pip install gpucal[plot]" in out
    report = json.loads((tmp_path / "work" / REPORT_NAME).read_text())
    assert report["quicklook"]["path"] is None and "pip install gpucal[plot]" in report["quicklook"]["error"]
    assert QUICKLOOK_NAME not in report["products"] and not (tmp_path / "work" / QUICKLOOK_NAME).exists()
    assert report["image3"]["steps"] and "truth" in report
