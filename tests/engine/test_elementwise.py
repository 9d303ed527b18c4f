"""The single-source elementwise compiler: tiling, in-place outputs, errors, disk cache."""

import numpy as np
import pytest

from gpucal.engine.jit import Elementwise


def _axpy_px(x, y, a):
    return x * a + y, x - y


KERNEL = Elementwise("test_axpy", _axpy_px, inputs=("x", "y"), params=("a",), outputs=(("z", 0), ("d", "float64")))


@pytest.mark.parametrize("form", ["cpu", "gpu"])
def test_full_and_tiled_inputs(form):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    y = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    z, d = getattr(KERNEL, form)(x, y, 2.0)
    np.testing.assert_allclose(z, x * 2 + y)
    assert d.dtype == np.float64
    np.testing.assert_allclose(d, x - y)


@pytest.mark.parametrize("form", ["cpu", "gpu"])
def test_in_place_output(form):
    x = np.ones((5, 6), np.float32)
    y = np.full((5, 6), 3, np.float32)
    d = np.empty((5, 6))
    out = getattr(KERNEL, form)(x, y, 4.0, out=(x, d))
    assert out[0] is x
    np.testing.assert_array_equal(x, 7.0)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="input 'y' has shape"):
        KERNEL.cpu(np.ones((3, 4), np.float32), np.ones((4, 3), np.float32), 1.0)


def test_non_contiguous_is_an_error():
    with pytest.raises(ValueError, match="C-contiguous"):
        KERNEL.cpu(np.ones((4, 4), np.float32)[:, ::2], np.ones((4, 2), np.float32), 1.0)


def test_wrong_argument_count():
    with pytest.raises(TypeError, match="expected 2 arrays and 1 scalars"):
        KERNEL.cpu(np.ones(3, np.float32), np.ones(3, np.float32))


def test_generated_modules_live_in_the_cache_folder():
    from gpucal.engine.cache import cache_root

    KERNEL.cpu(np.ones(3, np.float32), np.ones(3, np.float32), 1.0)
    generated = list((cache_root() / "generated").glob("test_axpy_cpu_ff_*.py"))
    assert generated, "the CPU loop module was not written to the cache folder"
    assert "prange" in generated[0].read_text()
