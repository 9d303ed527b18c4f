"""Is a product complete? Read back, not trusted by name (``gpucal farm --resume``)."""

import numpy as np
import pytest
from astropy.io import fits

from gpucal.farm.products import product_problem


def _write(path, names=("SCI", "ERR", "DQ", "VAR_POISSON", "ASDF"), shape=(20, 24), odd=None):
    hdus = [fits.PrimaryHDU()]
    for name in names:
        if name == "ASDF":
            hdus.append(fits.BinTableHDU.from_columns([fits.Column("ASDF_METADATA", "10B", array=np.zeros((1, 10)))],
                                                      name="ASDF"))  # fmt: skip
            continue
        data_shape = (1, *shape) if name == "CON" else (shape[0] - 1, shape[1]) if name == odd else shape
        hdus.append(fits.ImageHDU(np.zeros(data_shape, np.float32), name=name))
    fits.HDUList(hdus).writeto(path)
    return path


def test_complete_products(tmp_path):
    assert product_problem(_write(tmp_path / "x_cal.fits")) is None
    assert product_problem(_write(tmp_path / "x_i2d.fits", names=("SCI", "ERR", "CON", "WHT", "ASDF"))) is None
    table = tmp_path / "x_cat.ecsv"
    table.write_text("# %ECSV 1.0\n# ---\n# datatype:\n# - {name: a, datatype: int64}\na\n1\n")
    assert product_problem(table) is None


@pytest.mark.parametrize("cut", [1, 2880, 4000])
def test_truncated_fits_is_not_complete(tmp_path, cut):
    path = _write(tmp_path / "x_cal.fits")
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    assert product_problem(path).startswith(("truncated", "unreadable", "damaged"))


def test_other_damage(tmp_path):
    path = _write(tmp_path / "x_cal.fits")
    with path.open("ab") as f:
        f.write(b"\0" * 2880)
    assert "after the last complete extension" in product_problem(path)
    assert product_problem(_write(tmp_path / "y_cal.fits", names=("SCI", "ERR", "ASDF"))) == "no DQ extension"
    assert "ERR shape" in product_problem(_write(tmp_path / "z_cal.fits", odd="ERR"))
    assert "WHT shape" in product_problem(_write(tmp_path / "w_i2d.fits", names=("SCI", "ERR", "CON", "WHT", "ASDF"),
                                                 odd="WHT"))  # fmt: skip
    assert product_problem(tmp_path / "absent_cal.fits") == "missing"
    (tmp_path / "empty_cal.fits").write_bytes(b"")
    assert product_problem(tmp_path / "empty_cal.fits") == "empty"
    (tmp_path / "junk_cal.fits").write_bytes(b"SIMPLE" + b"x" * 3000)
    assert product_problem(tmp_path / "junk_cal.fits").startswith("unreadable")
    (tmp_path / "bad_cat.ecsv").write_text("# %ECSV 1.0\n# ---\n# datatype:\n# - {name: a, datatype: int64}\na\n1 2\n")
    assert product_problem(tmp_path / "bad_cat.ecsv").startswith("unreadable table")
