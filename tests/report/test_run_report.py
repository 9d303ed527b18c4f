"""gpucal.report.run_report: WCS shifts, tweakreg corrections read from products, the JSON writer."""

import json
import math

import numpy as np
import pytest

from gpucal.engine import select_device
from gpucal.errors import OutputError
from gpucal.report.run_report import (
    AlignedExposure,
    device_record,
    software_versions,
    tweakreg_corrections,
    wcs_shift,
    write_report,
)
from tests.report._sky import SHAPE, tan_wcs


def test_wcs_shift_at_the_centre_and_largest():
    east, north, largest = wcs_shift(tan_wcs(), tan_wcs(east_mas=12.0, north_mas=-5.0), SHAPE)
    assert (east, north) == (pytest.approx(12.0, abs=1e-3), pytest.approx(-5.0, abs=1e-3))
    assert largest == pytest.approx(13.0, abs=1e-2)


def test_tweakreg_corrections_rows():
    items = [AlignedExposure("a", SHAPE, tan_wcs(), tan_wcs(), "COMPLETE", False),
             AlignedExposure("b", SHAPE, tan_wcs(), tan_wcs(east_mas=3.0), "COMPLETE", True)]  # fmt: skip
    rows = tweakreg_corrections(items)
    assert [r["exposure"] for r in rows] == ["a", "b"]
    assert rows[0]["shift_east_mas"] == 0.0 and rows[0]["aligned"] is False
    assert rows[1]["shift_east_mas"] == pytest.approx(3.0, abs=1e-3) and rows[1]["aligned"] is True


def test_write_report_is_strict_json_with_paths_and_no_nan(tmp_path):
    path = write_report({"file": tmp_path / "x.fits", "bad": math.nan, "n": np.int64(3), "v": [np.float32(1.5)],
                         "nested": {"inf": math.inf}}, tmp_path / "report.json")  # fmt: skip
    data = json.loads(path.read_text())
    assert data == {"file": str(tmp_path / "x.fits"), "bad": None, "n": 3, "v": [1.5], "nested": {"inf": None}}
    assert not list(tmp_path.glob(".*part"))


def test_write_report_into_an_unwritable_place_is_an_output_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError):
        write_report({}, blocker / "report.json")


def test_versions_and_device():
    versions = software_versions()
    assert {"gpucal", "python", "numpy", "astropy", "photutils", "tweakwcs"} <= set(versions)
    record = device_record(select_device("cpu"))
    assert record["name"] == "cpu" and record["kind"] == "cpu" and "gpu" not in record
