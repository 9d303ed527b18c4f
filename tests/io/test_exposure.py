"""Exposure products: jwst-layout writing, stdatamodels compatibility, validation of inputs."""

import numpy as np
import pytest
from astropy.io import fits

from gpucal.errors import InputFileError
from gpucal.io import fitsraw
from gpucal.io.exposure import Exposure, read_exposure, write_exposure
from tests.factories import small_exposure

datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")


def _grid(shape):
    y, x = np.mgrid[0 : shape[0] : 5, 0 : shape[1] : 7]
    return x.astype(float), y.astype(float)


def test_stdatamodels_reads_our_cal_file(tmp_path):
    exposure = small_exposure()
    exposure.var_flat = np.full(exposure.shape, 1e-4, np.float32)
    exposure.area = np.ones(exposure.shape, np.float32)
    exposure.meta.cal_step.flat_field = "COMPLETE"
    exposure.meta.photometry.conversion_megajanskys = 0.25
    path = write_exposure(exposure, tmp_path / "jw01345001001_02101_00001_nrca1_cal.fits")
    with datamodels.open(path) as model:
        assert type(model).__name__ == "ImageModel"
        for name in ("data", "err", "dq", "var_poisson", "var_rnoise", "var_flat", "area"):
            np.testing.assert_array_equal(getattr(model, name), exposure.arrays[name])
            assert getattr(model, name).dtype.newbyteorder("=") == exposure.arrays[name].dtype
        assert model.meta.instrument.filter == "F200W"
        assert model.meta.cal_step.flat_field == "COMPLETE"
        assert model.meta.photometry.conversion_megajanskys == 0.25
        assert model.meta.filename == path.name
        x, y = _grid(exposure.shape)
        np.testing.assert_allclose(np.array(model.meta.wcs(x, y)), np.array(exposure.wcs(x, y)), rtol=0, atol=1e-12)


def test_tree_and_headers_agree(tmp_path):
    """Our ASDF tree carries a valid _fits_hash, and the meta it holds equals what the headers say."""
    path = write_exposure(small_exposure(), tmp_path / "x_cal.fits")
    hdus = fitsraw.read_hdus(path)
    from gpucal.io.asdf_ext import read_asdf_tree

    tree = read_asdf_tree(next(h for h in hdus if h.name == "ASDF").data, path)
    assert tree["_fits_hash"] == fitsraw.fits_hash(hdus)
    with datamodels.open(path) as trusted:
        trusted_meta = trusted.meta.instance
    # Break the hash: stdatamodels must then rebuild meta from the headers alone.
    raw = bytearray(path.read_bytes())
    at = raw.find(b"FILENAME=")
    raw[at + 11 : at + 12] = b"Y"
    broken = tmp_path / "broken_cal.fits"
    broken.write_bytes(bytes(raw))
    with datamodels.open(broken) as from_headers:
        header_meta = from_headers.meta.instance
    for key in ("instrument", "exposure", "observation", "subarray", "wcsinfo", "bunit_data", "cal_step"):
        assert header_meta[key] == trusted_meta[key], key


def test_header_layout_matches_jwst(tmp_path):
    """Card for card, our headers equal those stdatamodels writes for the same model."""
    exposure = small_exposure()
    ours = write_exposure(exposure, tmp_path / "ours_cal.fits")
    with datamodels.open(ours) as model:
        model.save(tmp_path / "theirs_cal.fits")
    with fits.open(ours) as a, fits.open(tmp_path / "theirs_cal.fits") as b:
        assert [h.name for h in a] == [h.name for h in b]
        for ha, hb in zip(a, b, strict=True):
            if ha.name == "ASDF":
                continue
            skip = ("DATE", "FILENAME")
            ca = [c.image for c in ha.header.cards if c.keyword not in skip]
            cb = [c.image for c in hb.header.cards if c.keyword not in skip]
            assert ca == cb, ha.name
            if ha.data is not None:
                assert ha.data.dtype == hb.data.dtype, ha.name


def test_round_trip_through_gpucal(tmp_path):
    exposure = small_exposure()
    path = write_exposure(exposure, tmp_path / "a_cal.fits")
    again = read_exposure(path)
    for name, array in exposure.arrays.items():
        np.testing.assert_array_equal(again.arrays[name], array)
    assert again.meta.instrument.detector == "NRCA1"
    assert again.meta.cal_step.dq_init == "COMPLETE"
    x, y = _grid(exposure.shape)
    np.testing.assert_allclose(np.array(again.wcs(x, y)), np.array(exposure.wcs(x, y)), atol=1e-12)


def test_we_read_jwst_written_products(tmp_path):
    model = datamodels.ImageModel((20, 30))
    model.data[:] = 3.0
    model.dq = np.zeros((20, 30), np.uint32)
    model.dq[1, 2] = 2**31 + 1
    model.err = np.ones((20, 30), np.float32)
    model.meta.instrument.name = "NIRCAM"
    model.meta.instrument.detector = "NRCB4"
    model.meta.exposure.type = "NRC_IMAGE"
    model.save(tmp_path / "j_rate.fits")
    exposure = read_exposure(tmp_path / "j_rate.fits")
    assert exposure.dq[1, 2] == 2**31 + 1
    assert exposure.meta.instrument.detector == "NRCB4"
    np.testing.assert_array_equal(exposure.data, 3.0)


def test_real_mast_i2d_opens_with_wcs(real_data):
    path = real_data / "jw01288015001_04101_00001_mirimage_i2d.fits"
    exposure = read_exposure(path, required=("data",))
    assert exposure.meta.instrument.name == "MIRI"
    assert exposure.con.shape == (1, 129, 137)
    ra, dec = exposure.wcs(68.0, 64.0)
    with datamodels.open(path) as model:
        ra2, dec2 = model.meta.wcs(68.0, 64.0)
        np.testing.assert_array_equal(model.data, exposure.data)
    assert abs(ra - ra2) < 1e-12 and abs(dec - dec2) < 1e-12


def test_cube_products(tmp_path):
    exposure = small_exposure(shape=(3, 16, 20), wcs=False)
    path = write_exposure(exposure, tmp_path / "c_calints.fits")
    with datamodels.open(path) as model:
        assert type(model).__name__ == "CubeModel"
        np.testing.assert_array_equal(model.data, exposure.data)
    assert read_exposure(path).is_cube


def test_cube_int_times_survive_a_metadata_read_and_sit_where_jwst_writes_them(tmp_path):
    """INT_TIMES is metadata: read_metadata keeps it (image2 builds its products from it), and a cube is written
    with it after SCI/ERR/DQ and pointed at by the tree's ``int_times``, as jwst writes a ``_calints``."""
    from gpucal.io.exposure import read_metadata

    times = [f"int_{when}_{scale}" for scale in ("MJD_UTC", "BJD_TDB") for when in ("start", "mid", "end")]
    table = np.rec.fromarrays([np.arange(1, 4)] + [60315.0 + (np.arange(3) + k / 8) / 86400.0 for k in range(6)],
                              dtype=[("integration_number", ">i4")] + [(n, ">f8") for n in times])  # fmt: skip
    hdu = fits.BinTableHDU(table, name="INT_TIMES")
    hdu.header["EXTVER"] = (1, "extension value")
    exposure = small_exposure(shape=(3, 16, 20), wcs=False)
    exposure.tables.append((hdu.header, table.tobytes()))
    path = write_exposure(exposure, tmp_path / "c_rateints.fits")
    meta, shape = read_metadata(path)
    assert shape == (3, 16, 20) and [h["EXTNAME"] for h, _ in meta.tables] == ["INT_TIMES"]
    again = write_exposure(Exposure(exposure.arrays, meta.meta_tree, model_type="CubeModel", tables=meta.tables),
                           tmp_path / "c_calints.fits")  # fmt: skip
    with fits.open(again) as hdul:
        names = [h.name for h in hdul]
        assert names.index("INT_TIMES") == names.index("DQ") + 1 < names.index("VAR_POISSON")
        np.testing.assert_array_equal(hdul["INT_TIMES"].data["int_mid_MJD_UTC"], table["int_mid_MJD_UTC"])
    with datamodels.open(again) as model:
        np.testing.assert_array_equal(model.int_times["integration_number"], [1, 2, 3])


def _product(tmp_path, drop=(), retype=None):
    exposure = small_exposure(wcs=False)
    for name in drop:
        exposure.arrays.pop(name)
    if retype:
        name, dtype = retype
        exposure.arrays[name] = exposure.arrays[name].astype(dtype)
    path = tmp_path / "p_rate.fits"
    from gpucal.io.exposure import ARRAY_EXTENSIONS

    hdus = [(fitsraw.header_bytes(fitsraw.image_header(None, primary=True)), None)]
    for name, array in exposure.arrays.items():
        hdus.append((fitsraw.header_bytes(fitsraw.image_header(array, ARRAY_EXTENSIONS[name])), array))
    fitsraw.write_hdus(path, hdus)
    return path


@pytest.mark.parametrize("missing", ["data", "err", "dq"])
def test_missing_extension(tmp_path, missing):
    path = _product(tmp_path, drop=(missing,))
    ext = {"data": "SCI", "err": "ERR", "dq": "DQ"}[missing]
    with pytest.raises(InputFileError, match=f"missing {ext} extension") as info:
        read_exposure(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("name", "dtype", "message"),
    [("data", np.int16, "SCI has dtype int16"), ("dq", np.float32, "DQ has dtype float32")],
)
def test_wrong_dtype(tmp_path, name, dtype, message):
    with pytest.raises(InputFileError, match=message):
        read_exposure(_product(tmp_path, retype=(name, dtype)))


def test_float64_science_is_cast_like_stdatamodels(tmp_path):
    exposure = read_exposure(_product(tmp_path, retype=("data", np.float64)))
    assert exposure.data.dtype == np.float32


def test_wrong_shape(tmp_path):
    exposure = small_exposure(wcs=False)
    exposure.arrays["err"] = exposure.err[:, :-1].copy()
    path = tmp_path / "s_rate.fits"
    hdus = [(fitsraw.header_bytes(fitsraw.image_header(None, primary=True)), None)]
    for name, ext in (("data", "SCI"), ("err", "ERR"), ("dq", "DQ")):
        hdus.append((fitsraw.header_bytes(fitsraw.image_header(exposure.arrays[name], ext)), exposure.arrays[name]))
    fitsraw.write_hdus(path, hdus)
    with pytest.raises(InputFileError, match=r"ERR has shape \(32, 39\), SCI has \(32, 40\)"):
        read_exposure(path)


def test_corrupt_asdf_extension(tmp_path):
    path = write_exposure(small_exposure(), tmp_path / "z_cal.fits")
    raw = bytearray(path.read_bytes())
    at = raw.find(b"#ASDF")
    raw[at : at + 5] = b"JUNK!"
    path.write_bytes(bytes(raw))
    with pytest.raises(InputFileError, match="unreadable ASDF extension"):
        read_exposure(path)


def test_exposure_meta_access():
    exposure = Exposure({"data": np.zeros((2, 2), np.float32)}, {})
    assert exposure.meta.instrument.filter is None
    exposure.meta.cal_step.flat_field = "COMPLETE"
    assert exposure.meta_tree["cal_step"]["flat_field"] == "COMPLETE"
    exposure.meta.cal_step.flat_field = None
    assert "flat_field" not in exposure.meta_tree["cal_step"]
