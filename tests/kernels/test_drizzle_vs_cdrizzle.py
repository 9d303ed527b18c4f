"""gpucal's drizzle kernel against drizzle 2.2's C engine (``drizzle.resample``).

The numba CPU and CUDA forms (simulated unless a GPU is present) must give
the C engine's numbers: every kernel at pixfrac 1.0 and 0.5 on random inputs
with NaN data, zero weights, a rotated/scaled/curved pixmap crossing the
output edge and several images (context planes beyond 32 inputs). The fused
extra arrays must equal stcal's separate variance drizzles; square, turbo and
point must conserve flux; CUDA results must be bitwise reproducible.
"""

import warnings

import numpy as np
import pytest

from tests.conftest import Backend
from tests.kernels.cases_drizzle import make_image, make_pixmap

resample = pytest.importorskip("drizzle.resample")

KERNELS = ("square", "point", "turbo", "gaussian", "lanczos2", "lanczos3")
OUT_SHAPE = (26, 28)
IN_SHAPE = (20, 24)


def rel_rms(actual, expected):
    """RMS of the difference over the RMS of the expected values (finite pixels)."""
    finite = np.isfinite(expected)
    diff = actual[finite].astype(np.float64) - expected[finite]
    return np.sqrt(np.mean(diff**2)) / np.sqrt(np.mean(expected[finite].astype(np.float64) ** 2))


def exposures(seed, n, ratio, rot=17.0):
    """``n`` random exposures (data, weight, pixmap), each pointing a little differently."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        data, weight = make_image(rng, IN_SHAPE)
        pixmap = make_pixmap(IN_SHAPE, OUT_SHAPE, rot_deg=rot + 9.0 * k, scale=ratio, shift=(3.3 - 2 * k, -2.2 + k))
        out.append((data, weight, pixmap))
    return out


def c_drizzle(images, first_id, kernel, pixfrac, ratio, **box):
    """Drizzle ``images`` with the C engine (context IDs from ``first_id`` on); returns (data, wht, con)."""
    last_id = first_id + len(images) - 1
    driz = resample.Drizzle(
        kernel=kernel, out_shape=OUT_SHAPE, fillval="NaN", begin_ctx_id=first_id, max_ctx_id=last_id
    )
    for data, weight, pixmap in images:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # non-flux-conserving kernel warnings
            driz.add_image(
                data, exptime=1.0, pixmap=pixmap, weight_map=weight, pixfrac=pixfrac, pixel_scale_ratio=ratio, **box
            )
    return driz.out_img, driz.out_wht, driz.out_ctx


def gpucal_drizzle(backend, images, first_id, kernel, pixfrac, ratio, **box):
    """Drizzle ``images`` with one gpucal form (context IDs from ``first_id`` on); returns host (data, wht, con)."""
    out = np.full(OUT_SHAPE, np.nan, dtype=np.float32)
    wht = np.zeros(OUT_SHAPE, dtype=np.float32)
    con = np.zeros(((first_id + len(images) - 1) // 32 + 1, *OUT_SHAPE), dtype=np.int32)
    for ctx_id, (data, weight, pixmap) in enumerate(images, start=first_id):
        result = backend.run(
            "drizzle",
            data,
            weight,
            pixmap,
            out,
            wht,
            con,
            kernel,
            pixfrac,
            ratio,
            1.0,
            ctx_id,
            box.get("xmin", 0),
            box.get("xmax"),
            box.get("ymin", 0),
            box.get("ymax"),
            "NaN",
        )
        out, wht, con = result[:3]
    return out, wht, con


def assert_matches_c(actual, expected):
    (out, wht, con), (c_out, c_wht, c_con) = actual, expected
    np.testing.assert_array_equal(np.isnan(out), np.isnan(c_out), err_msg="NaN (unfilled) positions")
    assert np.any(c_wht > 0)
    assert rel_rms(out, c_out) <= 1e-6
    assert rel_rms(wht, c_wht) <= 1e-6
    np.testing.assert_array_equal(con, c_con, err_msg="context")


@pytest.mark.parametrize("pixfrac", [1.0, 0.5])
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("form", ["numba", "cuda"])
def test_matches_c_engine(form, kernel, pixfrac):
    ratio = 1.1
    images = exposures(11, 2, ratio)
    expected = c_drizzle(images, 31, kernel, pixfrac, ratio)  # context bit 31 of plane 0, bit 0 of plane 1
    actual = gpucal_drizzle(Backend(form), images, 31, kernel, pixfrac, ratio)
    assert_matches_c(actual, expected)


@pytest.mark.parametrize(
    ("rot", "ratio", "shift"),
    [(40.0, 1.6, (0.0, 0.0)), (-5.0, 1.0, (24.0, 20.0)), (0.0, 1.0, (80.0, 0.0))],
    ids=["input-covers-grid", "mostly-outside", "outside"],
)
@pytest.mark.parametrize("form", ["numba", "cuda"])
def test_partial_overlaps_match_c_engine(form, rot, ratio, shift):
    """The scanner's limits where the input covers, or mostly misses, the output grid."""
    data, weight = make_image(np.random.default_rng(9), IN_SHAPE)
    images = [(data, weight, make_pixmap(IN_SHAPE, OUT_SHAPE, rot_deg=rot, scale=ratio, shift=shift))]
    expected = c_drizzle(images, 0, "square", 1.0, ratio)
    actual = gpucal_drizzle(Backend(form), images, 0, "square", 1.0, ratio)
    np.testing.assert_array_equal(np.isnan(actual[0]), np.isnan(expected[0]))
    if np.any(expected[1] > 0):
        assert_matches_c(actual, expected)
    else:
        np.testing.assert_array_equal(actual[1], expected[1])


@pytest.mark.parametrize("form", ["numpy", "numba", "cuda"])
def test_input_box_and_unmapped_pixels_match_c_engine(form):
    images = exposures(5, 1, 0.9, rot=-23.0)
    images[0][2][:2] = np.nan  # unmapped rows: the box shrinks to the mapped part
    images[0][2][7, 4:12] = np.nan  # unmapped pixels inside
    box = {"xmin": 2, "xmax": 20, "ymin": 1, "ymax": 17}
    expected = c_drizzle(images, 3, "square", 0.7, 0.9, **box)
    actual = gpucal_drizzle(Backend(form), images, 3, "square", 0.7, 0.9, **box)
    assert_matches_c(actual, expected)


@pytest.mark.parametrize("form", ["numba", "cuda"])
def test_extra_arrays_equal_separate_variance_drizzles(form):
    """One pass with 3 extra arrays = stcal's main drizzle plus a fresh drizzle per sqrt(variance)."""
    backend = Backend(form)
    rng = np.random.default_rng(8)
    images = exposures(21, 2, 1.0)
    out = np.full(OUT_SHAPE, np.nan, dtype=np.float32)
    wht = np.zeros(OUT_SHAPE, dtype=np.float32)
    main = resample.Drizzle(kernel="square", out_shape=OUT_SHAPE, fillval="NaN", disable_ctx=True)
    for data, weight, pixmap in images:
        errs = np.sqrt(rng.uniform(0.1, 3.0, (3, *IN_SHAPE))).astype(np.float32)
        extra_out = np.full((3, *OUT_SHAPE), np.nan, dtype=np.float32)
        extra_wht = np.zeros(OUT_SHAPE, dtype=np.float32)
        result = backend.run(
            "drizzle",
            data,
            weight,
            pixmap,
            out,
            wht,
            None,
            "square",
            1.0,
            1.0,
            1.0,
            0,
            0,
            None,
            0,
            None,
            "NaN",
            errs,
            extra_out,
            extra_wht,
        )
        out, wht, _, extra_out, extra_wht = result
        main.add_image(data, exptime=1.0, pixmap=pixmap, weight_map=weight, pixfrac=1.0, pixel_scale_ratio=1.0)
        for k in range(3):
            single = resample.Drizzle(kernel="square", out_shape=OUT_SHAPE, fillval=np.nan, disable_ctx=True)
            single.add_image(errs[k], exptime=1.0, pixmap=pixmap, weight_map=weight, pixfrac=1.0, pixel_scale_ratio=1.0)
            np.testing.assert_array_equal(np.isnan(extra_out[k]), np.isnan(single.out_img))
            assert rel_rms(extra_out[k], single.out_img) <= 1e-6
            assert rel_rms(extra_wht, single.out_wht) <= 1e-6
    assert rel_rms(out, main.out_img) <= 1e-6
    assert rel_rms(wht, main.out_wht) <= 1e-6


@pytest.mark.parametrize("kernel", ["square", "turbo", "point"])
@pytest.mark.parametrize("form", ["numba", "cuda"])
def test_flux_is_conserved(form, kernel):
    """With the input wholly inside the grid, sum(SCI * WHT) = sum(data * weight)."""
    rng = np.random.default_rng(4)
    data = rng.uniform(1.0, 10.0, IN_SHAPE).astype(np.float32)
    weight = rng.uniform(0.5, 2.0, IN_SHAPE).astype(np.float32)
    pixmap = make_pixmap(IN_SHAPE, OUT_SHAPE, rot_deg=11.0, scale=0.9, shift=(0.0, 0.0), warp=0.0)
    out = np.zeros(OUT_SHAPE, dtype=np.float32)
    wht = np.zeros(OUT_SHAPE, dtype=np.float32)
    result = Backend(form).run("drizzle", data, weight, pixmap, out, wht, None, kernel, 0.8, 0.9)
    out, wht = result[0], result[1]
    total_out = np.sum(out.astype(np.float64) * wht)
    total_in = np.sum(data.astype(np.float64) * weight)
    assert total_out == pytest.approx(total_in, rel=1e-5)
    assert np.sum(wht, dtype=np.float64) == pytest.approx(np.sum(weight, dtype=np.float64), rel=1e-5)


@pytest.mark.parametrize("kernel", ["square", "lanczos3"])
def test_cuda_is_bitwise_reproducible(kernel):
    images = exposures(2, 1, 1.2)
    first = gpucal_drizzle(Backend("cuda"), images, 5, kernel, 1.0, 1.2)
    second = gpucal_drizzle(Backend("cuda"), images, 5, kernel, 1.0, 1.2)
    for a, b in zip(first, second, strict=True):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("form", ["numpy", "numba", "cuda"])
def test_too_few_valid_pixmap_values_raise_like_c_engine(form):
    data, weight = make_image(np.random.default_rng(0), IN_SHAPE)
    pixmap = np.full((*IN_SHAPE, 2), np.nan)
    pixmap[3, 4] = (5.0, 6.0)  # a single mapped pixel
    out, wht = np.zeros(OUT_SHAPE, np.float32), np.zeros(OUT_SHAPE, np.float32)
    with pytest.raises(ValueError, match="too few valid pixels"):
        resample.Drizzle(out_shape=OUT_SHAPE).add_image(data, exptime=1.0, pixmap=pixmap, weight_map=weight)
    with pytest.raises(ValueError, match="too few valid pixels"):
        Backend(form).run("drizzle", data, weight, pixmap, out, wht)
