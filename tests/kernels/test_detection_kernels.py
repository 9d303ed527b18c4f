"""The detection kernels equal photutils/scipy bit for bit on the CPU (the parity cases allow 1 ulp on GPUs)."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from gpucal.kernels.background_zoom import background_zoom_cpu, background_zoom_ref
from gpucal.kernels.circular_peaks import circular_peaks_cpu, circular_peaks_ref


@pytest.mark.parametrize(
    ("mesh_shape", "box", "shape"),
    [((6, 6), (400, 400), (2048, 2048)), ((7, 5), (37, 41), (250, 200)), ((1, 5), (10, 10), (10, 50))],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_background_zoom_equals_scipy_bit_for_bit(mesh_shape, box, shape, dtype):
    mesh = np.random.default_rng(3).normal(5.0, 1.0, mesh_shape).astype(dtype)
    expected = background_zoom_ref(mesh, box, shape)
    got = background_zoom_cpu(mesh, box, shape)
    assert got.dtype == expected.dtype == dtype
    assert got.tobytes() == expected.tobytes()


def test_background_zoom_refuses_a_shape_beyond_the_mesh():
    from gpucal.errors import ParameterError

    with pytest.raises(ParameterError, match="exceeds"):
        background_zoom_cpu(np.arange(4.0, dtype=np.float32).reshape(2, 2), 4, (9, 8))


@pytest.mark.parametrize("radius", [0.5, 1, 1.2, 1.5, 2, 2.5, 3.7, 6.3])
@pytest.mark.parametrize("shape", [(60, 50), (7, 5), (1, 9)])
def test_circular_peaks_equal_photutils(radius, shape):
    rng = np.random.default_rng(int(radius * 10) + shape[0])
    for data in (
        rng.normal(0.0, 1.0, shape).astype(np.float32),
        gaussian_filter(rng.normal(0.0, 1.0, shape), 1.0),
        np.round(rng.normal(0.0, 1.0, shape), 1).astype(np.float32),
    ):
        data[-1, :] = 0.25
        np.testing.assert_array_equal(circular_peaks_cpu(data, radius), circular_peaks_ref(data, radius))
