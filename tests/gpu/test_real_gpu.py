"""The GPU tier: runs on a real CUDA device (marker ``gpu``; skipped without one).

The kernel parity suite already runs every CUDA form on a real GPU when one is present (see
``tests/conftest.py``); these tests add what the simulator cannot show, each assertion able to fail (the helpers'
self-check, tests/gpu/test_checks.py, runs on the CPU):

* the exposure's arrays are CuPy arrays as every image2 step starts and ends (nothing falls back to the host);
* the CUDA path against gpucal's CPU path and against jwst 3.0 on the same inputs and references (every one
  overridden, as the parity tier does), with integer planes (DQ, CON) compared exactly and floating-point planes
  to the tolerances written beside each rule;
* run-to-run bitwise reproducibility of the CUDA drizzle.

Every CUDA run passes ``require_gpu=True``, so a GPU that is not usable fails the run instead of quietly
comparing the CPU path with itself.
"""

import dataclasses
import pathlib

import numpy as np
import pytest
from astropy.io import fits

from tests.gpu._checks import DeviceResidency, assert_close, assert_identical, compare_products

pytestmark = pytest.mark.gpu

IMAGE2_STEPS = ("bkg_subtract", "assign_wcs", "flat_field", "photom", "resample")
CAL_FLOATS = ("SCI", "ERR", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT", "AREA")
VARIANCES = ("ERR", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT")

#: _cal, CUDA vs CPU: every array identical (per-pixel kernels, no reductions: measured bit-identical on an H200).
CAL_VS_CPU = {"DQ": "identical", **dict.fromkeys(CAL_FLOATS, "identical")}
#: _cal vs jwst: the parity tier's criteria (DQ identical, floats within 1e-6 relative at every pixel).
CAL_VS_JWST = {"DQ": "identical", **{name: {"max_rel": 1e-6} for name in CAL_FLOATS}}
#: _i2d, CUDA vs CPU. The GPU contracts multiply-adds (FMA), which moves drizzled values by a few ulps: SCI (which
#: crosses zero after background subtraction) by relative RMS and per pixel within 1e-4 relative + 1e-6 absolute;
#: the positive planes (WHT, ERR, VAR_*) per pixel within 1e-5 relative. CON identical.
I2D_VS_CPU = {
    "CON": "identical",
    "SCI": {"rel_rms": 1e-4, "rtol": 1e-4, "atol": 1e-6},
    "WHT": {"max_rel": 1e-5},
    **{name: {"max_rel": 1e-5} for name in VARIANCES},
}
#: _i2d vs jwst (image2): the parity tier's criteria, with SCI at 1e-4 relative RMS on a real GPU (the FMA
#: difference above; the CPU path meets 1e-5). CON identical.
I2D_VS_JWST = {
    "CON": "identical",
    "SCI": {"rel_rms": 1e-4},
    "WHT": {"rel_rms": 1e-5},
    **{name: {"rel_rms": 1e-4} for name in VARIANCES},
}
#: image3 _crf: the OUTLIER and DO_NOT_USE bits outlier detection sets.
OUTLIER = np.uint32(1 | 16)
#: The image3 steps left out when comparing with jwst (as in tests/parity/test_image3_vs_jwst.py).
SKIP_UNIMPLEMENTED = {"tweakreg": {"skip": True}, "source_catalog": {"skip": True}}


@dataclasses.dataclass
class Image2Run:
    result: object
    folder: pathlib.Path
    residency: DeviceResidency

    def product(self, suffix):
        (path,) = [pathlib.Path(p) for p in self.result.written if str(p).endswith(f"_{suffix}.fits")]
        return path


@pytest.fixture(scope="module")
def observation(tmp_path_factory):
    from gpucal.sim import simulate

    return simulate(tmp_path_factory.mktemp("gpu_sim"), exposures=1, backgrounds=1, size=1024, seed=3)


@pytest.fixture(scope="module")
def image2_steps(observation):
    """The step options jwst gets (every reference overridden), resample included."""
    from tests.jwst_offline import image2_step_options

    return image2_step_options(observation.references, {"resample": {"skip": False}})


def _image2(observation, steps, device, folder):
    from gpucal.pipelines.image2 import Image2Pipeline

    residency = DeviceResidency()
    options = {"steps": steps, "device": device, "require_gpu": device != "cpu", "save_results": True}
    with residency.watching():
        (result,) = Image2Pipeline.call(str(observation.image2_asn[0]), output_dir=str(folder), **options)
    return Image2Run(result, folder, residency)


@pytest.fixture(scope="module")
def image2_runs(observation, image2_steps, tmp_path_factory):
    root = tmp_path_factory.mktemp("image2_runs")
    return {device: _image2(observation, image2_steps, device, root / device) for device in ("cpu", "cuda")}


def test_image2_arrays_stay_on_the_device(image2_runs):
    image2_runs["cuda"].residency.assert_on_device(IMAGE2_STEPS)
    cpu_records = image2_runs["cpu"].residency.records
    assert cpu_records and all(kinds == {"host"} for _, _, kinds in cpu_records), "the watcher saw no host arrays"


def test_image2_cuda_matches_cpu(image2_runs):
    cpu, cuda = image2_runs["cpu"], image2_runs["cuda"]
    compare_products(cuda.product("cal"), cpu.product("cal"), CAL_VS_CPU)
    compare_products(cuda.product("i2d"), cpu.product("i2d"), I2D_VS_CPU, where_ext="WHT")


def test_image2_cuda_matches_jwst(observation, image2_runs, tmp_path):
    pytest.importorskip("jwst")
    from tests.jwst_offline import run_image2

    run = run_image2(observation.image2_asn[0], observation.references, tmp_path / "jwst")
    assert run.returncode == 0, run.log[-3000:]
    cuda = image2_runs["cuda"]
    (theirs_cal,) = run.products("cal")
    (theirs_i2d,) = run.products("i2d")
    assert cuda.product("cal").name == theirs_cal.name and cuda.product("i2d").name == theirs_i2d.name
    compare_products(cuda.product("cal"), theirs_cal, CAL_VS_JWST)
    compare_products(cuda.product("i2d"), theirs_i2d, I2D_VS_JWST, where_ext="WHT")


def test_gpu_image2_is_bitwise_reproducible(observation, image2_steps, image2_runs, tmp_path):
    first = image2_runs["cuda"]
    second = _image2(observation, image2_steps, "cuda", tmp_path / "again")
    for suffix, names in (("cal", ("DQ", *CAL_FLOATS)), ("i2d", ("CON", "SCI", "WHT", *VARIANCES))):
        compare_products(second.product(suffix), first.product(suffix), dict.fromkeys(names, "identical"))


def test_kernels_take_and_return_cupy_arrays():
    import cupy

    from gpucal.engine import select_device
    from gpucal.kernels import kernel_for

    device = select_device("cuda", require_gpu=True)
    rng = np.random.default_rng(0)
    host = {
        "sci": rng.normal(5, 1, (512, 512)).astype(np.float32),
        "var": rng.uniform(0.01, 0.02, (512, 512)).astype(np.float32),
        "flat": rng.normal(1, 0.05, (512, 512)).astype(np.float32),
        "dq": rng.integers(0, 8, (512, 512), dtype=np.uint32),
    }
    dev = {k: cupy.asarray(v) for k, v in host.items()}
    v = dev["var"]
    out = kernel_for("flat_field", device)(dev["sci"], v, v, dev["dq"], dev["flat"], v, dev["dq"], False)
    arrays = out if isinstance(out, tuple) else (out,)
    v = host["var"]
    ref = kernel_for("flat_field", select_device("cpu"))(
        host["sci"], v, v, host["dq"], host["flat"], v, host["dq"], False
    )
    ref = ref if isinstance(ref, tuple) else (ref,)
    assert len(arrays) == len(ref)
    compared = 0
    for k, (got, want) in enumerate(zip(arrays, ref, strict=True)):
        assert (got is None) == (want is None), f"output {k}"
        if got is None:
            continue
        assert isinstance(got, cupy.ndarray), f"output {k} is {type(got).__name__}, not a CuPy array"
        got = got.get()
        if got.dtype.kind in "iu":
            assert_identical(got, want, f"flat_field output {k}")
        else:
            assert_close(got, want, f"flat_field output {k}", max_rel=1e-6)
        compared += 1
    assert compared > 0


# -- image3 -------------------------------------------------------------------


@pytest.fixture(scope="module")
def cal_set(tmp_path_factory):
    """Three 512x512 NIRCam exposures calibrated by gpucal's image2, their image3 ASN and reference folder."""
    from tests.factories import simulated_cal_set

    return simulated_cal_set(tmp_path_factory.mktemp("gpu_image3"), exposures=3, size=512, seed=5)


def _image3(cal_set, device, folder, steps=None):
    from gpucal.pipelines.image3 import Image3Pipeline

    options = {"device": device, "require_gpu": device != "cpu", "save_results": True, "ref_dir": cal_set["ref_dir"]}
    return Image3Pipeline.call(str(cal_set["asn"]), output_dir=str(folder), steps=steps or {}, **options)


def _compare_crf(ours_path, theirs_path, compare_clean, level_rtol):
    """DQ identical outside the outlier bits, outlier flags differing at <= 0.1 % of theirs, the float planes
    compared by ``compare_clean(a, b, label)`` at pixels neither run flags, BKGLEVEL within ``level_rtol`` of
    max(|theirs|, median ERR); returns how many pixels ``theirs`` flags."""
    with fits.open(ours_path) as ours, fits.open(theirs_path) as theirs:
        dq_a, dq_b = ours["DQ"].data, theirs["DQ"].data
        assert_identical(dq_a & ~OUTLIER, dq_b & ~OUTLIER, f"{ours_path.name} DQ outside OUTLIER|DO_NOT_USE")
        flag_a, flag_b = (dq_a & 16) > 0, (dq_b & 16) > 0
        differ = int(np.count_nonzero(flag_a != flag_b))
        assert differ <= max(1, 0.001 * flag_b.sum()), f"{ours_path.name}: {differ} of {flag_b.sum()} flags differ"
        clean = ~flag_a & ~flag_b
        for name in ("SCI", *VARIANCES):
            compare_clean(ours[name].data[clean], theirs[name].data[clean], f"{ours_path.name} {name}")
        level_a, level_b = ours[0].header.get("BKGLEVEL"), theirs[0].header.get("BKGLEVEL")
        assert (level_a is None) == (level_b is None), f"{ours_path.name}: BKGLEVEL {level_a} vs {level_b}"
        if level_b is not None:
            scale = max(abs(level_b), float(np.nanmedian(theirs["ERR"].data)))
            assert abs(level_a - level_b) <= level_rtol * scale, f"{ours_path.name}: BKGLEVEL {level_a} vs {level_b}"
        return int(flag_b.sum())


def test_image3_cuda_matches_cpu(cal_set, tmp_path):
    runs = {device: _image3(cal_set, device, tmp_path / device) for device in ("cpu", "cuda")}
    names = sorted(pathlib.Path(p).name for p in runs["cpu"].written)
    assert names == sorted(pathlib.Path(p).name for p in runs["cuda"].written)
    crfs = [n for n in names if n.endswith("_crf.fits")]
    i2ds = [n for n in names if n.endswith("_i2d.fits")]
    assert len(crfs) == 3 and len(i2ds) == 1, names
    assert runs["cpu"].outliers.n_flagged > 0
    flagged = 0
    for name in crfs:
        flagged += _compare_crf(tmp_path / "cuda" / name, tmp_path / "cpu" / name, assert_identical, 1e-5)
    assert flagged > 0, "no outlier flagged: the flag comparison compared nothing"
    (name,) = i2ds
    compare_products(tmp_path / "cuda" / name, tmp_path / "cpu" / name, I2D_VS_CPU, where_ext="WHT")


def test_image3_cuda_matches_jwst(cal_set, tmp_path):
    pytest.importorskip("jwst")
    from tests.jwst_offline import run_pipeline

    ours = _image3(cal_set, "cuda", tmp_path / "cuda", SKIP_UNIMPLEMENTED)
    run = run_pipeline("Image3Pipeline", cal_set["asn"], tmp_path / "jwst", SKIP_UNIMPLEMENTED)
    assert run.returncode == 0, run.log[-4000:]
    written = {pathlib.Path(p).name: pathlib.Path(p) for p in ours.written}
    theirs_crf = sorted(run.products("crf"))
    assert len(theirs_crf) == 3 and all(p.name in written for p in theirs_crf), sorted(written)

    def within_1e6(a, b, label):
        assert_close(a, b, label, max_rel=1e-6)

    for theirs in theirs_crf:
        _compare_crf(written[theirs.name], theirs, within_1e6, 1e-3)
    (theirs_i2d,) = run.products("i2d")
    # The parity tier's image3 criteria: SCI/WHT 1e-4 and ERR/VAR_* 1e-3 relative RMS where jwst's WHT > 0
    # (NaN masks may differ where the outlier flags do), CON identical at >= 99.9 % of pixels.
    rules = {"SCI": {"rel_rms": 1e-4, "same_nans": False}, "WHT": {"rel_rms": 1e-4, "same_nans": False}}
    rules.update({name: {"rel_rms": 1e-3, "same_nans": False} for name in VARIANCES})
    compare_products(written[theirs_i2d.name], theirs_i2d, rules, where_ext="WHT")
    with fits.open(written[theirs_i2d.name]) as a, fits.open(theirs_i2d) as b:
        assert a["CON"].data.shape == b["CON"].data.shape
        same = np.all(a["CON"].data == b["CON"].data, axis=0)
        assert same.mean() >= 0.999, f"CON identical at {same.mean():.4%} of pixels"
