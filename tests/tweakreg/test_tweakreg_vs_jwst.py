"""tweakreg vs jwst 3.0 and vs the simulator's truth, on a simulated 3-exposure NIRCam dither set.

The simulator injects pointing errors (0.10-0.15", plus small roll errors) into the headers. gpucal's image2
makes the ``_cal`` files; jwst's TweakRegStep runs on them offline in a subprocess (``_jwst_tweakreg.py``), and
gpucal's step on the same files. Checked: the corrected WCSs (at a grid of detector points), S_TWKREG, S_REGION,
the SIP keywords and the gwcs frames against jwst's; the recovered relative (and, with a reference catalog file,
absolute) pointing errors against the injected ones; the saved catalogs; a rerun; the too-few-sources case.
"""

import copy
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from astropy.table import Table

from gpucal.engine import select_device
from gpucal.io.asn import make_image3_asn, write_asn
from gpucal.io.library import ExposureLibrary
from gpucal.pipelines.context import RunContext
from gpucal.pipelines.image2 import Image2Pipeline
from gpucal.pipelines.image3.tweakreg import TweakRegStep
from gpucal.sim import simulate
from tests.jwst_offline import crds_environment, image2_step_options

pytestmark = pytest.mark.parity
pytest.importorskip("jwst")

SIZE = 512
#: 11-15 matched sources per pair at this size: jwst's minobj=15 would reject one pair (also tested below).
RELATIVE = {"minobj": 8, "save_catalogs": True}
GRID = [[x, y] for x in np.linspace(0, SIZE - 1, 7) for y in np.linspace(0, SIZE - 1, 7)]
MAS = 3.6e6


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("tweakreg")
    sim = simulate(root / "sim", exposures=3, backgrounds=0, size=SIZE, seed=5)
    steps = image2_step_options(sim.references, {"resample": {"skip": True}})
    cal = root / "cal"
    for rate in sim.science:
        Image2Pipeline.call(str(rate), steps=steps, device="cpu", save_results=True, output_dir=str(cal))
    names = [rate.name.replace("_rate", "_cal") for rate in sim.science]
    asn = write_asn(make_image3_asn("jw00001-o001_t001_nircam_clear-f200w", names, asn_id="o001"),
                    cal / "image3_asn.json")  # fmt: skip
    sources = Table.read(sim.truth_catalog)
    refcat = root / "refcat.ecsv"  # a Gaia-like catalog: the true positions of the stars
    sources[sources["type"] == "star"][["id", "ra", "dec"]].write(refcat, format="ascii.ecsv")
    return {"root": root, "asn": asn, "sim": sim, "refcat": refcat}


def _run_jwst(dataset, params, label):
    work = dataset["root"] / f"jwst_{label}"
    work.mkdir()
    request = {"asn": str(dataset["asn"]), "params": params, "grid": GRID, "output": str(work / "result.json"),
               "output_dir": str(work)}  # fmt: skip
    (work / "request.json").write_text(json.dumps(request))
    script = pathlib.Path(__file__).with_name("_jwst_tweakreg.py")
    done = subprocess.run([sys.executable, str(script), str(work / "request.json")], capture_output=True, text=True,
                          env={**os.environ, **crds_environment(work / "crds")}, timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return work, json.loads((work / "result.json").read_text())


def _run_ours(dataset, params, label, library=None):
    out = dataset["root"] / f"ours_{label}"
    out.mkdir(exist_ok=True)
    library = library or ExposureLibrary.open(str(dataset["asn"]), out)
    ctx = RunContext(select_device("cpu"), out, "product")
    TweakRegStep.from_dict(params).run(library, ctx)
    return out, library


@pytest.fixture(scope="module")
def relative(dataset):
    jwst_dir, theirs = _run_jwst(dataset, RELATIVE, "relative")
    out, library = _run_ours(dataset, RELATIVE, "relative")
    original = [copy.deepcopy(ExposureLibrary.open(str(dataset["asn"]), out)[k].wcs) for k in range(len(library))]
    yield {"jwst_dir": jwst_dir, "theirs": theirs, "out": out, "library": library, "original": original}
    library.close()


def _separation_mas(ra1, dec1, ra2, dec2):
    ra1, dec1, ra2, dec2 = (np.radians(np.asarray(v, float)) for v in (ra1, dec1, ra2, dec2))
    # haversine: accurate at micro-arcsecond separations (arccos of the dot product is not)
    h = np.sin((dec2 - dec1) / 2) ** 2 + np.cos(dec1) * np.cos(dec2) * np.sin((ra2 - ra1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(h))) * MAS


def _assert_wcs_match(library, theirs, limit_mas=2.0):
    grid = np.asarray(GRID, float)
    worst = 0.0
    for member, record in zip(library, theirs, strict=True):
        assert member.name == record["filename"]
        ra, dec = member.wcs(grid[:, 0], grid[:, 1])
        worst = max(worst, float(_separation_mas(ra, dec, record["ra"], record["dec"]).max()))
        assert list(member.wcs.available_frames) == record["frames"], member.name
        assert member.meta.cal_step.tweakreg == record["s_twkreg"], member.name
    assert worst <= limit_mas, f"corrected WCS differs from jwst's by up to {worst:.4f} mas"
    return worst


def test_corrected_wcs_matches_jwst(relative):
    _assert_wcs_match(relative["library"], relative["theirs"])
    frames = [m.wcs.available_frames for m in relative["library"]]
    assert frames[0] == ["detector", "v2v3", "v2v3vacorr", "world"], "the reference group is not corrected"
    assert all(f == ["detector", "v2v3", "v2v3vacorr", "v2v3corr", "world"] for f in frames[1:])
    assert all(m.meta.cal_step.tweakreg == "COMPLETE" for m in relative["library"])


def test_s_region_and_sip_keywords_match_jwst(relative):
    for member, record in zip(relative["library"], relative["theirs"], strict=True):
        assert member.meta.wcsinfo.s_region == record["s_region"], member.name
        ours = member.meta.wcsinfo.to_dict()
        assert {k for k in ours if isinstance(ours[k], (int, float, str))} == set(record["wcsinfo"]), member.name
        for key, value in record["wcsinfo"].items():
            if isinstance(value, str):
                assert ours[key] == value, (member.name, key)
            else:
                assert ours[key] == pytest.approx(value, rel=1e-9, abs=1e-12), (member.name, key)


def _truth_offsets(library, wcs_list, sim):
    """Median (east, north) mas of each exposure's sky positions of the true sources minus exposure 0's header WCS.

    Only sources inside both exposures count; each source's true pixel position in each exposure comes from the
    simulator's truth catalog.
    """
    sources = Table.read(sim.truth_catalog)
    positions = []
    for member in library:
        root = member.name.replace("_cal.fits", "")
        positions.append((np.asarray(sources[f"x_{root}"]), np.asarray(sources[f"y_{root}"])))

    def inside(x, y):
        return (x > 0) & (x < SIZE - 1) & (y > 0) & (y < SIZE - 1)

    offsets = []
    for wcs, (x, y) in zip(wcs_list, positions, strict=True):
        both = inside(x, y) & inside(*positions[0])
        assert both.sum() >= 10
        ra0, dec0 = wcs_list[0](positions[0][0][both], positions[0][1][both])
        ra, dec = wcs(x[both], y[both])
        east = (ra - ra0) * np.cos(np.radians(dec0)) * MAS
        offsets.append((float(np.median(east)), float(np.median((dec - dec0) * MAS))))
    return np.array(offsets)


def test_recovered_pointing_errors_match_the_truth(relative, dataset):
    truth = Table.read(dataset["sim"].truth_pointings)
    injected = np.column_stack([truth["error_east"], truth["error_north"]])
    injected = injected - injected[0]
    assert np.abs(injected[1:]).max() > 30, "the simulation should inject errors worth correcting"
    library = relative["library"]
    before = _truth_offsets(library, relative["original"], dataset["sim"])
    np.testing.assert_allclose(before, injected, atol=2.0)  # the check itself sees the injected errors
    after = _truth_offsets(library, [m.wcs for m in library], dataset["sim"])
    recovered = before - after
    assert np.abs(recovered - injected).max() <= 5.0, f"recovered {recovered.tolist()} vs injected {injected.tolist()}"


def test_no_rotation_or_shift_left_anywhere_on_the_overlap(relative, dataset):
    """Source by source, not only at the middle: a spurious rotation would show at the edges.

    Every true source an exposure shares with the first lands, through the corrected WCSs, within 5 mas of where the
    first exposure puts it, and the recovered shifts are within 5 mas of the injected ones (0.10-0.15").
    """
    from gpucal.report.truth import exposure_root, pointing_recovery

    sim = dataset["sim"]
    library = relative["library"]
    roots = [exposure_root(member.name) for member in library]
    shapes = {root: (SIZE, SIZE) for root in roots}
    before = dict(zip(roots, relative["original"], strict=True))
    after = {root: member.wcs for root, member in zip(roots, library, strict=True)}
    recovery = pointing_recovery(Table.read(sim.truth_catalog), Table.read(sim.truth_pointings), before, after, shapes)
    injected = [math.hypot(*row["injected"]) for row in recovery.relative()[1:]]
    assert min(injected) > 30.0, "the simulation should inject errors worth correcting"
    assert all(item.n_common >= 10 for item in recovery.exposures[1:])
    print(f"recovered within {recovery.max_error_mas:.2f} mas; misaligned by up to {recovery.max_misalignment_mas:.2f}")
    assert recovery.max_error_mas <= 5.0
    assert recovery.max_misalignment_mas <= 5.0


def test_catalogs_are_saved_as_jwst_saves_them(relative):
    for member, record in zip(relative["library"], relative["theirs"], strict=True):
        name = member.name.replace(".fits", "_cat.ecsv")
        assert member.meta.tweakreg_catalog == record["tweakreg_catalog"] == name
        ours = Table.read(relative["out"] / name)
        theirs = Table.read(relative["jwst_dir"] / name)
        assert ours.colnames == theirs.colnames == ["id", "x", "y", "flux"]
        assert len(ours) == len(theirs) > 10
        for column in ours.colnames:
            np.testing.assert_array_equal(np.asarray(ours[column]), np.asarray(theirs[column]))


def test_rerun_composes_the_correction(relative, dataset):
    library = relative["library"]
    grid = np.asarray(GRID, float)
    first = [m.wcs(grid[:, 0], grid[:, 1]) for m in library]
    _run_ours(dataset, {"minobj": 8}, "rerun", library=library)
    for member, (ra, dec) in zip(library, first, strict=True):
        assert member.wcs.available_frames.count("v2v3corr") <= 1
        again = member.wcs(grid[:, 0], grid[:, 1])
        assert _separation_mas(*again, ra, dec).max() < 1.0, member.name


def test_too_few_sources_leaves_the_wcs_unchanged(dataset, caplog):
    params = {"snr_threshold": 1e6}
    _, theirs = _run_jwst(dataset, params, "no_sources")
    _, library = _run_ours(dataset, params, "no_sources")
    try:
        assert [m.meta.cal_step.tweakreg for m in library] == [r["s_twkreg"] for r in theirs] == ["FAILED"] * 3
        assert all(m.wcs.available_frames == ["detector", "v2v3", "v2v3vacorr", "world"] for m in library)
        assert "no sources found" in caplog.text and "left unchanged" in caplog.text
        _assert_wcs_match(library, theirs, limit_mas=1e-6)
    finally:
        library.close()


def test_too_few_matches_for_one_group_is_as_jwst(dataset):
    """jwst's default minobj=15: one pair has 11 matches, so only that exposure keeps its WCS."""
    _, theirs = _run_jwst(dataset, {}, "default")
    _, library = _run_ours(dataset, {}, "default")
    try:
        _assert_wcs_match(library, theirs)
        frames = [m.wcs.available_frames.count("v2v3corr") for m in library]
        assert frames == [len(r["frames"]) - 4 for r in theirs]
        assert 0 in frames[1:]
    finally:
        library.close()


def test_absolute_alignment_to_a_catalog_file(dataset):
    params = {"abs_refcat": str(dataset["refcat"]), "minobj": 8, "abs_minobj": 8}
    _, theirs = _run_jwst(dataset, params, "absolute")
    _, library = _run_ours(dataset, params, "absolute")
    try:
        _assert_wcs_match(library, theirs)
        for member, record in zip(library, theirs, strict=True):
            assert member.wcs.name == record["wcs_name"] == f"FIT-LVL3-{dataset['refcat']}"
            assert member.meta.wcsinfo.s_region == record["s_region"]
        # Against the truth: every exposure's stars now land on their true positions.
        sources = Table.read(dataset["sim"].truth_catalog)
        sources = sources[sources["type"] == "star"]
        for member in library:
            root = member.name.replace("_cal.fits", "")
            x, y = np.asarray(sources[f"x_{root}"]), np.asarray(sources[f"y_{root}"])
            inside = (x > 0) & (x < SIZE - 1) & (y > 0) & (y < SIZE - 1)
            ra, dec = member.wcs(x[inside], y[inside])
            error = np.median(_separation_mas(ra, dec, sources["ra"][inside], sources["dec"][inside]))
            print(f"{member.name}: median distance to the true star positions {error:.2f} mas")
            assert error <= 5.0, f"{member.name}: median error {error:.2f} mas after the absolute fit"
    finally:
        library.close()
