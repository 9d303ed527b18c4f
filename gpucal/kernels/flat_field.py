"""Flat-field division for imaging (jwst ``flat_field``, ``apply_flat_field``).

Per pixel, with flat ``f``, flat error ``sf`` and flat DQ ``fdq``:

1. ``fdq |= DO_NOT_USE|NO_FLAT_FIELD`` where ``f`` is NaN or 0; pixels with
   ``NO_FLAT_FIELD`` also get ``DO_NOT_USE``; where ``fdq`` has ``DO_NOT_USE``
   the flat is replaced by 1 (no correction). Negative flats are applied.
2. ``SCI /= f``; ``VAR_FLAT = SCI**2 / f**2 * sf**2`` (from the divided SCI);
   ``VAR_POISSON /= f**2``; ``VAR_RNOISE /= f**2``;
   ``ERR = sqrt(VAR_POISSON + VAR_RNOISE + VAR_FLAT)``; ``DQ |= fdq``.
   With ``inverse`` (jwst's ``inverse=True``) the flat multiplies instead:
   ``SCI *= f``, ``VAR_POISSON *= f**2``, ``VAR_RNOISE *= f**2``,
   ``VAR_FLAT = 0``, ``ERR = sqrt(VAR_POISSON + VAR_RNOISE)``.
3. jwst's ``match_nans_and_flags``: NaN in any of SCI, ERR, VAR_* or
   ``DO_NOT_USE`` in DQ make the pixel ``DO_NOT_USE`` and NaN everywhere.

All arithmetic is float32, in the order jwst's numpy code uses, so results
agree to the last bit on the CPU. The flat may be 2-D while the science is a
3-D ``_rateints`` cube: the flat is then applied to every integration.
"""

import math

import numpy as np
from numpy import float32, uint32

from gpucal.engine.jit import Elementwise
from gpucal.kernels._pixel import any_nan5

__all__ = ["flat_field_cpu", "flat_field_gpu", "flat_field_ref"]

_BAD = 1 | (1 << 18)  # DO_NOT_USE | NO_FLAT_FIELD
_NO_FLAT = 1 << 18


def _flat_field_px(sci, vpois, vrn, dq, flat, flat_err, flat_dq, inverse):
    fdq = flat_dq
    f = flat
    if (f != f) or f == float32(0.0):
        fdq = fdq | uint32(_BAD)
    if fdq & uint32(_NO_FLAT):
        fdq = fdq | uint32(1)
    if fdq & uint32(1):
        f = float32(1.0)
    fsq = f * f
    if inverse:
        s = sci * f
        vflat = float32(0.0)
        vp = vpois * fsq
        vr = vrn * fsq
        err = float32(math.sqrt(vp + vr))
    else:
        s = sci / f
        vflat = s * s / fsq * (flat_err * flat_err)
        vp = vpois / fsq
        vr = vrn / fsq
        err = float32(math.sqrt(vp + vr + vflat))
    q = dq | fdq
    if any_nan5(s, err, vr, vp, vflat) or (q & uint32(1)):
        nan = float32(math.nan)
        return nan, nan, nan, nan, nan, q | uint32(1)
    return s, err, vp, vr, vflat, q


_kernel = Elementwise(
    "flat_field",
    _flat_field_px,
    inputs=("sci", "var_poisson", "var_rnoise", "dq", "flat", "flat_err", "flat_dq"),
    params=("inverse",),
    outputs=(("sci", 0), ("err", 0), ("var_poisson", 1), ("var_rnoise", 2), ("var_flat", 0), ("dq", 3)),
)


def flat_field_ref(sci, var_poisson, var_rnoise, dq, flat, flat_err, flat_dq, inverse):
    """Numpy reference: jwst's ``apply_flat_field`` + ``match_nans_and_flags``.

    Parameters
    ----------
    sci, var_poisson, var_rnoise : ndarray of float32
        Science data and variances, 2-D or 3-D.
    dq : ndarray of uint32
    flat, flat_err : ndarray of float32
        Flat field and its error, matching the trailing 2 dimensions.
    flat_dq : ndarray of uint32
    inverse : bool
        Multiply by the flat instead of dividing (jwst's ``inverse``).

    Returns
    -------
    tuple of ndarray
        ``(sci, err, var_poisson, var_rnoise, var_flat, dq)``, new arrays.
    """
    flat = flat.copy()
    fdq = flat_dq.copy()
    bad = np.isnan(flat) | (flat == 0.0)
    fdq[bad] |= np.uint32(_BAD)
    fdq[(fdq & _NO_FLAT) != 0] |= np.uint32(1)
    flat[(fdq & 1) != 0] = 1.0
    fsq = flat * flat
    if inverse:
        s = sci * flat
        vflat = np.zeros_like(s)
        vp = var_poisson * fsq
        vr = var_rnoise * fsq
        err = np.sqrt(vp + vr)
    else:
        s = sci / flat
        vflat = s**2 / fsq * flat_err**2
        vp = var_poisson / fsq
        vr = var_rnoise / fsq
        err = np.sqrt(vp + vr + vflat)
    q = np.bitwise_or(dq, fdq)
    invalid = np.isnan(s) | np.isnan(err) | np.isnan(vr) | np.isnan(vp) | np.isnan(vflat) | ((q & 1) != 0)
    q[invalid] |= np.uint32(1)
    for array in (s, err, vp, vr, vflat):
        array[invalid] = np.nan
    return s, err, vp, vr, vflat, q


flat_field_cpu = _kernel.cpu
flat_field_gpu = _kernel.gpu
flat_field_gpu_kernels = _kernel.gpu_kernels
