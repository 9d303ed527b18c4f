"""``gpucal plot``: a PNG for any _i2d; bad input is one line and exit code 4."""

import numpy as np
import pytest

from gpucal.cli import main
from tests.report.test_quicklook import PNG_MAGIC, write_catalog, write_i2d


def test_plot_writes_the_png_beside_the_mosaic_with_its_catalog(tmp_path, capsys):
    i2d = write_i2d(tmp_path / "prod_i2d.fits")
    write_catalog(tmp_path / "prod_cat.ecsv")
    assert main(["plot", str(i2d)]) == 0
    assert (tmp_path / "prod_i2d.png").read_bytes()[:8] == PNG_MAGIC
    assert "3 sources from" in capsys.readouterr().out


def test_plot_output_and_catalog_options(tmp_path, capsys):
    i2d = write_i2d(tmp_path / "prod_i2d.fits")
    other = write_catalog(tmp_path / "other.ecsv", rows=[(10.0, 10.0)])
    assert main(["plot", str(i2d), "-o", str(tmp_path / "q.png"), "--catalog", str(other)]) == 0
    assert (tmp_path / "q.png").read_bytes()[:8] == PNG_MAGIC
    assert "1 sources from" in capsys.readouterr().out
    write_catalog(tmp_path / "prod_cat.ecsv")
    assert main(["plot", str(i2d), "-o", str(tmp_path / "n.png"), "--no-catalog"]) == 0
    assert "no catalog" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "no such file"),
        (lambda p: write_i2d(p, sci=False), "no SCI extension"),
        (lambda p: write_i2d(p, data=np.zeros((2, 8, 8), np.float32)), "SCI is not a 2-D image"),
    ],
)
def test_bad_input_is_one_line_and_exit_4(tmp_path, capsys, make, message):
    path = make(tmp_path / "bad_i2d.fits")
    assert main(["plot", str(path)]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and message in err[0]
    assert not (tmp_path / "bad_i2d.png").exists()


def test_a_catalog_without_centroids_is_exit_4(tmp_path, capsys):
    i2d = write_i2d(tmp_path / "prod_i2d.fits")
    bad = write_catalog(tmp_path / "sky.ecsv", names=("ra", "dec"))
    assert main(["plot", str(i2d), "--catalog", str(bad)]) == 4
    assert "sky.ecsv: no xcentroid/ycentroid columns" in capsys.readouterr().err


def test_an_unwritable_output_is_exit_6(tmp_path, capsys):
    i2d = write_i2d(tmp_path / "prod_i2d.fits")
    (tmp_path / "blocker").write_text("")
    assert main(["plot", str(i2d), "-o", str(tmp_path / "blocker" / "q.png")]) == 6
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_plot_of_an_official_jwst_i2d(real_data, tmp_path, capsys):
    """A flight _i2d written by jwst (MIRI): only its SCI is needed."""
    i2d = real_data / "jw01288015001_04101_00001_mirimage_i2d.fits"
    if not i2d.is_file():
        pytest.skip(f"{i2d.name} is not in shared/data/real")
    out = tmp_path / "miri.png"
    assert main(["plot", str(i2d), "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert "no catalog" in capsys.readouterr().out
