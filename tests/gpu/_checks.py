"""Comparison helpers of the GPU tier, each able to fail (their self-check, tests/gpu/test_checks.py, runs on the CPU).

* :func:`assert_identical`: same shape, dtype and values, NaN at the same pixels (integer planes such as DQ and CON
  are compared only this way);
* :func:`assert_close`: floating-point planes: same shape, NaN at the same pixels, then any of a per-pixel
  relative bound, a per-pixel ``atol + rtol * |theirs|`` bound and a bound on the relative RMS difference;
* :func:`compare_products`: one FITS product against another, extension by extension, by a rule per extension;
* :class:`DeviceResidency`: records, as every image2 step starts and ends, whether all of the exposure's arrays
  are device (CuPy) arrays.
"""

import contextlib

import numpy as np
from astropy.io import fits

__all__ = ["DeviceResidency", "assert_close", "assert_identical", "compare_products"]


def _same_layout(ours, theirs, name):
    assert ours.shape == theirs.shape, f"{name}: shape {ours.shape} != {theirs.shape}"
    assert ours.size > 0, f"{name}: empty array: nothing compared"


def assert_identical(ours, theirs, name):
    """Same shape, dtype and every value (NaN at the same pixels counts as equal)."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    _same_layout(ours, theirs, name)
    assert ours.dtype == theirs.dtype, f"{name}: dtype {ours.dtype} != {theirs.dtype}"
    floating = ours.dtype.kind in "fc"
    differ = ~((ours == theirs) | (np.isnan(ours) & np.isnan(theirs))) if floating else ours != theirs
    count = int(np.count_nonzero(differ))
    assert count == 0, f"{name}: {count} of {ours.size} pixels differ (first at {np.argwhere(differ)[0].tolist()})"


def assert_close(ours, theirs, name, *, max_rel=None, rtol=None, atol=0.0, rel_rms=None, where=None, same_nans=True):
    """Floating-point planes within stated tolerances, NaN masks identical.

    Parameters
    ----------
    ours, theirs : array_like
        Floating-point arrays of one shape (integer arrays are refused: compare them with
        :func:`assert_identical`).
    name : str
        Named in failure messages.
    max_rel : float, optional
        Bound on ``|a - b| / max(|a|, |b|)`` at every compared pixel (0 where both are 0).
    rtol, atol : float, optional
        Bound ``|a - b| <= atol + rtol * |b|`` at every compared pixel (when ``rtol`` is given).
    rel_rms : float, optional
        Bound on ``sqrt(mean((a - b)^2) / mean(b^2))`` over the compared pixels.
    where : array of bool, optional
        Pixels to compare (default: all); only pixels finite in both are compared, and there must be some.
    same_nans : bool, optional
        Require NaN at the same pixels (default). False where coverage may legitimately differ at a few
        pixels (a mosaic whose inputs' outlier flags may differ).
    """
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    if ours.dtype.kind not in "fc" or theirs.dtype.kind not in "fc":
        raise TypeError(f"{name}: assert_close compares floating-point arrays, got {ours.dtype} and {theirs.dtype}")
    if max_rel is None and rtol is None and rel_rms is None:
        raise ValueError(f"{name}: no tolerance given")
    _same_layout(ours, theirs, name)
    nan_differ = int(np.count_nonzero(np.isnan(ours) != np.isnan(theirs)))
    assert nan_differ == 0 or not same_nans, f"{name}: NaN at {nan_differ} pixels in one array only"
    a, b = ours.astype(np.float64), theirs.astype(np.float64)
    compared = np.isfinite(a) & np.isfinite(b)
    if where is not None:
        compared &= np.asarray(where, bool)
    assert compared.any(), f"{name}: no pixel to compare"
    a, b = a[compared], b[compared]
    diff = np.abs(a - b)
    if max_rel is not None:
        scale = np.maximum(np.abs(a), np.abs(b))
        rel = np.divide(diff, scale, out=np.zeros_like(diff), where=scale > 0)
        worst = float(rel.max())
        assert worst <= max_rel, f"{name}: max relative difference {worst:.3g} > {max_rel:g}"
    if rtol is not None:
        over = diff > atol + rtol * np.abs(b)
        count = int(np.count_nonzero(over))
        assert count == 0, (
            f"{name}: {count} pixels beyond atol {atol:g} + rtol {rtol:g} (worst |diff| {diff.max():.3g})"
        )
    if rel_rms is not None:
        denom = float(np.sqrt(np.mean(b**2)))
        value = float(np.sqrt(np.mean(diff**2))) / denom if denom > 0 else float(np.sqrt(np.mean(diff**2)))
        assert value <= rel_rms, f"{name}: relative RMS difference {value:.3g} > {rel_rms:g}"


def compare_products(ours_path, theirs_path, rules, *, where_ext=None):
    """Compare two FITS products extension by extension.

    Parameters
    ----------
    ours_path, theirs_path : path
    rules : dict of str to dict or "identical"
        Per extension: ``"identical"`` (:func:`assert_identical`) or the keyword arguments of
        :func:`assert_close`. Every named extension must exist in both files.
    where_ext : str, optional
        For :func:`assert_close`, compare only pixels where this extension of ``theirs`` is > 0 (e.g. ``"WHT"``).
    """
    with fits.open(ours_path) as ours, fits.open(theirs_path) as theirs:
        where = None if where_ext is None else theirs[where_ext].data > 0
        for ext, rule in rules.items():
            label = f"{getattr(ours_path, 'name', ours_path)} {ext}"
            assert ext in ours and ext in theirs, f"{label}: extension missing"
            a, b = ours[ext].data, theirs[ext].data
            assert a is not None and b is not None, f"{label}: no data"
            if rule == "identical":
                assert_identical(a, b, label)
            else:
                assert_close(a, b, label, where=where, **rule)


class DeviceResidency:
    """Where an exposure's arrays live as each image2 step starts and ends.

    Within :meth:`watching`, every ``Step.run`` records ``(alias, "entry" | "exit", kinds)`` with ``kinds`` the set
    of ``"device"``/``"host"`` over the exposure's arrays (the exit only when the step returns the exposure
    itself; resample returns a new product).
    """

    def __init__(self):
        self.records = []

    @staticmethod
    def _kinds(exposure):
        from gpucal.engine import is_device_array

        arrays = [a for a in getattr(exposure, "arrays", {}).values() if a is not None]
        return frozenset("device" if is_device_array(a) else "host" for a in arrays)

    @contextlib.contextmanager
    def watching(self):
        """Patch ``Step.run`` for the duration of the block."""
        import pytest

        from gpucal.pipelines.step import Step

        original = Step.run

        def run(step, exposure, ctx, *args):
            self.records.append((step.alias, "entry", self._kinds(exposure)))
            result = original(step, exposure, ctx, *args)
            if result is exposure:
                self.records.append((step.alias, "exit", self._kinds(result)))
            return result

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Step, "run", run)
            yield self

    def assert_on_device(self, steps):
        """Every one of ``steps`` ran, and at each record all arrays were device arrays."""
        seen = {alias for alias, _, _ in self.records}
        missing = sorted(set(steps) - seen)
        assert not missing, f"steps never ran: {missing}"
        off = [(alias, when, sorted(kinds)) for alias, when, kinds in self.records if kinds != {"device"}]
        assert not off, f"arrays not (all) on the device: {off}"
