"""Final resampled variance from the running sums (stcal ``finalize_resample_variance``).

``VAR = S * scaling / T / T`` in float32, ``scaling = 1 / r**2`` for imaging
(``r`` the pixel scale ratio); pixels that never received a weight stay NaN.
"""

import numpy as np
from numpy import float32

from gpucal.engine.jit import Elementwise

__all__ = ["variance_finalize_cpu", "variance_finalize_gpu", "variance_finalize_gpu_kernels", "variance_finalize_ref"]


def _variance_finalize_px(wsum, wt, scaling):
    return wsum * float32(scaling) / wt / wt


_kernel = Elementwise(
    "variance_finalize", _variance_finalize_px, inputs=("wsum", "wt"), params=("scaling",), outputs=(("var", 0),)
)


def variance_finalize_ref(wsum, wt, scaling):
    """Numpy reference: ``(wsum * scaling / wt / wt).astype(float32)`` (float32 arithmetic)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (wsum * np.float32(scaling) / wt / wt).astype(np.float32)


variance_finalize_cpu = _kernel.cpu
variance_finalize_gpu = _kernel.gpu
variance_finalize_gpu_kernels = _kernel.gpu_kernels
