"""Outlier kernels (every form) and the weight threshold against stcal's own functions."""

import warnings

import numpy as np
import pytest

stcal_utils = pytest.importorskip("stcal.outlier_detection.utils")
stcal_median = pytest.importorskip("stcal.outlier_detection.median")


def _stack(rng, ngroups, shape=(9, 12)):
    data = rng.normal(3.0, 2.0, (ngroups, *shape)).astype(np.float32)
    data.flat[::5] = np.nan
    data.flat[7::61] = np.inf
    data[:, 2, 3] = np.nan
    data[:, 4, 4] = 2.5  # all equal
    wht = rng.gamma(4.0, 1.0, data.shape).astype(np.float32)
    wht.flat[3::17] = 0.0
    wht.flat[9::23] = np.nan
    return data, wht


@pytest.mark.parametrize("ngroups", [2, 3, 4, 7])
def test_median_matches_stcal(backend, ngroups):
    rng = np.random.default_rng(ngroups)
    data, wht = _stack(rng, ngroups)
    thresholds = np.array([stcal_utils.compute_weight_threshold(w, 0.7) for w in wht])
    masked = data.copy()
    for g in range(ngroups):
        masked[g][wht[g] < thresholds[g]] = np.nan
    expected = stcal_median.nanmedian3D(masked)
    got = backend.run("outlier_median", data, wht, thresholds)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_median_even_count_averages_in_float32(backend):
    big = np.float32(3.0e38)
    data = np.array([[[big]], [[big]]], np.float32)
    wht = np.ones_like(data)
    got = backend.run("outlier_median", data, wht, np.zeros(2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = stcal_median.nanmedian3D(data.copy())
    assert np.isinf(expected[0, 0]) and np.array_equal(got, expected)  # float32 overflow, as numpy


def _flag_inputs(rng, shape=(15, 19)):
    blot = rng.normal(5.0, 2.0, shape).astype(np.float32)
    blot.flat[::13] = np.nan
    blot.flat[5::47] = np.inf
    blot[0, :] = np.nan  # an edge row of NaN
    sci = (blot + rng.normal(0.0, 0.2, shape)).astype(np.float32)
    sci.flat[2::7] += np.float32(8.0)
    sci[-1, -1] += np.float32(50.0)  # corner outlier
    sci.flat[4::29] = np.nan
    err = rng.uniform(0.05, 0.3, shape).astype(np.float32)
    err.flat[6::11] = np.nan
    dq = rng.choice(np.array([0, 2, 16, 1024], np.uint32), shape).astype(np.uint32)
    return sci, err, blot, dq


@pytest.mark.parametrize("backg", [0.0, 0.4])
def test_flag_matches_stcal(backend, backg):
    sci, err, blot, dq = _flag_inputs(np.random.default_rng(5))
    expected = stcal_utils.flag_resampled_crs(sci, err, blot, 5.0, 4.0, 1.2, 0.7, backg)
    cr, dq_out = backend.run("outlier_flag", sci, err, blot, dq, backg, 5.0, 4.0, 1.2, 0.7)
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(cr, expected)
    np.testing.assert_array_equal(dq_out, dq | (expected * np.uint32(17)))


def test_flag_direct_matches_stcal(backend):
    sci, err, median, dq = _flag_inputs(np.random.default_rng(6))
    expected = stcal_utils.flag_crs(sci, err, median, 5.0)
    cr, dq_out = backend.run("outlier_flag_direct", sci, err, median, dq, 5.0)
    assert expected.any()
    np.testing.assert_array_equal(cr, expected)
    np.testing.assert_array_equal(dq_out, dq | (expected * np.uint32(17)))


def test_abs_deriv_inside_the_flag_matches_stcal():
    """With zero error and snr, ``m1`` is ``D > scale * deriv``: probe the derivative through the flags."""
    from gpucal.kernels.outlier_flag import outlier_flag_ref

    rng = np.random.default_rng(7)
    blot = rng.normal(0.0, 1.0, (8, 9)).astype(np.float32)
    blot.flat[::6] = np.nan
    deriv = stcal_utils._abs_deriv(blot)
    sci = (blot + deriv * np.float32(1.0001)).astype(np.float32)  # D just above deriv where deriv > 0
    err = np.zeros_like(blot)
    cr, _ = outlier_flag_ref(sci, err, blot, np.zeros(blot.shape, np.uint32), 0.0, 0.0, 0.0, 1.0, 1.0)
    np.testing.assert_array_equal(cr, np.abs(sci - blot) > deriv)


@pytest.mark.parametrize("seed", range(6))
def test_weight_threshold_matches_stcal(seed):
    from gpucal.outlier import weight_threshold

    rng = np.random.default_rng(seed)
    wht = rng.gamma(3.0 + seed, 2.0, (60, 70)).astype(np.float32)
    wht.flat[:: 5 + seed] = 0.0
    wht.flat[1::31] = np.nan
    wht.flat[2::97] = 500.0  # clipped outliers
    if seed == 0:
        wht[:] = 0.0  # nothing valid: NaN threshold
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = stcal_utils.compute_weight_threshold(wht, 0.7)
    got = weight_threshold(wht, 0.7)
    assert (np.isnan(got) and np.isnan(expected)) if seed == 0 else got == expected


@pytest.mark.parametrize("n", [1, 2, 3, 8, 599, 600, 601, 10_000, 10_001])
def test_threshold_host_shortcuts_equal_the_nan_functions(n):
    """The host path's median and std are numpy's ``nanmedian``/``nanstd`` bit for bit on NaN-free data."""
    from gpucal.outlier.threshold import _median_exact

    rng = np.random.default_rng(n)
    for values in (
        rng.normal(1000.0, 30.0, n).astype(np.float32),
        np.round(rng.normal(10.0, 3.0, n)).astype(np.float32),  # many ties
        rng.gamma(3.0, 2.0, n).astype(np.float32),
    ):
        for got, expected in ((_median_exact(values), np.nanmedian(values)), (np.std(values), np.nanstd(values))):
            assert got.dtype == expected.dtype == np.float32
            assert got.tobytes() == expected.tobytes()
