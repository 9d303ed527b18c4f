"""Comparisons of gpucal and jwst products (arrays, WCS, header keywords)."""

import numpy as np
from astropy.io import fits

__all__ = [
    "assert_arrays_match",
    "assert_i2d_match",
    "assert_keywords_match",
    "assert_wcs_match",
    "max_rel_diff",
    "rel_rms",
]


def max_rel_diff(ours, theirs):
    """Largest |a-b|/max(|a|,|b|) over pixels finite in both (0 where both are 0)."""
    a, b = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        return 0.0
    denom = np.maximum(np.abs(a[ok]), np.abs(b[ok]))
    diff = np.abs(a[ok] - b[ok])
    rel = np.where(denom > 0, diff / np.where(denom > 0, denom, 1), 0.0)
    return float(rel.max())


def assert_arrays_match(ours_path, theirs_path, names, rtol=1e-6):
    """Float extensions to ``rtol`` (max relative difference) with identical NaN masks; DQ bit for bit."""
    with fits.open(ours_path) as ours, fits.open(theirs_path) as theirs:
        for name in names:
            a, b = ours[name].data, theirs[name].data
            assert a.shape == b.shape, f"{name}: shape {a.shape} != {b.shape}"
            if a.dtype.kind in "iu":
                mismatch = np.count_nonzero(a != b)
                assert mismatch == 0, f"{name}: {mismatch} pixels differ"
                continue
            np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"{name}: NaN masks differ")
            worst = max_rel_diff(a, b)
            assert worst <= rtol, f"{name}: max relative difference {worst:.3g} > {rtol:g}"


def assert_keywords_match(ours_path, theirs_path, keywords, rtol=1e-9):
    """Header keywords (``"HDU:KEYWORD"``) equal (numbers to ``rtol``), including absence."""
    with fits.open(ours_path) as ours, fits.open(theirs_path) as theirs:
        for spec in keywords:
            hdu, key = spec.split(":")
            a, b = ours[hdu].header.get(key), theirs[hdu].header.get(key)
            if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
                assert np.isclose(a, b, rtol=rtol, atol=0), f"{spec}: {a!r} != {b!r}"
            else:
                assert a == b, f"{spec}: {a!r} != {b!r}"


def assert_wcs_match(ours_wcs, theirs_wcs, shape, atol_deg=1e-9):
    """Same sky position for a grid of pixels (and the same inverse), to ``atol_deg``."""
    y, x = np.mgrid[0 : shape[0] : max(1, shape[0] // 16), 0 : shape[1] : max(1, shape[1] // 16)]
    x, y = x.ravel().astype(float), y.ravel().astype(float)
    ra1, dec1 = ours_wcs(x, y)
    ra2, dec2 = theirs_wcs(x, y)
    assert np.nanmax(np.abs(ra1 - ra2) * np.cos(np.deg2rad(dec2))) <= atol_deg
    assert np.nanmax(np.abs(dec1 - dec2)) <= atol_deg
    xi, yi = ours_wcs.invert(ra2, dec2)
    xj, yj = theirs_wcs.invert(ra2, dec2)
    assert np.nanmax(np.hypot(xi - xj, yi - yj)) < 1e-9


def rel_rms(ours, theirs, where):
    """Relative RMS difference ``sqrt(mean((a-b)^2) / mean(b^2))`` over ``where`` (finite in both)."""
    a, b = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    ok = where & np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        return 0.0
    denom = np.sqrt(np.mean(b[ok] ** 2))
    return float(np.sqrt(np.mean((a[ok] - b[ok]) ** 2)) / denom) if denom > 0 else 0.0


def assert_i2d_match(ours_path, theirs_path, *, sci_rtol=1e-5, var_rtol=1e-4):
    """The issue's i2d criteria: same grid and CRVAL; SCI and WHT rel RMS <= 1e-5 where WHT > 0;
    CON identical; ERR and VAR_* rel RMS <= 1e-4."""
    with fits.open(ours_path) as ours, fits.open(theirs_path) as theirs:
        assert [h.name for h in ours] == [h.name for h in theirs]
        for key in ("NAXIS1", "NAXIS2", "CRVAL1", "CRVAL2", "CRPIX1", "CRPIX2"):
            assert ours["SCI"].header[key] == theirs["SCI"].header[key], key
        wht = theirs["WHT"].data
        covered = wht > 0
        assert covered.any()
        for name, rtol in (
            ("SCI", sci_rtol),
            ("WHT", sci_rtol),
            ("ERR", var_rtol),
            ("VAR_POISSON", var_rtol),
            ("VAR_RNOISE", var_rtol),
            ("VAR_FLAT", var_rtol),
        ):
            value = rel_rms(ours[name].data, theirs[name].data, covered)
            assert value <= rtol, f"{name}: relative RMS {value:.3g} > {rtol:g}"
        np.testing.assert_array_equal(ours["CON"].data, theirs["CON"].data)
