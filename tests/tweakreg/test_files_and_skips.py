"""tweakreg inputs that need no alignment run: catfiles, reference catalog files, the one-group skip."""

import logging
import pathlib

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table

from gpucal.engine import select_device
from gpucal.errors import InputFileError, ParameterError
from gpucal.io.library import ExposureLibrary
from gpucal.pipelines.context import RunContext
from gpucal.pipelines.image3.tweakreg import TweakRegStep
from gpucal.sim import simulate
from gpucal.tweakreg.align import read_reference_catalog
from gpucal.tweakreg.files import parse_catfile


def test_catfile_entries_are_relative_to_its_folder(tmp_path):
    (tmp_path / "cats").mkdir()
    catfile = tmp_path / "cats" / "list.txt"
    catfile.write_text("# exposure catalog\na_cal.fits a.ecsv\n\nb_cal.fits\n")
    assert parse_catfile(catfile) == {"a_cal.fits": str(tmp_path / "cats" / "a.ecsv"), "b_cal.fits": None}
    catfile.write_text("a_cal.fits a.ecsv extra\n")
    with pytest.raises(InputFileError, match=r"list\.txt:1: .*at most two columns"):
        parse_catfile(catfile)
    with pytest.raises(InputFileError, match=r"missing\.txt: tweakreg\.catfile: no such file"):
        parse_catfile(tmp_path / "missing.txt")


def test_reference_catalog_columns(tmp_path):
    lower = tmp_path / "lower.ecsv"
    Table({"ra": [1.0, 2.0], "Dec": [3.0, 4.0]}).write(lower)
    table = read_reference_catalog(lower)
    assert {"RA", "DEC"} <= set(table.colnames) and table.meta["name"] == "lower.ecsv"
    centroid = tmp_path / "centroid.ecsv"
    Table({"sky_centroid": SkyCoord([10.0, 11.0], [-5.0, -6.0], unit="deg")}).write(centroid)
    table = read_reference_catalog(centroid)
    np.testing.assert_allclose(table["RA"], [10.0, 11.0])
    np.testing.assert_allclose(table["DEC"], [-5.0, -6.0])


def test_reference_catalog_errors(tmp_path):
    with pytest.raises(InputFileError, match=r"nope\.ecsv: tweakreg\.abs_refcat: no such file"):
        read_reference_catalog(tmp_path / "nope.ecsv")
    bad = tmp_path / "bad.ecsv"
    Table({"x": [1.0], "y": [2.0]}).write(bad)
    with pytest.raises(InputFileError, match=r"bad\.ecsv: .*neither RA/DEC nor sky_centroid"):
        read_reference_catalog(bad)
    with pytest.raises(ParameterError, match=r"gaiadr3.*web catalog.*offline"):
        read_reference_catalog("gaiadr3")


@pytest.fixture(scope="module")
def one_exposure(tmp_path_factory):
    root = tmp_path_factory.mktemp("one")
    return simulate(root / "sim", exposures=1, backgrounds=0, size=64, seed=2).science[0], root


def test_one_group_fails_as_jwst_without_touching_pixels(one_exposure, caplog):
    rate, root = one_exposure
    library = ExposureLibrary.open([rate], root)
    try:
        ctx = RunContext(select_device("cpu"), root, "product")
        with caplog.at_level(logging.WARNING, logger="gpucal"):
            TweakRegStep().run(library, ctx)
        assert library[0].meta.cal_step.tweakreg == "FAILED"
        assert "at least two exposures" in caplog.text
        assert not list(pathlib.Path(root).glob("*_cat.ecsv"))
    finally:
        library.close()


def test_skip_records_skipped(one_exposure):
    rate, root = one_exposure
    library = ExposureLibrary.open([rate], root)
    try:
        TweakRegStep(skip=True).run(library, RunContext(select_device("cpu"), root, "product"))
        assert library[0].meta.cal_step.tweakreg == "SKIPPED"
    finally:
        library.close()


def test_missing_reference_catalog_file_fails_before_any_work(one_exposure):
    rate, root = one_exposure
    library = ExposureLibrary.open([rate], root)
    try:
        step = TweakRegStep(abs_refcat=str(root / "gaia.ecsv"))
        with pytest.raises(InputFileError, match=r"gaia\.ecsv: tweakreg\.abs_refcat: no such file"):
            step.run(library, RunContext(select_device("cpu"), root, "product"))
    finally:
        library.close()
