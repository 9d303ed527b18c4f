"""gpucal's blot kernel against drizzle 2.2's C ``tblot`` (``drizzle.resample.blot_image``, linear)."""

import numpy as np
import pytest

from gpucal.errors import ParameterError
from gpucal.kernels.blot import blot_cpu, blot_ref
from tests.conftest import REAL_GPU, Backend
from tests.kernels.cases_drizzle import make_pixmap

resample = pytest.importorskip("drizzle.resample")


@pytest.mark.parametrize("form", ["numpy", "numba", "cuda"])
@pytest.mark.parametrize(("fillval", "iscale"), [(np.nan, 1.0), (-3.5, 0.75)])
def test_blot_matches_c_engine(form, fillval, iscale):
    rng = np.random.default_rng(12)
    median = rng.normal(10.0, 3.0, (31, 29)).astype(np.float32)
    median[7, 9] = np.nan
    pixmap = make_pixmap((24, 22), (31, 29), rot_deg=21.0, scale=1.25, shift=(2.0, -1.0), warp=0.02)
    pixmap[0, :4] = [(28.0, 30.0), (28.0, 12.6), (3.3, 30.0), (28.9, 30.9)]  # last pixel/column/row, edge
    pixmap[2, 2, 0] = np.nan
    expected = np.full(pixmap.shape[:2], fillval, dtype=np.float32)
    c_pixmap = np.where(np.isnan(pixmap), -1.0, pixmap)  # what stcal's gwcs_blot passes
    resample.blot_image(median, c_pixmap, out_img=expected, fillval=fillval, iscale=iscale, interp="linear")
    actual = Backend(form).run("blot", median, pixmap, fillval, iscale)
    if form == "cuda" and REAL_GPU:
        # NVVM contracts the bilinear sums into fused multiply-adds: measured on an H200, ~20 % of the
        # pixels move by one float32 ulp (never more). The numpy, numba and simulated forms are exact.
        np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
        finite = np.isfinite(expected)
        np.testing.assert_array_max_ulp(actual[finite], expected[finite], maxulp=1)
        return
    np.testing.assert_array_equal(actual, expected)


def test_blot_writes_into_out_and_fills_unmapped_pixels():
    median = np.arange(20, dtype=np.float32).reshape(4, 5)
    pixmap = np.array([[[1.5, 2.0], [np.nan, 1.0], [4.0, 3.0]]])
    out = np.zeros((1, 3), dtype=np.float32)
    result = blot_cpu(median, pixmap, 0.0, 1.0, out)
    assert result is out
    np.testing.assert_array_equal(out, [[11.5, 0.0, 19.0]])
    np.testing.assert_array_equal(blot_ref(median, pixmap, 0.0, 1.0), out)


def test_blot_rejects_a_wrong_pixmap():
    with pytest.raises(ParameterError, match="pixmap"):
        blot_ref(np.zeros((4, 5), np.float32), np.zeros((3, 3, 3)))
