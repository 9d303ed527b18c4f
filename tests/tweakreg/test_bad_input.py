"""tweakreg's bad input on two exposures whose footprints do not overlap (a 6-exposure 64-pixel dither set).

Checked, as jwst 3.0 behaves: too few sources (the step says so, records FAILED, leaves every WCS as it was);
exposures with no overlap (tweakwcs finds no match, so nothing is corrected, and the step records COMPLETE as
jwst's does); an absolute reference catalog without RA/DEC (an error naming the file, exit code 4). The parity
test at the end runs jwst's step on the same non-overlapping pair.
"""

import json
import logging
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from astropy.table import Table

from gpucal.engine import select_device
from gpucal.errors import InputFileError
from gpucal.io.asn import make_image3_asn, write_asn
from gpucal.io.library import ExposureLibrary
from gpucal.pipelines.context import RunContext
from gpucal.pipelines.image2 import Image2Pipeline
from gpucal.pipelines.image3.tweakreg import TweakRegStep
from gpucal.sim import simulate

SIZE = 64
#: Exposures 5 and 6 of the simulator's dither spiral: at 64 pixels (2") they lie ~3.6" apart, beyond searchrad.
PAIR = (4, 5)
GRID = [[x, y] for x in np.linspace(0, SIZE - 1, 4) for y in np.linspace(0, SIZE - 1, 4)]
FRAMES = ["detector", "v2v3", "v2v3vacorr", "world"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Two calibrated exposures that do not overlap, their association, and 30-source custom catalogs of each."""
    root = tmp_path_factory.mktemp("no_overlap")
    sim = simulate(root / "sim", exposures=6, backgrounds=0, size=SIZE, seed=2)
    ref_dir = str(next(iter(sim.references.values())).parent)
    cal = root / "cal"
    names = []
    for index in PAIR:
        Image2Pipeline.call(str(sim.science[index]), device="cpu", save_results=True, output_dir=str(cal),
                            ref_dir=ref_dir, steps={"resample": {"skip": True}})  # fmt: skip
        names.append(sim.science[index].name.replace("_rate", "_cal"))
    asn = write_asn(make_image3_asn("jw00001-o001_t001_nircam_clear-f200w", names, asn_id="o001"),
                    cal / "image3_asn.json")  # fmt: skip
    rng = np.random.default_rng(4)
    lines = []
    for name in names:
        catalog = root / name.replace(".fits", "_mycat.ecsv")
        Table({"x": rng.uniform(3, SIZE - 4, 30), "y": rng.uniform(3, SIZE - 4, 30)}).write(catalog)
        lines.append(f"{name} {catalog.name}")
    catfile = root / "catfile.txt"
    catfile.write_text("\n".join(lines) + "\n")
    return {"root": root, "asn": asn, "catfile": catfile}


def _run(pair, params, label):
    out = pair["root"] / label
    out.mkdir(exist_ok=True)
    library = ExposureLibrary.open(str(pair["asn"]), out)
    original = ExposureLibrary.open(str(pair["asn"]), out)
    TweakRegStep.from_dict(params).run(library, RunContext(select_device("cpu"), out, "product"))
    return library, original


def _grid_sky(library):
    grid = np.asarray(GRID, float)
    return [np.array(m.wcs(grid[:, 0], grid[:, 1])) for m in library]


def test_the_pair_does_not_overlap(pair):
    library = ExposureLibrary.open(str(pair["asn"]), pair["root"])
    try:
        corners = library[1].wcs.footprint()
        x, y = library[0].wcs.invert(corners[:, 0], corners[:, 1], with_bounding_box=False)
        assert np.all(x > SIZE + 60) or np.all(x < -60) or np.all(y > SIZE + 60) or np.all(y < -60)
    finally:
        library.close()


def test_too_few_sources_is_logged_and_leaves_every_wcs_unchanged(pair, caplog):
    with caplog.at_level(logging.INFO, logger="gpucal"):
        library, original = _run(pair, {"snr_threshold": 1e6}, "no_sources")
    try:
        assert [m.meta.cal_step.tweakreg for m in library] == ["FAILED", "FAILED"]
        assert all(m.wcs.available_frames == FRAMES for m in library)
        for ours, before in zip(_grid_sky(library), _grid_sky(original), strict=True):
            np.testing.assert_array_equal(ours, before)
        assert "no sources found" in caplog.text and "left unchanged" in caplog.text
    finally:
        library.close()
        original.close()


def test_exposures_with_no_overlap_are_not_corrected_and_recorded_as_jwst_does(pair, caplog):
    params = {"use_custom_catalogs": True, "catfile": str(pair["catfile"]), "minobj": 5}
    with caplog.at_level(logging.INFO):
        library, original = _run(pair, params, "no_overlap")
    try:
        assert [m.meta.cal_step.tweakreg for m in library] == ["COMPLETE", "COMPLETE"]
        assert all(m.wcs.available_frames == FRAMES for m in library)
        for ours, before in zip(_grid_sky(library), _grid_sky(original), strict=True):
            np.testing.assert_array_equal(ours, before)
        assert "Not enough matches (0)" in caplog.text
    finally:
        library.close()
        original.close()


def test_absolute_catalog_without_sky_columns_is_an_error_naming_it(pair):
    bad = pair["root"] / "pixels_only.ecsv"
    Table({"x": [1.0, 2.0], "y": [3.0, 4.0]}).write(bad, overwrite=True)
    library = ExposureLibrary.open(str(pair["asn"]), pair["root"])
    try:
        with pytest.raises(InputFileError, match=r"pixels_only\.ecsv: .*neither RA/DEC nor sky_centroid") as info:
            TweakRegStep(abs_refcat=str(bad)).run(library, RunContext(select_device("cpu"), pair["root"], "p"))
        assert info.value.exit_code == 4
        assert all(m.meta.cal_step.tweakreg in (None, "") for m in library)
    finally:
        library.close()


@pytest.mark.parity
def test_no_overlap_matches_jwst(pair):
    pytest.importorskip("jwst")
    from tests.jwst_offline import crds_environment

    params = {"use_custom_catalogs": True, "catfile": str(pair["catfile"]), "minobj": 5}
    work = pair["root"] / "jwst"
    work.mkdir(exist_ok=True)
    request = {"asn": str(pair["asn"]), "params": params, "grid": GRID, "output": str(work / "result.json"),
               "output_dir": str(work)}  # fmt: skip
    (work / "request.json").write_text(json.dumps(request))
    script = pathlib.Path(__file__).with_name("_jwst_tweakreg.py")
    done = subprocess.run([sys.executable, str(script), str(work / "request.json")], capture_output=True, text=True,
                          env={**os.environ, **crds_environment(work / "crds")}, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    theirs = json.loads((work / "result.json").read_text())
    library, _ = _run(pair, params, "no_overlap_parity")
    try:
        for member, record, sky in zip(library, theirs, _grid_sky(library), strict=True):
            assert member.name == record["filename"]
            assert member.meta.cal_step.tweakreg == record["s_twkreg"]
            assert list(member.wcs.available_frames) == record["frames"]
            np.testing.assert_allclose(sky, [record["ra"], record["dec"]], rtol=0, atol=1e-12)
    finally:
        library.close()
