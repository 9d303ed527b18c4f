"""Pieces of the drizzle kernels: the polygon scanner, CPU bands, fill, argument checks."""

import numpy as np
import pytest

from gpucal.errors import ParameterError
from gpucal.kernels import _drizzle_cpu
from gpucal.kernels._drizzle_ref import scan_rows
from gpucal.kernels.drizzle import drizzle_cpu, drizzle_ref, fill_unweighted
from tests.kernels.cases_drizzle import OUT_SHAPE, make_image, make_pixmap

GEOMETRIES = {
    "inside": dict(rot_deg=11.0, scale=0.9, shift=(0.0, 0.0)),
    "crossing-edge": dict(rot_deg=17.0, scale=1.1, shift=(6.3, -5.2)),
    "covering-grid": dict(rot_deg=40.0, scale=1.6, shift=(0.0, 0.0)),
    "mostly-outside": dict(rot_deg=-5.0, scale=1.0, shift=(24.0, 20.0)),
    "outside": dict(rot_deg=0.0, scale=1.0, shift=(80.0, 0.0)),
}


def _rows_cpu(pixmap, box=None):
    box = box or (0, pixmap.shape[1] - 1, 0, pixmap.shape[0] - 1)
    _, status, r0, r1, row_lo, row_hi = _drizzle_cpu.plan_cpu(pixmap, box, OUT_SHAPE)
    if status:
        return {}
    return {j: (int(row_lo[j]), int(row_hi[j])) for j in range(r0, r1 + 1) if row_lo[j] <= row_hi[j]}


@pytest.mark.parametrize("name", sorted(GEOMETRIES))
def test_scanner_rows_equal_reference(name):
    pixmap = make_pixmap((20, 24), OUT_SHAPE, **GEOMETRIES[name])
    assert _rows_cpu(pixmap) == scan_rows(pixmap, (0, 23, 0, 19), OUT_SHAPE)


def test_scanner_limits_an_input_covering_the_grid():
    """Only pixels wholly inside the part of the input that maps onto the grid are visited."""
    pixmap = make_pixmap((20, 24), OUT_SHAPE, **GEOMETRIES["covering-grid"])
    rows = _rows_cpu(pixmap)
    visited = sum(last - first + 1 for first, last in rows.values())
    assert 0 < visited < 20 * 24
    assert any(first > 0 or last < 23 for first, last in rows.values())
    assert _rows_cpu(make_pixmap((20, 24), OUT_SHAPE, **GEOMETRIES["outside"])) == {}


def test_scanner_with_unmapped_corner_uses_the_whole_box():
    """When a box corner cannot be mapped the C engine scans the whole box; so do both implementations."""
    pixmap = make_pixmap((20, 24), OUT_SHAPE, **GEOMETRIES["crossing-edge"])
    pixmap[0, 0] = np.nan
    assert _rows_cpu(pixmap) == scan_rows(pixmap, (0, 23, 0, 19), OUT_SHAPE)
    assert _rows_cpu(pixmap) == {j: (0, 23) for j in range(20)}


def test_cpu_result_does_not_depend_on_the_number_of_bands(monkeypatch):
    rng = np.random.default_rng(3)
    data, weight = make_image(rng, (20, 24))
    pixmap = make_pixmap((20, 24), OUT_SHAPE, rot_deg=33.0, scale=0.8)
    results = []
    for bands in (1, 2, 7, 40):
        monkeypatch.setattr(_drizzle_cpu, "n_bands", lambda bands=bands: bands)
        out = np.full(OUT_SHAPE, np.nan, np.float32)
        wht = np.zeros(OUT_SHAPE, np.float32)
        con = np.zeros((1, *OUT_SHAPE), np.int32)
        for k in range(3):
            drizzle_cpu(data * (k + 1), weight, pixmap + k * 0.37, out, wht, con, "square", 0.7, 0.8, 1.0, k)
        results.append((out, wht, con))
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            assert a.tobytes() == b.tobytes()


def test_tiny_pixfrac_switches_to_point_kernel():
    rng = np.random.default_rng(5)
    data, weight = make_image(rng, (20, 24))
    pixmap = make_pixmap((20, 24), OUT_SHAPE)
    outputs = []
    for kernel, pixfrac in (("square", 0.0005), ("point", 1.0)):
        out, wht = np.zeros(OUT_SHAPE, np.float32), np.zeros(OUT_SHAPE, np.float32)
        drizzle_cpu(data, weight, pixmap, out, wht, None, kernel, pixfrac)
        outputs.append((out, wht))
    np.testing.assert_array_equal(outputs[0][0], outputs[1][0])
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])


def test_fill_unweighted_sets_only_empty_pixels():
    wht = np.array([[0.0, 1.0], [2.0, 0.0]], dtype=np.float32)
    data = np.ones((2, 2), dtype=np.float32)
    stack = np.ones((3, 2, 2), dtype=np.float32)
    fill_unweighted(data, wht, np.nan)
    fill_unweighted(stack, wht, -1.0)
    np.testing.assert_array_equal(np.isnan(data), wht == 0)
    np.testing.assert_array_equal(stack, np.where(wht == 0, -1.0, 1.0)[None].repeat(3, axis=0))
    assert fill_unweighted(data, wht, None) is data


def test_fillval_fills_pixels_without_weight_after_the_image():
    rng = np.random.default_rng(6)
    data, weight = make_image(rng, (20, 24))
    pixmap = make_pixmap((20, 24), OUT_SHAPE, shift=(9.0, 7.0))
    out, wht = np.zeros(OUT_SHAPE, np.float32), np.zeros(OUT_SHAPE, np.float32)
    drizzle_ref(data, weight, pixmap, out, wht, fillval="-9")
    assert np.all(out[wht == 0] == -9.0)
    assert np.all(out[wht > 0] != -9.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kernel": "cubic"}, "kernel must be one of"),
        ({"pixfrac": 0.0}, "pixfrac must be positive"),
        ({"kernel_ratio": None}, "kernel_ratio"),
        ({"input_id": 40}, "needs plane 1"),
        ({"out_con": np.zeros((1, 5, 5), np.int32)}, "out_con planes have shape"),
        ({"extra_wht": np.zeros(OUT_SHAPE, np.float32)}, "extra_wht needs extra_data"),
    ],
)
def test_invalid_arguments_name_the_parameter(change, message):
    rng = np.random.default_rng(0)
    data, weight = make_image(rng, (20, 24))
    kwargs = dict(out_con=np.zeros((1, *OUT_SHAPE), np.int32))
    kwargs.update(change)
    out, wht = np.zeros(OUT_SHAPE, np.float32), np.zeros(OUT_SHAPE, np.float32)
    with pytest.raises(ParameterError, match=message):
        drizzle_cpu(data, weight, make_pixmap((20, 24), OUT_SHAPE), out, wht, **kwargs)


def test_wrong_dtype_is_a_type_error():
    data, weight = make_image(np.random.default_rng(0), (20, 24))
    out, wht = np.zeros(OUT_SHAPE, np.float64), np.zeros(OUT_SHAPE, np.float32)
    with pytest.raises(TypeError, match="out_data must have dtype float32"):
        drizzle_ref(data, weight, make_pixmap((20, 24), OUT_SHAPE), out, wht)
