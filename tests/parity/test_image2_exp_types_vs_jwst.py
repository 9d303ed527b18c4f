"""calwebb_image2 on every imaging EXP_TYPE of the official table: gpucal vs jwst 3.0.

For each instrument, one simulated exposure of each of its image2 exposure
types (``gpucal.sim.modes``; NRC_IMAGE, MIR_IMAGE and NIS_IMAGE/FGS_IMAGE
have their own cases in test_image2_vs_jwst.py) goes into one image2
association of several products, so that jwst runs once per instrument:
coronagraphic, time-series and aperture-masking exposures as ``_rateints``
cubes (``_calints``), the others as ``_rate`` images. All exposures of an
instrument share one detector and filter, since one jwst run shares its
reference overrides. Checked: every ``_cal``/``_calints`` as in
test_image2_vs_jwst.py (arrays to 1e-6 with DQ identical, WCS, keywords), an
``_i2d`` exactly for the exposure types jwst resamples (FGS_IMAGE and
NIS_IMAGE here) and equal to jwst's, NIRISS's skipped photom on a cube, on
the CPU and in the CUDA path (numba's simulator without a GPU; its slow
drizzle is left to test_image2_vs_jwst.py).
"""

import dataclasses

import pytest
from astropy.io import fits

from gpucal.io.asn import Association, Member, Product, write_asn
from gpucal.io.exposure import read_exposure, write_exposure
from gpucal.pipelines.image2 import Image2Pipeline
from gpucal.pipelines.image2.exp_types import RESAMPLED_EXP_TYPES
from gpucal.sim.modes import simulate_mode
from tests.jwst_offline import image2_step_options, run_image2
from tests.parity._compare import assert_i2d_match, assert_keywords_match
from tests.parity.test_image2_vs_jwst import I2D_KEYWORDS, _compare_cal


@dataclasses.dataclass(frozen=True)
class Setup:
    """One instrument's exposures: shared detector, filter and size; (EXP_TYPE, integrations) per product."""

    detector: str
    filter: str
    size: int
    modes: tuple


SETUPS = {
    "nircam": Setup("nrcalong", "f335m", 64, (("NRC_TSIMAGE", 2), ("NRC_CORON", 2), ("NRC_TACQ", 1),
                                              ("NRC_TACONFIRM", 1), ("NRC_FOCUS", 1))),
    "miri": Setup("mirimage", "f1130w", 64, (("MIR_LYOT", 2), ("MIR_4QPM", 1), ("MIR_CORONCAL", 1), ("MIR_TACQ", 1),
                                             ("MIR_TACONFIRM", 1))),
    "niriss": Setup("nis", "f480m-nrm", 80, (("NIS_AMI", 2), ("NIS_IMAGE", 1), ("NIS_TACQ", 1), ("NIS_TACONFIRM", 1),
                                             ("NIS_FOCUS", 1))),
    "fgs": Setup("guider1", "clear", 64, (("FGS_IMAGE", 1), ("FGS_FOCUS", 1))),
}  # fmt: skip


@dataclasses.dataclass
class ModeRun:
    """An instrument's association, its references, what each product is, and jwst's run."""

    asn: object
    references: dict
    products: dict  # product name -> (EXP_TYPE, is a cube)
    jwst: object


@pytest.fixture(scope="module", params=list(SETUPS))
def mode_run(request, tmp_path_factory):
    instrument = request.param
    setup = SETUPS[instrument]
    root = tmp_path_factory.mktemp(f"modes_{instrument}")
    folder = root / "asn"
    folder.mkdir()
    products, members, references = {}, [], None
    for k, (exp_type, nints) in enumerate(setup.modes, start=1):
        sim = simulate_mode(root / "sim" / exp_type, exp_type, detector=setup.detector, filter=setup.filter,
                            size=setup.size, nints=nints, seed=30 + k)  # fmt: skip
        references = references or sim.references
        cube = nints > 1
        source = (sim.science_ints if cube else sim.science)[0]
        name = f"jw00001001001_02101_{k:05d}_{setup.detector}"
        # Distinct exposure numbers: every simulation has the same identifiers.
        write_exposure(read_exposure(source), folder / f"{name}_{'rateints' if cube else 'rate'}.fits")
        members.append(Product(name, [Member(f"{name}_{'rateints' if cube else 'rate'}.fits", "science")]))
        products[name] = (exp_type, cube)
    asn = write_asn(Association("image2", "o001", members, asn_pool="jw00001_pool", asn_rule="Asn_Lv2Image"),
                    folder / f"jw00001-o001_{instrument}_image2_asn.json")  # fmt: skip
    jwst = run_image2(asn, references, root / "jwst")
    assert jwst.returncode == 0, jwst.log[-3000:]
    return ModeRun(asn, references, products, jwst)


def _check_products(run, out, *, resampled):
    theirs_i2d = {p.name: p for p in run.jwst.products("i2d")}
    for name, (exp_type, cube) in run.products.items():
        suffix = "calints" if cube else "cal"
        theirs = next(p for p in run.jwst.outputs if p.name == f"{name}_{suffix}.fits")
        ours = out / theirs.name
        _compare_cal(ours, theirs)
        assert_keywords_match(ours, theirs, ["PRIMARY:EXP_TYPE", "PRIMARY:SUBARRAY", "PRIMARY:TSOVISIT"])
        with fits.open(theirs) as cal, fits.open(ours) as mine:
            assert [h.name for h in mine] == [h.name for h in cal]  # a cube's INT_TIMES kept, where jwst has it
            if "INT_TIMES" in cal:
                assert mine["INT_TIMES"].data.tobytes() == cal["INT_TIMES"].data.tobytes()
        with fits.open(theirs) as cal:
            assert cal["PRIMARY"].header["EXP_TYPE"] == exp_type
            photom = "SKIPPED" if (cube and exp_type.startswith("NIS_")) else "COMPLETE"
            assert cal["PRIMARY"].header["S_PHOTOM"] == photom  # jwst's NIRISS photom refuses a cube
        # jwst resamples exactly the 2-D science imaging types; gpucal does the same.
        expected = exp_type in RESAMPLED_EXP_TYPES and not cube
        assert (f"{name}_i2d.fits" in theirs_i2d) == expected, exp_type
        if resampled:
            assert (out / f"{name}_i2d.fits").exists() == expected, exp_type
            if expected:
                theirs = theirs_i2d[f"{name}_i2d.fits"]
                assert_i2d_match(out / theirs.name, theirs)
                assert_keywords_match(out / theirs.name, theirs, I2D_KEYWORDS)


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_every_image2_exposure_type_matches_jwst(mode_run, device, tmp_path):
    out = tmp_path / "ours"
    resample = device == "cpu"
    steps = image2_step_options(mode_run.references, {"resample": {"skip": not resample}})
    results = Image2Pipeline.call(str(mode_run.asn), steps=steps, device=device, save_results=True,
                                  output_dir=str(out))  # fmt: skip
    assert len(results) == len(mode_run.products)
    _check_products(mode_run, out, resampled=resample)
