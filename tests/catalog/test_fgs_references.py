"""FGS references as jwst reads them: APCORR without selector columns, ABVEGAOFFSET by detector."""

import numpy as np
import pytest

from gpucal.catalog import abvega_offset, aperture_params
from gpucal.errors import ReferenceFileError
from gpucal.io.refs import read_apcorr
from gpucal.sim.reffiles import make_reference_files


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    return make_reference_files(tmp_path_factory.mktemp("fgs"), instrument="fgs", detector="guider1")


def test_fgs_apcorr_without_filter_column_gives_its_rows(refs):
    cols = read_apcorr(refs["apcorr"]).columns
    assert "filter" not in cols  # jwst's FgsImgApcorrModel has no selector columns
    params = aperture_params(refs["apcorr"], instrument="FGS", filter_name=None, pupil=None, subarray="GENERIC",
                             aperture_ee=(30, 50, 70), pixel_scale_ratio=1.0)  # fmt: skip
    row = np.flatnonzero(np.round(cols["eefraction"] * 100) == 50)
    assert len(row) == 1
    assert params["aperture_radii"][1] == pytest.approx(cols["radius"][row[0]], rel=1e-6)
    assert params["aperture_corrections"][1] == pytest.approx(cols["apcorr"][row[0]], rel=1e-6)
    assert np.all(np.diff(params["aperture_radii"]) > 0)


def test_fgs_abvega_offset_by_detector(refs):
    assert abvega_offset(refs["abvegaoffset"], instrument="FGS", filter_name=None, pupil=None, detector="GUIDER1") > 0
    with pytest.raises(ReferenceFileError, match=str(refs["abvegaoffset"])):
        abvega_offset(refs["abvegaoffset"], instrument="FGS", filter_name=None, pupil=None, detector="GUIDER9")


def test_fgs_apcorr_missing_an_ee_names_the_file(refs):
    with pytest.raises(ReferenceFileError, match=str(refs["apcorr"])):
        aperture_params(refs["apcorr"], instrument="FGS", filter_name=None, pupil=None, subarray="GENERIC",
                        aperture_ee=(30, 50, 75), pixel_scale_ratio=1.0)  # fmt: skip
