"""Output naming rules."""

import pytest

from gpucal.io.naming import exposure_root, product_path, stage3_exposure_path


@pytest.mark.parametrize(
    ("name", "root"),
    [
        ("jw01345001001_02101_00001_nrca1_rate.fits", "jw01345001001_02101_00001_nrca1"),
        ("/x/y/jw01345001001_02101_00001_nrca1_rateints.fits", "jw01345001001_02101_00001_nrca1"),
        ("jw01345001001_02101_00001_nrca1_cal.fits", "jw01345001001_02101_00001_nrca1"),
        ("jw01345001001_02101_00001_mirimage_o001_crf.fits", "jw01345001001_02101_00001_mirimage"),
        ("plain.fits", "plain"),
    ],
)
def test_exposure_root(name, root):
    assert exposure_root(name) == root


def test_paths(tmp_path):
    assert product_path(tmp_path, "jw1_nrca1", "cal").name == "jw1_nrca1_cal.fits"
    assert stage3_exposure_path(tmp_path, "jw1_nrca1_cal.fits", "o001").name == "jw1_nrca1_o001_crf.fits"
