"""Reference files: readers on real CRDS files, selection as CRDS does it, overrides checked, errors."""

import json
import warnings

import asdf
import numpy as np
import pytest
from astropy.io import fits

from gpucal.errors import ReferenceFileError
from gpucal.io.meta import meta_node
from gpucal.io.refs import (
    ReferenceSelector,
    build_index,
    read_apcorr,
    read_distortion,
    read_filteroffset,
    read_flat,
    read_photom,
    reference_folder,
)
from tests.factories import nircam_meta, toy_distortion

FULL = {"SUBSTRT1": 1, "SUBSTRT2": 1, "SUBSIZE1": 2048, "SUBSIZE2": 2048}


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


def _flat(path, shape=(8, 8), **header):
    """A NIRCAM NRCA1 F200W/CLEAR flat; tiny arrays (selection reads headers only), full-frame SUBSTRT/SUBSIZE."""
    cards = {"REFTYPE": "FLAT", "INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "FILTER": "F200W", "PUPIL": "CLEAR",
             "EXP_TYPE": "NRC_IMAGE", "USEAFTER": "2022-01-01T00:00:00"}  # fmt: skip
    cards.update(FULL if shape == (8, 8) else {})
    cards.update(header)
    primary = fits.PrimaryHDU()
    primary.header.update({k: v for k, v in cards.items() if v is not None})
    images = [
        fits.ImageHDU(np.ones(shape, np.float32), name="SCI"),
        fits.ImageHDU(np.zeros(shape, np.uint32), name="DQ"),
    ]
    fits.HDUList([primary, *images]).writeto(path)
    return path


def _selector(folder, **kwargs):
    return ReferenceSelector(ref_dir=folder, use_crds=False, **kwargs)


def _name(path):
    return str(path).rsplit("/", 1)[-1]


def test_flat_reader_and_subarray(tmp_path):
    flat = read_flat(_flat(tmp_path / "f.fits", shape=(64, 64), SUBSTRT1=101, SUBSTRT2=201, SUBSIZE1=64, SUBSIZE2=64))
    assert (flat.subarray.xstart, flat.subarray.ystart, flat.subarray.xsize) == (101, 201, 64)
    with pytest.raises(ReferenceFileError, match="no SUBSTRT/SUBSIZE keywords"):
        read_flat(_flat(tmp_path / "g.fits", shape=(64, 64)))


def test_wrong_reftype(tmp_path):
    with pytest.raises(ReferenceFileError, match="REFTYPE is 'dark'"):
        read_flat(_flat(tmp_path / "f.fits", REFTYPE="DARK"))


def test_readers_require_reftype(tmp_path):
    """A science product (no REFTYPE) is not a reference; missing REFTYPE used to be taken as right."""
    with pytest.raises(ReferenceFileError, match=r"f\.fits: no REFTYPE keyword: not a reference file"):
        read_flat(_flat(tmp_path / "f.fits", REFTYPE=None))
    path = tmp_path / "d.asdf"
    asdf.AsdfFile({"meta": {"instrument": {"name": "NIRCAM"}}, "model": toy_distortion()}).write_to(path)
    with pytest.raises(ReferenceFileError, match=r"d\.asdf: no meta\.reftype"):
        read_distortion(path)


def test_unreadable_reference(tmp_path):
    path = tmp_path / "junk_flat.fits"
    path.write_bytes(b"not fits at all" * 300)
    with pytest.raises(ReferenceFileError, match="not a FITS file"):
        read_flat(path)


def _photom(path):
    columns = [("filter", "S12"), ("pupil", "S12"), ("photmjsr", "f4"), ("uncertainty", "f4")]
    table = np.array([("F200W", "CLEAR", 0.25, 0.01)] * 200, dtype=columns)
    primary = fits.PrimaryHDU()
    primary.header.update({"REFTYPE": "PHOTOM", "INSTRUME": "NIRCAM", "DETECTOR": "NRCA1", "EXP_TYPE": "NRC_IMAGE"})
    fits.HDUList([primary, fits.BinTableHDU(table, name="PHOTOM")]).writeto(path)
    return path


def _apcorr(path, instrument="NIRCAM"):
    numbers = ("eefraction", "radius", "apcorr", "skyin", "skyout")
    columns = [("filter", "S12"), ("pupil", "S12")] + [(n, "f4") for n in numbers]
    table = np.array([("F200W", "CLEAR", 0.5, 2.0, 2.0, 10.0, 15.0)], dtype=columns)
    primary = fits.PrimaryHDU()
    primary.header.update({"REFTYPE": "APCORR", "INSTRUME": instrument, "EXP_TYPE": "NRC_IMAGE"})
    fits.HDUList([primary, fits.BinTableHDU(table, name="APCORR")]).writeto(path)
    return path


def _truncate(path, keep):
    data = path.read_bytes()
    out = path.with_name("cut_" + path.name)
    out.write_bytes(data[: int(len(data) * keep)])
    return out


def test_truncated_references_give_one_error_and_no_warnings(tmp_path, capfd):
    """A truncated table reference used to read as 'no PHOTOM table' after astropy's VerifyWarnings."""
    photom = _photom(tmp_path / "photom.fits")
    cases = [
        (read_photom, _truncate(photom, 0.6), "truncated FITS file"),
        (read_photom, _truncate(photom, 0.3), "truncated FITS file"),
        (read_apcorr, _truncate(_apcorr(tmp_path / "apcorr.fits"), 0.6), "truncated FITS file"),
        (read_flat, _truncate(_flat(tmp_path / "flat.fits", shape=(64, 64), **FULL), 0.5), "truncated FITS file"),
    ]
    dist = tmp_path / "dist.asdf"
    asdf.AsdfFile({"meta": {"reftype": "distortion"}, "model": toy_distortion()}).write_to(dist)
    cases.append((read_distortion, _truncate(dist, 0.5), "unreadable distortion reference"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for reader, path, message in cases:
            with pytest.raises(ReferenceFileError, match=message) as info:
                reader(path)
            assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert not caught, [str(w.message) for w in caught]
    assert capfd.readouterr().err == ""


def test_local_selection_by_keywords_and_useafter(tmp_path):
    _flat(tmp_path / "old_f200w.fits", USEAFTER="2020-01-01T00:00:00")
    _flat(tmp_path / "new_f200w.fits", USEAFTER="2023-01-01T00:00:00")
    _flat(tmp_path / "future_f200w.fits", USEAFTER="2030-01-01T00:00:00")
    _flat(tmp_path / "f150w.fits", FILTER="F150W", USEAFTER="2023-02-01T00:00:00")
    _flat(tmp_path / "other_det.fits", DETECTOR="NRCB1", USEAFTER="2023-02-01T00:00:00")
    meta = meta_node(nircam_meta())
    assert _selector(tmp_path).select("flat", meta).endswith("new_f200w.fits")
    assert (tmp_path / "gpucal_refindex.json").is_file()
    # The index is reused and refreshed for new files.
    _flat(tmp_path / "newest_f200w.fits", USEAFTER="2023-02-15T00:00:00")
    assert _selector(tmp_path).select("flat", meta).endswith("newest_f200w.fits")
    assert "newest_f200w.fits" in build_index(tmp_path)


def test_most_specific_match_beats_newest_useafter(tmp_path):
    """CRDS order: the most specific match first, then USEAFTER (the newest generic flat used to win)."""
    meta = meta_node(nircam_meta())
    _flat(tmp_path / "specific.fits", USEAFTER="2022-01-01T00:00:00")
    _flat(tmp_path / "generic.fits", FILTER="N/A", PUPIL="N/A", USEAFTER="2023-01-01T00:00:00")
    _flat(tmp_path / "pattern.fits", FILTER="MULTIPLE", P_FILTER="F150W|F200W|", USEAFTER="2023-02-01T00:00:00")
    assert _name(_selector(tmp_path).select("flat", meta)) == "specific.fits"
    (tmp_path / "specific.fits").unlink()
    assert _name(_selector(tmp_path).select("flat", meta)) == "pattern.fits"  # a listed value beats a wildcard
    (tmp_path / "pattern.fits").unlink()
    assert _name(_selector(tmp_path).select("flat", meta)) == "generic.fits"
    # Among equally specific references the latest USEAFTER not after DATE-OBS (2023-03-01T12:00:00) wins.
    _flat(tmp_path / "generic_later.fits", FILTER="N/A", PUPIL="N/A", USEAFTER="2023-03-01T11:00:00")
    _flat(tmp_path / "generic_after.fits", FILTER="N/A", PUPIL="N/A", USEAFTER="2023-03-01T13:00:00")
    assert _name(_selector(tmp_path).select("flat", meta)) == "generic_later.fits"


def test_selectors_depend_on_the_reference_type(tmp_path):
    """NIRCam flats are not selected by EXP_TYPE (CRDS's rmap ignores it); area maps are, through P_EXP_TY."""
    _flat(tmp_path / "flat.fits", EXP_TYPE="NRC_WFSS")
    _flat(tmp_path / "area.fits", REFTYPE="AREA", EXP_TYPE="ANY", P_EXP_TY="NRC_IMAGE|NRC_TACQ|", FILTER="N/A")
    imaging, wfss = meta_node(nircam_meta()), meta_node(nircam_meta(**{"exposure.type": "NRC_WFSS"}))
    assert _name(_selector(tmp_path).select("flat", imaging)) == "flat.fits"
    assert _name(_selector(tmp_path).select("area", imaging)) == "area.fits"
    with pytest.raises(ReferenceFileError, match=r"area\.fits: P_EXP_TY=NRC_IMAGE\|NRC_TACQ\| does not list EXP_TYPE"):
        _selector(tmp_path).select("area", wfss, source="w_rate.fits")


def test_local_choice_must_contain_the_science_subarray(tmp_path):
    _flat(tmp_path / "full.fits", USEAFTER="2022-01-01T00:00:00")
    _flat(tmp_path / "sub.fits", USEAFTER="2023-01-01T00:00:00", SUBSTRT1=1001, SUBSTRT2=1001, SUBSIZE1=64, SUBSIZE2=64)
    full = meta_node(nircam_meta())
    inside = meta_node(nircam_meta(**{"subarray.name": "SUB40", "subarray.xstart": 1010, "subarray.ystart": 1010,
                                      "subarray.xsize": 48, "subarray.ysize": 40}))  # fmt: skip
    assert _name(_selector(tmp_path).select("flat", full)) == "full.fits"
    assert _name(_selector(tmp_path).select("flat", inside)) == "sub.fits"


def test_overrides_are_checked_against_the_science(tmp_path):
    """override_<reftype> used to be taken as given: a _rate file as a flat, or another filter's flat."""
    meta = meta_node(nircam_meta())
    rate = _flat(tmp_path / "jw_x_rate.fits", REFTYPE=None)
    cases = {
        "jw_x_rate.fits": "no REFTYPE keyword: not a reference file",
        "f150w.fits": "FILTER=F150W, the science has FILTER=F200W",
        "b1.fits": "DETECTOR=NRCB1, the science has DETECTOR=NRCA1",
        "miri.fits": "INSTRUME=MIRI, the science has INSTRUME=NIRCAM",
        "dark.fits": "REFTYPE=DARK, not a flat reference",
    }
    _flat(tmp_path / "f150w.fits", FILTER="F150W")
    _flat(tmp_path / "b1.fits", DETECTOR="NRCB1")
    _flat(tmp_path / "miri.fits", INSTRUME="MIRI", DETECTOR="MIRIMAGE")
    _flat(tmp_path / "dark.fits", REFTYPE="DARK")
    for name, problem in cases.items():
        path = rate if name == rate.name else tmp_path / name
        with pytest.raises(ReferenceFileError) as info:
            ReferenceSelector({"flat": str(path)}, use_crds=False).select("flat", meta, source="sci_rate.fits")
        text = str(info.value)
        assert text == f"override_flat={path} does not fit sci_rate.fits: {problem}" + (
            " (a flat reference was expected)" if name == rate.name else ""
        )
    # A keyword at N/A, or absent, matches anything.
    any_filter = _flat(tmp_path / "any.fits", FILTER="N/A", PUPIL=None)
    assert ReferenceSelector({"flat": str(any_filter)}, use_crds=False).select("flat", meta) == str(any_filter)


def test_override_apcorr_of_another_instrument(tmp_path):
    path = _apcorr(tmp_path / "miri_apcorr.fits", instrument="MIRI")
    with pytest.raises(ReferenceFileError, match=r"override_apcorr=.*miri_apcorr\.fits does not fit .*INSTRUME=MIRI"):
        ReferenceSelector({"apcorr": str(path)}, use_crds=False).select("apcorr", meta_node(nircam_meta()))


def test_override_and_not_applicable(tmp_path):
    path = _flat(tmp_path / "mine.fits")
    selector = ReferenceSelector({"flat": str(path), "area": "N/A"}, use_crds=False)
    meta = meta_node(nircam_meta())
    assert selector.select("flat", meta) == str(path)
    assert selector.select("area", meta) == "N/A"
    with pytest.raises(ReferenceFileError, match=r"override_photom: .*no such file"):
        ReferenceSelector({"photom": str(tmp_path / "gone.fits")}, use_crds=False).select("photom", meta)


def test_missing_reference_names_science_reftype_and_keywords(tmp_path):
    _flat(tmp_path / "f150w.fits", FILTER="F150W")
    whole = _flat(tmp_path / "broken.fits", shape=(64, 64), **FULL)
    _truncate(whole, 0.5)
    whole.unlink()
    with pytest.raises(ReferenceFileError) as info:
        _selector(tmp_path).select("flat", meta_node(nircam_meta()), source="/data/sci_rate.fits")
    text = str(info.value)
    assert text.startswith("/data/sci_rate.fits: no flat reference for INSTRUME=NIRCAM, DETECTOR=NRCA1, FILTER=F200W")
    assert "f150w.fits: FILTER=F150W, the science has FILTER=F200W" in text  # the near miss, and why
    assert "unreadable: cut_broken.fits" in text and "override_flat" in text and "\n" not in text
    with pytest.raises(ReferenceFileError, match="no photom reference for INSTRUME=NIRCAM, DETECTOR=NRCA1, EXP_TYPE"):
        _selector(tmp_path).select("photom", meta_node(nircam_meta()))


def test_reference_folder_must_exist(tmp_path, monkeypatch):
    missing = tmp_path / "nope"
    with pytest.raises(ReferenceFileError, match=f"reference folder {missing} \\(--ref-dir\\) does not exist"):
        ReferenceSelector(ref_dir=missing)
    monkeypatch.setenv("GPUCAL_REF_DIR", str(missing))
    with pytest.raises(ReferenceFileError, match=f"{missing} \\(GPUCAL_REF_DIR\\) does not exist"):
        reference_folder(None)
    monkeypatch.setenv("GPUCAL_REF_DIR", "")
    assert reference_folder(None) is None
    _flat(tmp_path / "file.fits")
    with pytest.raises(ReferenceFileError, match="is not a folder"):
        reference_folder(tmp_path / "file.fits")
    assert reference_folder(tmp_path) == str(tmp_path.resolve())


def test_index_of_an_older_version_is_rebuilt(tmp_path):
    path = _flat(tmp_path / "f150w.fits", FILTER="F150W")
    stat = path.stat()
    claimed = {"REFTYPE": "FLAT", "USEAFTER": "2022-01-01T00:00:00"}  # no FILTER: version 1 matched anything
    stale = {"version": 1, "files": {path.name: {"mtime": stat.st_mtime_ns, "size": stat.st_size, "keywords": claimed}}}
    (tmp_path / "gpucal_refindex.json").write_text(json.dumps(stale))
    with pytest.raises(ReferenceFileError, match="FILTER=F150W"):
        _selector(tmp_path).select("flat", meta_node(nircam_meta()))
    assert json.loads((tmp_path / "gpucal_refindex.json").read_text())["version"] == 2
