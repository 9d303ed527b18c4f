"""gpucal.report.quicklook: reading any _i2d's SCI, the stretch, the PNG, and a clear error without matplotlib."""

import sys

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from gpucal.errors import InputFileError
from gpucal.report.quicklook import (
    INSTALL_HINT,
    PlotUnavailableError,
    asinh_stretch,
    default_catalog,
    quicklook,
    read_positions,
    read_science,
    stretch_limits,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SOURCES = [(20.0, 30.0), (70.5, 40.25), (45.0, 60.0)]


def write_i2d(path, shape=(80, 96), sci=True, data=None):
    """A minimal _i2d as any writer makes it: PRIMARY with FILTER, SCI with BUNIT; no gpucal keywords."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = np.random.default_rng(0).normal(0.2, 0.01, shape).astype(np.float32)
    for x, y in SOURCES:
        image += (5.0 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 4.0)).astype(np.float32)
    image[:10, :15] = np.nan  # no coverage
    primary = fits.PrimaryHDU()
    primary.header["FILTER"] = "F200W"
    primary.header["PUPIL"] = "CLEAR"
    hdus = [primary]
    if sci:
        hdus.append(fits.ImageHDU(image if data is None else data, name="SCI"))
        hdus[-1].header["BUNIT"] = "MJy/sr"
    else:
        hdus.append(fits.ImageHDU(image, name="ERR"))
    fits.HDUList(hdus).writeto(path)
    return path


def write_catalog(path, rows=SOURCES, names=("xcentroid", "ycentroid")):
    Table({names[0]: [r[0] for r in rows] + [np.nan], names[1]: [r[1] for r in rows] + [1.0]}).write(
        path, format="ascii.ecsv"
    )
    return path


@pytest.fixture
def no_matplotlib(monkeypatch):
    """Make ``import matplotlib`` fail, as where it is not installed."""
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def test_read_science_of_a_plain_i2d(tmp_path):
    science = read_science(write_i2d(tmp_path / "x_i2d.fits"))
    assert science.data.shape == (80, 96) and science.unit == "MJy/sr" and science.filter == "F200W"
    assert science.name == "x_i2d.fits"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, r"missing_i2d\.fits: no such file"),
        (lambda p: write_i2d(p, sci=False), r"_i2d\.fits: no SCI extension"),
        (lambda p: write_i2d(p, data=np.zeros((2, 8, 8), np.float32)), r"_i2d\.fits: SCI is not a 2-D image"),
        (lambda p: write_i2d(p, data=np.full((8, 8), np.nan, np.float32)), r"_i2d\.fits: SCI has no finite pixel"),
        (lambda p: (p.write_text("not fits"), p)[1], r"_i2d\.fits: not a readable FITS file"),
    ],
)
def test_bad_mosaics_are_input_errors_naming_the_file(tmp_path, make, message):
    path = make(tmp_path / "missing_i2d.fits")
    with pytest.raises(InputFileError, match=message) as info:
        read_science(path)
    assert info.value.exit_code == 4


def test_catalog_positions_and_errors(tmp_path):
    x, y = read_positions(write_catalog(tmp_path / "c_cat.ecsv"))
    np.testing.assert_array_equal(x, [r[0] for r in SOURCES])  # the NaN row is dropped
    np.testing.assert_array_equal(y, [r[1] for r in SOURCES])
    with pytest.raises(InputFileError, match=r"bad\.ecsv: no xcentroid/ycentroid columns"):
        read_positions(write_catalog(tmp_path / "bad.ecsv", names=("ra", "dec")))
    with pytest.raises(InputFileError, match=r"none\.ecsv: no such catalog file"):
        read_positions(tmp_path / "none.ecsv")


def test_default_catalog_is_the_one_beside_the_mosaic(tmp_path):
    i2d = write_i2d(tmp_path / "prod_i2d.fits")
    assert default_catalog(i2d) is None
    catalog = write_catalog(tmp_path / "prod_cat.ecsv")
    assert default_catalog(i2d) == catalog


def test_stretch_limits_and_asinh():
    rng = np.random.default_rng(1)
    data = rng.normal(1.0, 0.1, (100, 100))
    data[50, 50] = 100.0
    data[0, 0] = np.nan
    low, high = stretch_limits(data)
    assert low == pytest.approx(0.8, abs=0.02) and 1.2 < high < 100.0
    stretched = asinh_stretch(data, low, high)
    assert np.isnan(stretched[0, 0]) and stretched[50, 50] == 1.0
    finite = stretched[np.isfinite(stretched)]
    assert finite.min() >= 0.0 and finite.max() <= 1.0
    # asinh lifts the faint end: the sky sits well above its linear place
    sky = asinh_stretch(np.array([1.0]), low, high)[0]
    assert sky > 1.5 * (1.0 - low) / (high - low)
    assert stretch_limits(np.ones((4, 4))) == (1.0, 2.0)


def test_quicklook_png_with_the_catalog_beside_the_mosaic(tmp_path):
    i2d = write_i2d(tmp_path / "prod_i2d.fits")
    write_catalog(tmp_path / "prod_cat.ecsv")
    made = quicklook(i2d)
    assert made.path == tmp_path / "prod_i2d.png" and made.n_sources == 3
    assert made.catalog == tmp_path / "prod_cat.ecsv"
    assert made.path.read_bytes()[:8] == PNG_MAGIC
    plain = quicklook(i2d, tmp_path / "plain.png", find_catalog=False)
    assert plain.n_sources == 0 and plain.catalog is None
    assert plain.path.read_bytes() != made.path.read_bytes(), "the sources are drawn"
    assert not list(tmp_path.glob(".*part"))


def test_without_matplotlib_the_error_says_how_to_install_it(tmp_path, no_matplotlib):
    i2d = write_i2d(tmp_path / "prod_i2d.fits")
    with pytest.raises(PlotUnavailableError, match=r"matplotlib is not installed.*pip install gpucal\[plot\]"):
        quicklook(i2d, tmp_path / "out.png")
    assert INSTALL_HINT == "pip install gpucal[plot]"
    assert not (tmp_path / "out.png").exists()


def test_an_empty_catalog_marks_nothing(tmp_path):
    """A mosaic with no sources has an empty _cat.ecsv (every column, no row): the PNG is still made."""
    i2d = write_i2d(tmp_path / "prod_i2d.fits")
    Table({"xcentroid": np.zeros(0), "ycentroid": np.zeros(0)}).write(tmp_path / "prod_cat.ecsv")
    made = quicklook(i2d)
    assert made.n_sources == 0 and made.catalog == tmp_path / "prod_cat.ecsv"
    assert made.path.read_bytes()[:8] == PNG_MAGIC
