"""Reference files: readers on real CRDS files, selection, overrides and errors."""

import numpy as np
import pytest
from astropy.io import fits

from gpucal.errors import ReferenceFileError
from gpucal.io.meta import meta_node
from gpucal.io.refs import ReferenceSelector, build_index, read_distortion, read_filteroffset, read_flat, read_photom
from tests.factories import nircam_meta


def test_real_miri_distortion_and_filteroffset(real_data):
    dist = read_distortion(real_data / "jwst_miri_imager_distortion_flt9.asdf")
    v2, v3 = dist.model(516, 512)
    assert abs(v2 - -433.9076) < 1e-3 and abs(v3 - -375.1776) < 1e-3
    x, y = dist.model.inverse(v2, v3)
    assert abs(x - 516) < 0.01 and abs(y - 512) < 0.01  # the flight file's inverse polynomial is good to ~2 mpix
    offsets = read_filteroffset(real_data / "jwst_miri_filteroffset_full_flt9.asdf")
    assert offsets.offset_for("F560W") == (-0.08, -0.06)
    assert offsets.offset_for("F770W") == (0.0, 0.0)
    assert offsets.offset_for("NOPE") is None


def test_real_nircam_photom_table(real_data):
    photom = read_photom(real_data / "jwst_nircam_photom_0064.fits")
    assert {"filter", "pupil", "photmjsr"} <= set(photom.table.dtype.names)


def _flat(path, shape=(2048, 2048), **header):
    primary = fits.PrimaryHDU()
    primary.header.update(
        {
            "REFTYPE": "FLAT",
            "INSTRUME": "NIRCAM",
            "DETECTOR": "NRCA1",
            "FILTER": "F200W",
            "PUPIL": "CLEAR",
            "EXP_TYPE": "NRC_IMAGE",
            "USEAFTER": "2022-01-01T00:00:00",
            **header,
        }
    )
    fits.HDUList(
        [
            primary,
            fits.ImageHDU(np.ones(shape, np.float32), name="SCI"),
            fits.ImageHDU(np.zeros(shape, np.float32), name="ERR"),
            fits.ImageHDU(np.zeros(shape, np.uint32), name="DQ"),
        ]
    ).writeto(path)
    return path


def test_flat_reader_and_subarray(tmp_path):
    flat = read_flat(_flat(tmp_path / "f.fits", shape=(64, 64), SUBSTRT1=101, SUBSTRT2=201, SUBSIZE1=64, SUBSIZE2=64))
    assert (flat.subarray.xstart, flat.subarray.ystart, flat.subarray.xsize) == (101, 201, 64)
    with pytest.raises(ReferenceFileError, match="no SUBSTRT/SUBSIZE keywords"):
        read_flat(_flat(tmp_path / "g.fits", shape=(64, 64)))


def test_wrong_reftype(tmp_path):
    path = _flat(tmp_path / "f.fits", shape=(2048, 2048), REFTYPE="DARK")
    with pytest.raises(ReferenceFileError, match="REFTYPE is 'dark'"):
        read_flat(path)


def test_unreadable_reference(tmp_path):
    path = tmp_path / "junk_flat.fits"
    path.write_bytes(b"not fits at all" * 300)
    with pytest.raises(ReferenceFileError, match="not a FITS file"):
        read_flat(path)


def test_local_selection_by_keywords_and_useafter(tmp_path):
    _flat(tmp_path / "old_f200w.fits", USEAFTER="2020-01-01T00:00:00")
    _flat(tmp_path / "new_f200w.fits", USEAFTER="2023-01-01T00:00:00")
    _flat(tmp_path / "future_f200w.fits", USEAFTER="2030-01-01T00:00:00")
    _flat(tmp_path / "f150w.fits", FILTER="F150W", USEAFTER="2023-02-01T00:00:00")
    _flat(tmp_path / "other_det.fits", DETECTOR="NRCB1", USEAFTER="2023-02-01T00:00:00")
    selector = ReferenceSelector(ref_dir=tmp_path, use_crds=False)
    meta = meta_node(nircam_meta())
    assert selector.select("flat", meta).endswith("new_f200w.fits")
    assert (tmp_path / "gpucal_refindex.json").is_file()
    # The index is reused and refreshed for new files.
    _flat(tmp_path / "newest_f200w.fits", USEAFTER="2023-02-15T00:00:00")
    assert ReferenceSelector(ref_dir=tmp_path, use_crds=False).select("flat", meta).endswith("newest_f200w.fits")
    assert "newest_f200w.fits" in build_index(tmp_path)


def test_pattern_keywords(tmp_path):
    _flat(tmp_path / "p.fits", EXP_TYPE="ANY", P_EXP_TY="NRC_IMAGE|NRC_TACQ|", FILTER="N/A")
    assert (
        ReferenceSelector(ref_dir=tmp_path, use_crds=False).select("flat", meta_node(nircam_meta())).endswith("p.fits")
    )
    meta = meta_node(nircam_meta(**{"exposure.type": "NRC_WFSS"}))
    with pytest.raises(ReferenceFileError):
        ReferenceSelector(ref_dir=tmp_path, use_crds=False).select("flat", meta)


def test_override_and_not_applicable(tmp_path):
    path = _flat(tmp_path / "mine.fits")
    selector = ReferenceSelector({"flat": str(path), "area": "N/A"}, use_crds=False)
    meta = meta_node(nircam_meta())
    assert selector.select("flat", meta) == str(path)
    assert selector.select("area", meta) == "N/A"
    with pytest.raises(ReferenceFileError, match="override_photom: .*no such file"):
        ReferenceSelector({"photom": str(tmp_path / "gone.fits")}, use_crds=False).select("photom", meta)


def test_missing_reference_names_reftype_and_keywords(tmp_path):
    with pytest.raises(ReferenceFileError) as info:
        ReferenceSelector(ref_dir=tmp_path, use_crds=False).select("photom", meta_node(nircam_meta()))
    text = str(info.value)
    assert (
        "no photom reference" in text
        and "DETECTOR=NRCA1" in text
        and "FILTER=F200W" in text
        and "override_photom" in text
    )
