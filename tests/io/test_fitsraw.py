"""The lean FITS layer: byte-exact round trips, astropy agreement, and bad files."""

import gzip

import numpy as np
import pytest
from astropy.io import fits

from gpucal.errors import InputFileError, OutputError
from gpucal.io import fitsraw


def _write(path, arrays):
    hdus = [(fitsraw.header_bytes(fitsraw.image_header(None, primary=True)), None)]
    for name, array in arrays.items():
        hdus.append((fitsraw.header_bytes(fitsraw.image_header(array, name)), array))
    fitsraw.write_hdus(path, hdus)


@pytest.fixture
def arrays():
    rng = np.random.default_rng(3)
    return {
        "SCI": rng.normal(size=(7, 9)).astype(np.float32),
        "DQ": rng.integers(0, 2**32, (7, 9), dtype=np.uint32),
        "CON": rng.integers(-(2**31), 2**31, (2, 7, 9), dtype=np.int64).astype(np.int32),
        "F64": rng.normal(size=(3, 5)),
    }


def test_astropy_reads_what_we_write(tmp_path, arrays):
    path = tmp_path / "a.fits"
    _write(path, arrays)
    with fits.open(path) as hdul:
        for name, array in arrays.items():
            np.testing.assert_array_equal(hdul[name].data, array)
            assert hdul[name].data.dtype == array.dtype.newbyteorder(">") or hdul[name].data.dtype == array.dtype


def test_we_read_what_astropy_writes(tmp_path, arrays):
    path = tmp_path / "b.fits"
    fits.HDUList([fits.PrimaryHDU()] + [fits.ImageHDU(a, name=n) for n, a in arrays.items()]).writeto(path)
    hdus = {h.name: h for h in fitsraw.read_hdus(path)}
    for name, array in arrays.items():
        got = hdus[name].data
        assert got.dtype == array.dtype and got.dtype.isnative
        np.testing.assert_array_equal(got, array)


def test_gzip_compressed_file(tmp_path, arrays):
    path = tmp_path / "c.fits"
    _write(path, arrays)
    gz = tmp_path / "c_copy.fits"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    hdus = {h.name: h for h in fitsraw.read_hdus(gz)}
    np.testing.assert_array_equal(hdus["DQ"].data, arrays["DQ"])


def test_fits_hash_matches_header_blocks(tmp_path, arrays):
    path = tmp_path / "d.fits"
    _write(path, arrays)
    hdus = fitsraw.read_hdus(path)
    assert fitsraw.fits_hash(hdus) == fitsraw.fits_hash([h.raw_header for h in hdus])


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file"), (b"hello world" * 300, "not a FITS file"), (b"\x00\xff" * 2000, "not a FITS file")],
)
def test_not_fits(tmp_path, content, message):
    path = tmp_path / "x.fits"
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=message) as info:
        fitsraw.read_hdus(path)
    assert str(path) in str(info.value)


def test_truncated(tmp_path, arrays):
    path = tmp_path / "t.fits"
    _write(path, arrays)
    data = path.read_bytes()
    for cut in (len(data) - 4000, 2880 + 100, 2880 * 2 + 10):
        path.write_bytes(data[:cut])
        with pytest.raises(InputFileError, match="truncated"):
            fitsraw.read_hdus(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        fitsraw.read_hdus(tmp_path / "nope.fits")


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path, arrays):
    path = tmp_path / "keep.fits"
    path.write_bytes(b"old product")

    class Boom:
        dtype = np.dtype(np.float32)

        def __getattr__(self, name):
            raise RuntimeError("disk on fire")

    with pytest.raises(Exception, match="disk on fire"):
        fitsraw.write_hdus(
            path, [(fitsraw.header_bytes(fitsraw.image_header(None, primary=True)), None), (b"X" * 2880, Boom())]
        )
    assert path.read_bytes() == b"old product"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.fits"]


def test_unwritable_folder(tmp_path, arrays):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        import os

        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(OutputError, match="not writable"):
            _write(folder / "a.fits", arrays)
    finally:
        folder.chmod(0o700)


def test_output_folder_is_a_file(tmp_path, arrays):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(OutputError, match="blocker"):
        _write(blocker / "a.fits", arrays)
