"""Per-pixel drizzle input weights (stcal ``build_driz_weight``).

``ivm``: ``w = float32(1 / VAR_RNOISE)`` (0 where not finite) for good pixels;
``exptime``: ``w = float32(TMEASURE or EXPTIME)`` for good pixels; ``None``
(``WEIGHT_UNIT``): ``w = 1`` for good pixels; good means
``DQ & bad_bits == 0`` with ``bad_bits = ~good_bits`` (jwst's default
``good_bits = "~DO_NOT_USE+NON_SCIENCE"`` gives ``bad_bits = 513``). Weights
are float32, as stcal returns them.
"""

import numpy as np
from numpy import float32, uint32

from gpucal.engine.jit import Elementwise

__all__ = [
    "WEIGHT_EXPTIME",
    "WEIGHT_IVM",
    "WEIGHT_UNIT",
    "drizzle_weight_cpu",
    "drizzle_weight_gpu",
    "drizzle_weight_gpu_kernels",
    "drizzle_weight_ref",
]

WEIGHT_IVM = 0
WEIGHT_EXPTIME = 1
WEIGHT_UNIT = 2


def _drizzle_weight_px(dq, var_rnoise, bad_bits, mode, exptime):
    if dq & uint32(bad_bits):
        return float32(0.0)
    if mode == 1:
        return float32(exptime)
    if mode == 2:
        return float32(1.0)
    inv = float32(1.0) / var_rnoise
    if inv != inv or inv == float32(np.inf) or inv == float32(-np.inf):
        return float32(0.0)
    return inv


_kernel = Elementwise(
    "drizzle_weight",
    _drizzle_weight_px,
    inputs=("dq", "var_rnoise"),
    params=("bad_bits", "mode", "exptime"),
    outputs=(("weight", "float32"),),
)


def drizzle_weight_ref(dq, var_rnoise, bad_bits, mode, exptime):
    """Numpy reference (stcal's ``build_driz_weight``).

    Parameters
    ----------
    dq : ndarray of uint32
    var_rnoise : ndarray of float32
        Read-noise variance (pass ones when the input has none: weight 1).
    bad_bits : int
        DQ bits that make a pixel bad (``~good_bits``).
    mode : int
        ``WEIGHT_IVM``, ``WEIGHT_EXPTIME`` or ``WEIGHT_UNIT`` (jwst's ``weight_type=None``).
    exptime : float
        Measurement (or exposure) time, for ``WEIGHT_EXPTIME``.
    """
    good = (dq & np.uint32(bad_bits)) == 0
    if mode == WEIGHT_EXPTIME:
        return (np.float32(exptime) * good).astype(np.float32)
    if mode == WEIGHT_UNIT:
        return good.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.float32(1.0) / var_rnoise
    inv[~np.isfinite(inv)] = 0
    return (inv * good).astype(np.float32)


drizzle_weight_cpu = _kernel.cpu
drizzle_weight_gpu = _kernel.gpu
drizzle_weight_gpu_kernels = _kernel.gpu_kernels
