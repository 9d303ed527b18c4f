"""Header blending of a mosaic's inputs (jwst's model_blender): rules, the HDRTAB table, the mosaic hook."""

import numpy as np
import pytest
from astropy.io import fits

from gpucal.io.blend import (
    HDRTAB,
    RESAMPLE_IGNORES,
    RULES,
    MetaBlender,
    apply_blended,
    flat_meta,
    hdrtab_extension,
    table_tree_node,
)
from gpucal.io.exposure import read_exposure, write_exposure
from gpucal.io.schema import blend_schema
from gpucal.wcs.footprint import s_region_imaging
from tests.factories import nircam_meta, small_exposure

#: A small hand-made schema: three rules, four columns (one that no input has).
TOY_SCHEMA = {
    "rules": [["meta.a.t0", "min"], ["meta.a.mid", "mean"], ["meta.a.det", "multi"], ["meta.a.seg", "first"]],
    "columns": [["meta.a.t0", "T0"], ["meta.a.det", "DET"], ["meta.a.flag", "FLAG"], ["meta.a.none", "NONE"]],
    "ignores": ["meta.a.list"],
    "objects": ["meta.a", "meta.b"],
}


def _toy(t0, mid, det, flag=None, seg=1):
    meta = {"a": {"t0": t0, "mid": mid, "det": det, "seg": seg, "list": [1, 2], "note": f"from {det}"}}
    if flag is not None:
        meta["a"]["flag"] = flag
    return meta


# -- rules ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "values", "expected"),
    [
        ("multi", ["NRCA1", "NRCA1"], "NRCA1"),
        ("multi", ["NRCA1", "NRCA2", "NRCA1"], "MULTIPLE"),
        ("mean", [1.0, 2.0, 6.0], 3.0),
        ("sum", [100.0, 50.5], 150.5),
        ("max", [3, 9, 1], 9),
        ("min", [3.5, 9.0, 1.25], 1.25),
        ("mindate", ["2024-02-01", "2023-12-31"], "2023-12-31"),
        ("maxdatetime", ["2024-02-01T00:00:10.000", "2024-02-01T00:02:31.113"], "2024-02-01T00:02:31.113"),
        ("mintime", ["00:02:31.113", "00:00:10.371"], "00:00:10.371"),
        ("wheeltol", ["within commanded tolerance"] * 2, "within commanded tolerance"),
        ("wheeltol", ["within commanded tolerance", "outside calibration tolerance"], "outside calibration tolerance"),
    ],
)
def test_each_rule_combines_as_jwst(rule, values, expected):
    assert RULES[rule](values) == expected


def test_first_input_meta_with_rules_applied_and_ignores_left_out():
    blender = MetaBlender(ignore=["meta.a.note"], schema=TOY_SCHEMA)
    for meta in (_toy(5.0, 10.0, "NRCA1", seg=1), _toy(2.0, 20.0, "NRCA2", seg=7), _toy(9.0, 30.0, "NRCA1", seg=3)):
        blender.accumulate(meta)
    blended, _ = blender.finalize()
    assert blended["meta.a.t0"] == 2.0 and blended["meta.a.mid"] == pytest.approx(20.0)
    assert blended["meta.a.det"] == "MULTIPLE"
    assert blended["meta.a.seg"] == 1, "the 'first' rule keeps the first input's value"
    assert "meta.a.note" not in blended, "an ignored attribute is left out"
    assert not any(k.startswith("meta.a.list") for k in blended), "the schema's array attributes are left out"


def test_a_rule_no_input_has_gives_none():
    blender = MetaBlender(schema={**TOY_SCHEMA, "rules": [["meta.a.absent", "max"]]})
    blender.accumulate(_toy(1.0, 1.0, "X"))
    assert blender.blended_meta()["meta.a.absent"] is None


def test_ignores_are_prefixes_so_meta_wcs_also_drops_wcsinfo():
    """jwst matches ignored names with ``startswith``: ``meta.wcs`` leaves out ``meta.wcsinfo.*`` too."""
    blender = MetaBlender(ignore=RESAMPLE_IGNORES)
    meta = nircam_meta(**{"filename": "a_cal.fits", "photometry.pixelarea_steradians": 1e-13, "asn.exptype": "science"})
    blender.accumulate(meta)
    blended = blender.blended_meta()
    assert not any(k.startswith(("meta.wcsinfo", "meta.wcs")) for k in blended)
    assert "meta.filename" not in blended and "meta.photometry.pixelarea_steradians" not in blended
    assert blended["meta.asn.exptype"] == "science", "attributes without a keyword come from the first input too"


def test_real_schema_blends_times_and_detectors():
    blender = MetaBlender(ignore=RESAMPLE_IGNORES)
    for k, detector in enumerate(("NRCA1", "NRCA2", "NRCA1")):
        overrides = {
            "instrument.detector": detector,
            "exposure.mid_time": 60000.0 + k,
            "exposure.start_time_mjd": 59999.5 + k,
            "observation.date_end": f"2023-03-0{k + 1}T00:00:00",
        }
        blender.accumulate(nircam_meta(**overrides))  # fmt: skip
    blended, table = blender.finalize()
    assert blended["meta.instrument.detector"] == "MULTIPLE"
    assert blended["meta.instrument.filter"] == "F200W"
    assert blended["meta.exposure.mid_time"] == pytest.approx(60001.0)
    assert blended["meta.exposure.start_time_mjd"] == 59999.5
    assert blended["meta.observation.date_end"] == "2023-03-03T00:00:00"
    assert list(table["DETECTOR"]) == ["NRCA1", "NRCA2", "NRCA1"]
    columns = [name for _, name in blend_schema()["columns"]]
    assert list(table.dtype.names) == [c for c in columns if c in table.dtype.names], "schema order"


def test_mixed_model_types_are_refused():
    blender = MetaBlender(schema=TOY_SCHEMA)
    blender.accumulate(small_exposure(wcs=False))
    cube = small_exposure(wcs=False)
    cube.model_type = "CubeModel"
    with pytest.raises(ValueError, match="CubeModel"):
        blender.accumulate(cube)


def test_nothing_accumulated_is_an_error():
    with pytest.raises(ValueError, match="no input"):
        MetaBlender(schema=TOY_SCHEMA).finalize()


# -- the table -----------------------------------------------------------------------------------------------------


def test_table_rows_per_input_missing_as_nan_and_empty_columns_dropped():
    blender = MetaBlender(schema=TOY_SCHEMA)
    blender.accumulate(_toy(5, 10.0, "NRCA1", flag=True))
    blender.accumulate(_toy(2, 20.0, "NRCA2"))  # no flag
    table = blender.table()
    assert table.dtype.names == ("T0", "DET", "FLAG"), "NONE: no input has it"
    assert table["T0"].dtype == np.int64 and list(table["T0"]) == [5, 2]
    assert table["DET"].dtype.kind == "U"
    # a bool column with a missing cell becomes float (1.0, NaN), as numpy makes it in jwst
    assert table["FLAG"].dtype == np.float64 and table["FLAG"][0] == 1.0 and np.isnan(table["FLAG"][1])


def test_text_column_with_a_missing_cell_holds_nan_text():
    blender = MetaBlender(schema={**TOY_SCHEMA, "columns": [["meta.a.flag", "FLAG"]]})
    blender.accumulate(_toy(1, 1.0, "X", flag="yes"))
    blender.accumulate(_toy(1, 1.0, "X"))
    assert list(blender.table()["FLAG"]) == ["yes", "nan"]


def test_hdrtab_extension_is_astropy_layout_with_logical_bools():
    blender = MetaBlender(schema=TOY_SCHEMA)
    blender.accumulate(_toy(5, 10.0, "NRCA1", flag=True))
    blender.accumulate(_toy(2, 20.0, "NRCA12", flag=False))
    header, data = hdrtab_extension(blender.table())
    assert [header[f"TFORM{k}"] for k in (1, 2, 3)] == ["K", "6A", "L"]
    assert (header["EXTNAME"], header["EXTVER"]) == (HDRTAB, 1)
    assert list(header)[-2:] == ["EXTNAME", "EXTVER"]
    assert len(data) == header["NAXIS1"] * header["NAXIS2"] == 2 * (8 + 6 + 1)
    assert data[14:15] == b"T" and data[29:30] == b"F"
    node = table_tree_node(header)
    assert node.data["source"] == "fits:HDRTAB,1" and node.data["shape"] == [2]
    assert [c["datatype"] for c in node.data["datatype"]] == ["int64", ["ascii", 6], "int8"]
    assert {c["byteorder"] for c in node.data["datatype"]} == {"big"}


def test_tree_node_is_none_for_vector_columns():
    header = fits.BinTableHDU.from_columns([fits.Column("V", format="3D", array=np.zeros((2, 3)))]).header
    header["EXTNAME"] = HDRTAB
    assert table_tree_node(header) is None


# -- applying the blend to the output ------------------------------------------------------------------------------


def test_apply_blended_sets_removes_creates_schema_levels_and_skips_unknown_ones():
    tree = {"a": {"x": 1, "gone": 2, "items": [10, 20]}}
    apply_blended(
        tree,
        {"meta.a.x": 5, "meta.a.gone": None, "meta.b.new": "made", "meta.c.lost": 1, "meta.a.items.1": 21,
         "meta.a.items.5": 99, "meta.top": "leaf"},
        objects={"meta.a", "meta.b"},
    )  # fmt: skip
    assert tree == {"a": {"x": 5, "items": [10, 21]}, "b": {"new": "made"}, "top": "leaf"}


def test_flat_meta_uses_dotted_names_and_skips_none():
    flat = flat_meta({"a": {"b": 1, "c": None, "d": ["x", "y"]}})
    assert flat == {"meta.a.b": 1, "meta.a.d.0": "x", "meta.a.d.1": "y"}


# -- the mosaic ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_inputs(tmp_path_factory):
    """Three small exposures on the same sky with different detectors and times, written as _cal files."""
    folder = tmp_path_factory.mktemp("blend_inputs")
    paths = []
    for k, detector in enumerate(("NRCA1", "NRCA1", "NRCA2")):
        exposure = small_exposure(seed=k, **{
            "instrument.detector": detector, "exposure.start_time": 60000.0 + k, "exposure.mid_time": 60000.0 + k,
            "exposure.end_time": 60000.01 + k, "observation.date_beg": f"2023-03-0{k + 1}T12:00:00.000",
            "observation.exposure_number": f"0000{k + 1}", "bunit_data": "MJy/sr", "bunit_err": "MJy/sr",
        })  # fmt: skip
        exposure.arrays["var_flat"] = np.zeros_like(exposure.arrays["var_rnoise"])
        exposure.meta.wcsinfo.s_region = s_region_imaging(exposure.wcs, exposure.shape)
        paths.append(write_exposure(exposure, folder / f"jw01345001001_02101_0000{k + 1}_nrca1_cal.fits"))
    return paths


def _mosaic(paths, tmp_path, **params):
    from gpucal.engine import CPU
    from gpucal.io.library import ExposureLibrary
    from gpucal.pipelines.resample import ResampleStep
    from gpucal.resample.mosaic import resample_library

    library = ExposureLibrary.open([str(p) for p in paths], tmp_path)
    try:
        return resample_library(ResampleStep.from_dict(params), library, CPU)
    finally:
        library.close()


def test_mosaic_blends_its_inputs_and_carries_hdrtab(three_inputs, tmp_path):
    mosaic = _mosaic(three_inputs, tmp_path)
    meta = mosaic.meta
    assert meta.instrument.detector == "MULTIPLE"
    assert meta.exposure.mid_time == pytest.approx(60001.0)
    assert meta.observation.date_beg == "2023-03-01T12:00:00.000"
    assert meta.cal_step.resample == "COMPLETE"
    path = write_exposure(mosaic, tmp_path / "x_i2d.fits")
    with fits.open(path) as hdul:
        assert [h.name for h in hdul][-2:] == [HDRTAB, "ASDF"]
        table = hdul[HDRTAB].data
        assert list(table["DETECTOR"]) == ["NRCA1", "NRCA1", "NRCA2"]
        assert list(table["EXPMID"]) == [60000.0, 60001.0, 60002.0]
        assert hdul[0].header["DETECTOR"] == "MULTIPLE"
    again = read_exposure(path, required=("data",))
    assert [str(h["EXTNAME"]) for h, _ in again.tables] == [HDRTAB]
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    with datamodels.open(path) as model:
        assert len(model.hdrtab) == 3
        assert list(model.hdrtab["EXPOSURE"]) == ["00001", "00002", "00003"]
        assert model.meta.instrument.detector == "MULTIPLE"


def test_mosaic_without_blendheaders_carries_the_first_inputs_meta_and_no_table(three_inputs, tmp_path):
    mosaic = _mosaic(three_inputs, tmp_path, blendheaders=False)
    assert mosaic.meta.instrument.detector == "NRCA1"
    assert mosaic.meta.exposure.mid_time == 60000.0
    assert mosaic.tables == []


# -- against jwst's own blender ------------------------------------------------------------------------------------


def test_same_blend_and_table_as_jwst_model_blender():
    blender_module = pytest.importorskip("jwst.model_blender.blender")
    datamodels = pytest.importorskip("stdatamodels.jwst.datamodels")
    metas = [
        nircam_meta(**{"instrument.detector": det, "exposure.mid_time": 60000.0 + k, "exposure.integration_start": k,
                       "observation.time": f"12:0{k}:00.000", "visit.tsovisit": bool(k % 2), "filename": f"f{k}.fits",
                       "target.ra": 53.0 + k if k else None})
        for k, det in enumerate(("NRCA1", "NRCB4", "NRCA1"))
    ]  # fmt: skip
    ours = MetaBlender(ignore=RESAMPLE_IGNORES)
    theirs = blender_module.ModelBlender(blend_ignore_attrs=list(RESAMPLE_IGNORES))
    for meta in metas:
        model = datamodels.ImageModel((4, 4))
        model.meta.instance.update(meta)
        theirs.accumulate(model)
        ours.accumulate(model.meta.instance)  # the very same tree, as a plain dict
    blended, table = ours.finalize()
    expected_meta = theirs._finalize_metadata()
    assert blended == expected_meta
    expected = theirs._finalize_table()
    assert table.dtype == expected.dtype
    for name in expected.dtype.names:
        np.testing.assert_array_equal(table[name], expected[name], err_msg=name)
