"""Self-check of the GPU tier's comparison helpers (runs on the CPU, in the normal suite).

The GPU tier only runs where a GPU is lent; these tests show here that each of its assertions fails on a
deliberately perturbed array, so a pass there means something.
"""

import numpy as np
import pytest
from astropy.io import fits

from tests.gpu._checks import DeviceResidency, assert_close, assert_identical, compare_products


def _planes(seed=0, shape=(32, 32)):
    rng = np.random.default_rng(seed)
    sci = rng.normal(0.0, 1.0, shape).astype(np.float32)
    sci[3, 4] = np.nan
    return {
        "SCI": sci,
        "VAR_POISSON": rng.uniform(0.5, 2.0, shape).astype(np.float32),
        "WHT": rng.uniform(1.0, 3.0, shape).astype(np.float32),
        "CON": rng.integers(0, 2**31 - 1, (1, *shape), dtype=np.int32),
        "DQ": rng.integers(0, 4, shape, dtype=np.uint32),
    }


def test_identical_fails_on_one_changed_con_or_dq_pixel():
    planes = _planes()
    for name in ("CON", "DQ", "SCI"):
        assert_identical(planes[name], planes[name].copy(), name)
    con = planes["CON"].copy()
    con[0, 10, 11] ^= 1 << 7
    with pytest.raises(AssertionError, match="1 of"):
        assert_identical(con, planes["CON"], "CON")
    dq = planes["DQ"].copy()
    dq[0, 0] |= 16
    with pytest.raises(AssertionError, match="DQ: 1 of"):
        assert_identical(dq, planes["DQ"], "DQ")


def test_identical_fails_on_a_moved_nan_a_dtype_or_a_shape():
    sci = _planes()["SCI"]
    moved = sci.copy()
    moved[3, 4], moved[5, 5] = 0.0, np.nan
    with pytest.raises(AssertionError, match="2 of"):
        assert_identical(moved, sci, "SCI")
    with pytest.raises(AssertionError, match="dtype"):
        assert_identical(sci.astype(np.float64), sci, "SCI")
    with pytest.raises(AssertionError, match="shape"):
        assert_identical(sci[1:], sci, "SCI")


def test_close_fails_on_one_var_pixel_beyond_tolerance():
    var = _planes()["VAR_POISSON"]
    nudged = var.copy()
    nudged[7, 7] *= np.float32(1 + 5e-6)
    assert_close(nudged, var, "VAR_POISSON", max_rel=1e-5)
    off = var.copy()
    off[7, 7] *= np.float32(1 + 2e-5)
    with pytest.raises(AssertionError, match="max relative difference"):
        assert_close(off, var, "VAR_POISSON", max_rel=1e-5)
    with pytest.raises(AssertionError, match="beyond atol"):
        assert_close(off, var, "VAR_POISSON", rtol=1e-5, atol=0.0)
    far = var.copy()
    far[:4] *= np.float32(1.01)
    with pytest.raises(AssertionError, match="relative RMS"):
        assert_close(far, var, "VAR_POISSON", rel_rms=1e-3)


def test_close_fails_on_nan_masks_and_refuses_integers_and_empty_comparisons():
    planes = _planes()
    sci = planes["SCI"]
    extra_nan = sci.copy()
    extra_nan[0, 0] = np.nan
    with pytest.raises(AssertionError, match="NaN at 1 pixels"):
        assert_close(extra_nan, sci, "SCI", max_rel=1.0)
    assert_close(extra_nan, sci, "SCI", max_rel=0.0, same_nans=False)  # only pixels finite in both compared
    with pytest.raises(TypeError, match="floating-point"):
        assert_close(planes["CON"], planes["CON"], "CON", max_rel=0.0)
    with pytest.raises(AssertionError, match="no pixel"):
        assert_close(sci, sci, "SCI", max_rel=0.0, where=np.zeros(sci.shape, bool))
    with pytest.raises(ValueError, match="no tolerance"):
        assert_close(sci, sci, "SCI")


def _write(path, planes):
    hdus = [fits.PrimaryHDU()] + [fits.ImageHDU(data, name=name) for name, data in planes.items()]
    fits.HDUList(hdus).writeto(path)
    return path


I2D_RULES = {
    "CON": "identical",
    "SCI": {"rel_rms": 1e-4},
    "WHT": {"max_rel": 1e-5},
    "VAR_POISSON": {"max_rel": 1e-5},
}


def test_compare_products_passes_on_a_copy_and_fails_on_each_perturbation(tmp_path):
    planes = _planes()
    theirs = _write(tmp_path / "theirs.fits", planes)
    compare_products(_write(tmp_path / "same.fits", planes), theirs, I2D_RULES, where_ext="WHT")
    perturbations = {
        "CON": lambda p: p["CON"].__setitem__((0, 1, 2), p["CON"][0, 1, 2] + 1),
        "VAR_POISSON": lambda p: p["VAR_POISSON"].__setitem__((9, 9), p["VAR_POISSON"][9, 9] * np.float32(1.001)),
        "WHT": lambda p: p["WHT"].__setitem__((2, 2), np.float32(0.5) * p["WHT"][2, 2]),
        "SCI": lambda p: p["SCI"].__setitem__(slice(0, 8), p["SCI"][:8] + np.float32(0.1)),
    }
    for name, perturb in perturbations.items():
        changed = {k: v.copy() for k, v in planes.items()}
        perturb(changed)
        ours = _write(tmp_path / f"{name}.fits", changed)
        with pytest.raises(AssertionError, match=name):
            compare_products(ours, theirs, I2D_RULES, where_ext="WHT")
    with pytest.raises(AssertionError, match="missing"):
        compare_products(ours, theirs, {"VAR_FLAT": "identical"})


def test_device_residency_check_fails_for_a_cpu_run(tmp_path):
    """Watching a real (CPU) image2 run records every step, and the on-device assertion fails on numpy arrays."""
    from gpucal.pipelines.image2 import Image2Pipeline
    from gpucal.sim import simulate
    from tests.jwst_offline import image2_step_options

    sim = simulate(tmp_path / "sim", exposures=1, backgrounds=1, size=64, seed=2)
    steps = image2_step_options(sim.references, {"resample": {"skip": False}})
    residency = DeviceResidency()
    with residency.watching():
        Image2Pipeline.call(str(sim.image2_asn[0]), steps=steps, device="cpu", output_dir=str(tmp_path / "out"))
    assert {alias for alias, _, _ in residency.records} == {
        "bkg_subtract", "assign_wcs", "flat_field", "photom", "resample",
    }  # fmt: skip
    assert all(kinds == {"host"} for _, _, kinds in residency.records)
    with pytest.raises(AssertionError, match=r"not \(all\) on the device"):
        residency.assert_on_device(["bkg_subtract", "assign_wcs", "flat_field", "photom", "resample"])
    with pytest.raises(AssertionError, match="never ran"):
        DeviceResidency().assert_on_device(["photom"])
