"""Parity cases for the drizzle and blot kernels (numpy reference vs numba CPU vs CUDA).

Every drizzle kernel at pixfrac 1.0 and 0.5 on small random inputs (20x24
onto 26x28) with NaN data, zero weights, a rotated, scaled and slightly
distorted pixmap whose footprint crosses the output edge, outputs already
holding an earlier image, and context planes for ``input_id >= 32``; plus
unmapped (NaN) pixmap regions, an input box, kernel ratios other than 1,
extra arrays with and without their own weight, over the whole output or a
window of it, ``fillval``, DQ propagation; and blot.

drizzle updates its outputs in place and test_parity unpacks one case's
arguments once per form, so drizzle cases hand out their arguments through
:class:`FreshArgs`, which copies the arrays at every unpacking.
"""

import numpy as np

from tests.kernels._cases import Case

OUT_SHAPE = (26, 28)


class FreshArgs:
    """Positional arguments that are copied each time they are unpacked (``f(*args)``)."""

    def __init__(self, *args):
        self._args = args

    def __iter__(self):
        return iter(tuple(a.copy() if isinstance(a, np.ndarray) else a for a in self._args))

    def __len__(self):
        return len(self._args)


def make_pixmap(shape, out_shape, rot_deg=17.0, scale=1.1, shift=(3.3, -2.2), warp=0.01):
    """A rotated, scaled, shifted and slightly curved input -> output pixel map."""
    ny, nx = shape
    y, x = np.indices(shape, dtype=np.float64)
    t = np.deg2rad(rot_deg)
    cx, cy = (nx - 1) / 2, (ny - 1) / 2
    u = scale * (np.cos(t) * (x - cx) - np.sin(t) * (y - cy)) + out_shape[1] / 2 + shift[0]
    v = scale * (np.sin(t) * (x - cx) + np.cos(t) * (y - cy)) + out_shape[0] / 2 + shift[1]
    return np.dstack([u + warp * (x - cx) ** 2 / nx, v])


def make_image(rng, shape, nan_fraction=0.05, zero_weight_fraction=0.1):
    """Science values with NaNs and weights with zeros (and 0 where the data are NaN, as jwst builds them)."""
    data = rng.normal(5.0, 2.0, shape).astype(np.float32)
    data[rng.random(shape) < nan_fraction] = np.nan
    weight = rng.uniform(0.5, 2.0, shape).astype(np.float32)
    weight[rng.random(shape) < zero_weight_fraction] = 0.0
    weight[np.isnan(data)] = 0.0
    return data, weight


def prior_outputs(rng, out_shape=OUT_SHAPE, nplanes=2, input_id=1):
    """Outputs holding an earlier image: NaN where empty, positive weight and one context bit elsewhere."""
    covered = rng.random(out_shape) < 0.6
    out_data = np.where(covered, rng.normal(4.0, 1.0, out_shape), np.nan).astype(np.float32)
    out_wht = np.where(covered, rng.uniform(0.5, 3.0, out_shape), 0.0).astype(np.float32)
    out_con = np.zeros((nplanes, *out_shape), dtype=np.int32)
    out_con[input_id // 32][covered] = np.array(1 << (input_id % 32), dtype=np.int64).astype(np.int32)
    return out_data, out_wht, out_con


def _drizzle_case(
    kernel,
    pixfrac,
    ratio=1.1,
    input_id=37,
    box=(0, None, 0, None),
    nan_rows=0,
    fillval=None,
    extras=0,
    own_extra_wht=True,
    shape=(20, 24),
    rot=17.0,
    shift=(3.3, -2.2),
    dq=False,
    window=None,
):
    def make(rng):
        data, weight = make_image(rng, shape)
        pixmap = make_pixmap(shape, OUT_SHAPE, rot_deg=rot, scale=ratio, shift=shift)
        if nan_rows:
            pixmap[:nan_rows] = np.nan
            pixmap[5, 3:9] = np.nan
        out_data, out_wht, out_con = prior_outputs(rng, nplanes=input_id // 32 + 1)
        args = [data, weight, pixmap, out_data, out_wht, out_con, kernel, pixfrac, ratio, 1.0, input_id, *box, fillval]
        extra_shape = OUT_SHAPE if window is None else window[2:]
        if extras:
            extra_data = np.sqrt(rng.uniform(0.1, 2.0, (extras, *shape))).astype(np.float32)
            extra_out = np.full((extras, *extra_shape), np.nan, dtype=np.float32)
            extra_wht = np.zeros(extra_shape, dtype=np.float32) if own_extra_wht else None
            args += [extra_data, extra_out, extra_wht]
        else:
            args += [None, None, None]
        if dq:
            in_dq = rng.choice(np.array([0, 0, 0, 1, 4, 1 << 31], np.uint32), shape).astype(np.uint32)
            out_dq = np.where(out_wht > 0, np.uint32(2), np.uint32(1 << 20)).astype(np.uint32)
            args += [in_dq, out_dq]
        else:
            args += [None, None]
        args.append(None if window is None else window[:2])
        return FreshArgs(*args)

    return make


def compare_drizzle(expected, actual, spec):
    """Outputs that exist must match: floats within the registry tolerance (same NaNs), context exactly."""
    names = ("data", "wht", "con", "extra", "extra_wht", "dq")
    # The output DQ rides on DrizzleResult.dq, which host conversion drops: see tests/resample/test_drizzle_dq.py.
    e_dq, a_dq = getattr(expected, "dq", None), getattr(actual, "dq", None)
    for name, e, a in zip(names, (*expected, e_dq), (*actual, a_dq), strict=True):
        assert (e is None) == (a is None), name
        if e is None:
            continue
        e, a = np.asarray(e), np.asarray(a)
        assert e.dtype == a.dtype and e.shape == a.shape, name
        if e.dtype.kind in "iu":
            np.testing.assert_array_equal(a, e, err_msg=name)
        else:
            np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=f"{name}: NaN positions")
            np.testing.assert_allclose(a, e, rtol=spec.rtol, atol=spec.atol, equal_nan=True, err_msg=name)


def _blot_case(fillval, iscale):
    def make(rng):
        data = rng.normal(3.0, 1.0, (23, 27)).astype(np.float32)
        data[4, 5] = np.nan
        pixmap = make_pixmap((19, 21), (23, 27), rot_deg=-9.0, scale=1.3, shift=(1.7, 0.4), warp=0.0)
        pixmap[0, 0] = (26.0, 22.0)  # the last pixel: copied
        pixmap[0, 1] = (26.0, 3.25)  # the last column: interpolated along y only
        pixmap[0, 2] = (5.5, 22.0)  # the last row: along x only
        pixmap[1, 1] = (np.nan, 4.0)  # unmapped
        pixmap[1, 2] = (-0.25, 4.0)  # outside
        return data, pixmap, fillval, iscale

    return make


CASES = [
    Case("drizzle", f"{kernel}-pixfrac{pixfrac}", _drizzle_case(kernel, pixfrac), compare_drizzle)
    for kernel in ("square", "point", "turbo", "gaussian", "lanczos2", "lanczos3")
    for pixfrac in (1.0, 0.5)
] + [
    Case(
        "drizzle",
        "square-unmapped-box-fill",
        _drizzle_case("square", 1.0, nan_rows=2, box=(2, 21, 1, 18), fillval="NaN"),
        compare_drizzle,
    ),
    Case("drizzle", "square-ratio0.6-id0", _drizzle_case("square", 0.8, ratio=0.6, input_id=0), compare_drizzle),
    Case(
        "drizzle", "gaussian-ratio0.6-unmapped", _drizzle_case("gaussian", 0.7, ratio=0.6, nan_rows=3), compare_drizzle
    ),
    Case("drizzle", "lanczos3-ratio1.7-id31", _drizzle_case("lanczos3", 1.0, ratio=1.7, input_id=31), compare_drizzle),
    Case("drizzle", "square-extras-own-wht", _drizzle_case("square", 1.0, extras=3, fillval=np.nan), compare_drizzle),
    Case(
        "drizzle",
        "turbo-extras-shared-wht",
        _drizzle_case("turbo", 0.5, extras=2, own_extra_wht=False),
        compare_drizzle,
    ),
    Case(
        "drizzle",
        "square-input-covers-grid",
        _drizzle_case("square", 1.0, ratio=1.6, rot=40.0, shift=(0.0, 0.0)),
        compare_drizzle,
    ),
    Case("drizzle", "square-dq", _drizzle_case("square", 0.8, dq=True), compare_drizzle),
    Case("drizzle", "lanczos3-dq-ratio0.6", _drizzle_case("lanczos3", 1.0, ratio=0.6, dq=True), compare_drizzle),
    Case(
        "drizzle",
        "square-extras-window-dq",
        _drizzle_case("square", 1.0, extras=3, fillval=np.nan, dq=True, window=(4, 3, 17, 20)),
        compare_drizzle,
    ),
    Case(
        "drizzle",
        "gaussian-extras-window-shared-wht",
        _drizzle_case("gaussian", 0.7, extras=2, own_extra_wht=False, fillval=-3.0, window=(2, 5, 20, 22)),
        compare_drizzle,
    ),
    Case("blot", "nan-fill", _blot_case(np.nan, 1.0)),
    Case("blot", "value-fill-iscale", _blot_case(-7.0, 2.5)),
]
