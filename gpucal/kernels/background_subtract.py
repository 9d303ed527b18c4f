"""Subtract a combined background (jwst ``bkg_subtract`` for imaging).

``SCI -= bkg`` and ``DQ |= bkg_dq``; ERR and the variance arrays are left
unchanged, as jwst does. The combined background arrives as the float64
sigma-clipped mean; jwst stores it in a float32 model before subtracting, so
it is rounded to float32 first and the subtraction is float32. A 2-D
background applies to every integration of a 3-D cube (tiled input).
"""

import numpy as np
from numpy import float32

from gpucal.engine.jit import Elementwise

__all__ = [
    "background_subtract_cpu",
    "background_subtract_gpu",
    "background_subtract_gpu_kernels",
    "background_subtract_ref",
]


def _background_subtract_px(sci, dq, bkg, bkg_dq):
    return sci - float32(bkg), dq | bkg_dq


_kernel = Elementwise(
    "background_subtract",
    _background_subtract_px,
    inputs=("sci", "dq", "bkg", "bkg_dq"),
    outputs=(("sci", 0), ("dq", 1)),
)


def background_subtract_ref(sci, dq, bkg, bkg_dq):
    """Numpy reference: ``(sci - float32(bkg), dq | bkg_dq)`` as new arrays."""
    return sci - bkg.astype(np.float32), np.bitwise_or(dq, bkg_dq)


background_subtract_cpu = _kernel.cpu
background_subtract_gpu = _kernel.gpu
background_subtract_gpu_kernels = _kernel.gpu_kernels
