"""SourceCatalogStep on a simulated mosaic: products, reference selection, empty mosaic, bad references."""

import re

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable

from gpucal.errors import ParameterError, ReferenceFileError
from gpucal.io.exposure import read_exposure
from gpucal.io.refs import read_abvegaoffset, read_apcorr
from gpucal.pipelines.context import RunContext
from gpucal.pipelines.image3.source_catalog import SourceCatalogStep

pytest.importorskip("photutils")


def _ctx(tmp_path, ref_dir=None):
    return RunContext("cpu", tmp_path, "prod", ref_dir=ref_dir)


def test_local_reference_folder_selects_apcorr_and_abvegaoffset(mosaic, tmp_path):
    i2d, refs, ref_dir = mosaic
    ctx = _ctx(tmp_path, ref_dir)
    exposure = read_exposure(i2d, required=("data", "err"))
    step = SourceCatalogStep(save_results=True)
    assert step.reference("apcorr", exposure, ctx) == str(refs["apcorr"])
    assert step.reference("abvegaoffset", exposure, ctx) == str(refs["abvegaoffset"])
    result = step.run(exposure, ctx)
    cat_path, segm_path = tmp_path / "prod_cat.ecsv", tmp_path / "prod_segm.fits"
    assert result.paths == [cat_path, segm_path] and set(result.paths) <= set(ctx.written)
    table = QTable.read(cat_path)
    assert len(table) == result.n_sources >= 10
    assert table.colnames[:4] == ["label", "xcentroid", "ycentroid", "sky_centroid"]
    assert table.meta["abvega_offset"] == pytest.approx(
        read_abvegaoffset(refs["abvegaoffset"]).columns["abvega_offset"][
            list(read_abvegaoffset(refs["abvegaoffset"]).columns["filter"]).index("F200W")
        ]
    )
    vega = table["aper_total_abmag"] - table["aper_total_vegamag"]
    np.testing.assert_allclose(vega[np.isfinite(vega)], table.meta["abvega_offset"])
    assert ctx.timings[-1][0] == "source_catalog"
    with fits.open(segm_path) as hdul:
        assert hdul["SCI"].data.dtype == np.uint32 and hdul[0].header["DATAMODL"] == "SegmentationMapModel"
        assert set(np.unique(hdul["SCI"].data)) == set(range(len(table) + 1))
    assert not list(tmp_path.glob(".*part"))


def test_aperture_total_flux_is_apcorr_times_ee3_flux(mosaic, tmp_path):
    i2d, refs, _ = mosaic
    result = SourceCatalogStep(overrides={"apcorr": str(refs["apcorr"]), "abvegaoffset": str(refs["abvegaoffset"])}
                               ).run(read_exposure(i2d, required=("data", "err")), _ctx(tmp_path))  # fmt: skip
    table = result.table
    apcorr = read_apcorr(refs["apcorr"]).columns
    row = (apcorr["filter"] == "F200W") & (apcorr["pupil"] == "CLEAR") & (np.round(apcorr["eefraction"] * 100) == 70)
    np.testing.assert_allclose(table["aper_total_flux"].value, apcorr["apcorr"][row][0] * table["aper70_flux"].value,
                               rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(table["CI_70_30"], table["aper70_flux"] / table["aper30_flux"], rtol=1e-6)
    assert not result.paths  # save_results is False: nothing written
    assert not list(tmp_path.iterdir())


def test_empty_mosaic_writes_an_empty_catalog(mosaic, tmp_path):
    i2d, _refs, ref_dir = mosaic
    exposure = read_exposure(i2d, required=("data", "err"))
    rng = np.random.default_rng(1)
    exposure.data = rng.normal(0.0, 0.01, exposure.data.shape).astype(np.float32)
    full = SourceCatalogStep().run(read_exposure(i2d, required=("data", "err")), _ctx(tmp_path / "a", ref_dir))
    result = SourceCatalogStep(save_results=True).run(exposure, _ctx(tmp_path, ref_dir))
    assert result.n_sources == 0
    table = QTable.read(tmp_path / "prod_cat.ecsv")
    assert len(table) == 0 and table.colnames == full.table.colnames
    for name in table.colnames:
        assert getattr(result.table[name], "unit", None) == getattr(full.table[name], "unit", None), name
    with fits.open(tmp_path / "prod_segm.fits") as hdul:
        assert not hdul["SCI"].data.any()


def test_reference_for_another_filter_is_an_error_naming_the_file(mosaic, tmp_path):
    i2d, refs, _ = mosaic
    exposure = read_exposure(i2d, required=("data", "err"))
    exposure.meta.instrument.filter = "F444W"
    step = SourceCatalogStep(overrides={"apcorr": str(refs["apcorr"]), "abvegaoffset": str(refs["abvegaoffset"])})
    with pytest.raises(ReferenceFileError, match=str(refs["apcorr"]).replace(".", r"\.") + ".*F444W"):
        step.run(exposure, _ctx(tmp_path))
    exposure.meta.instrument.filter = "F200W"
    with pytest.raises(ReferenceFileError, match="encircled energy 35"):
        step.replace(aperture_ee1=35).run(exposure, _ctx(tmp_path))


def test_not_applicable_references_use_jwst_fallbacks(mosaic, tmp_path):
    i2d, _, _ = mosaic
    step = SourceCatalogStep(overrides={"apcorr": "N/A", "abvegaoffset": "N/A"})
    table = step.run(read_exposure(i2d, required=("data", "err")), _ctx(tmp_path)).table
    assert "aper1_flux" in table.colnames and "aper3_flux" in table.colnames
    np.testing.assert_allclose(table["aper_total_flux"].value, table["aper3_flux"].value)
    np.testing.assert_array_equal(table["aper_total_abmag"], table["aper_total_vegamag"])


def test_parameters_are_validated_and_used(mosaic, tmp_path):
    i2d, _refs, ref_dir = mosaic
    with pytest.raises(ParameterError, match="connectivity"):
        SourceCatalogStep.from_dict({"connectivity": 6})
    with pytest.raises(ParameterError, match="aperture_ee"):
        SourceCatalogStep(aperture_ee1=60)
    with pytest.raises(ParameterError, match="starfinder"):
        SourceCatalogStep.from_dict({"starfinder": "sextractor"})
    exposure = read_exposure(i2d, required=("data", "err"))
    default = SourceCatalogStep().run(exposure, _ctx(tmp_path, ref_dir))
    strict = SourceCatalogStep(snr_threshold=20.0).run(exposure, _ctx(tmp_path, ref_dir))
    assert 0 < strict.n_sources < default.n_sources
    dao = SourceCatalogStep(starfinder="dao", roundlo=-1.0, roundhi=1.0, sharplo=0.2, sharphi=1.0).run(
        exposure, _ctx(tmp_path, ref_dir))  # fmt: skip
    assert dao.segmentation is None and dao.n_sources > 0
    assert dao.table.colnames == default.table.colnames


@pytest.mark.parametrize("reftype", ["apcorr", "abvegaoffset"])
def test_image3_stops_before_its_first_step_on_a_reference_for_another_filter(catalog_set, tmp_path, monkeypatch,
                                                                              reftype):  # fmt: skip
    """A long-wavelength reference for the F200W mosaic: exit code 5 naming the file, before tweakreg runs."""
    from gpucal.pipelines.image3 import Image3Pipeline
    from gpucal.pipelines.image3.tweakreg import TweakRegStep
    from gpucal.sim import make_reference_files

    other = make_reference_files(tmp_path / "lw", detector="nrcalong", filter="f444w")[reftype]

    def tweakreg_ran(*args, **kwargs):
        raise AssertionError("tweakreg ran: the reference was not checked first")

    monkeypatch.setattr(TweakRegStep, "run", tweakreg_ran)
    steps = {"source_catalog": {f"override_{reftype}": str(other)}}
    with pytest.raises(ReferenceFileError, match=re.escape(str(other)) + ".*F200W") as info:
        Image3Pipeline.call(str(catalog_set["asn"]), device="cpu", ref_dir=catalog_set["ref_dir"], steps=steps,
                            save_results=True, output_dir=str(tmp_path / "out"))  # fmt: skip
    assert info.value.exit_code == 5
    assert not list((tmp_path / "out").glob("*.fits"))


def test_gpucal_image3_exits_5_with_one_line_naming_the_reference(catalog_set, tmp_path, capsys):
    from gpucal.cli import main
    from gpucal.sim import make_reference_files

    other = make_reference_files(tmp_path / "lw", detector="nrcalong", filter="f444w")["apcorr"]
    code = main(["image3", str(catalog_set["asn"]), "--device", "cpu", "--ref-dir", catalog_set["ref_dir"],
                 "--output-dir", str(tmp_path / "out"), f"--steps.source_catalog.override_apcorr={other}"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 5
    assert len(err) == 1 and str(other) in err[0] and "F200W" in err[0]
