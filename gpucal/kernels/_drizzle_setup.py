"""Argument checking and per-image kernel constants shared by the three drizzle forms.

:func:`prepare` validates one call's arguments once, at the public
boundary, and derives what every implementation takes: the kernel code, the
float64 constants the C kernels compute per image (``params``, laid out as
the ``P_*`` indices of :mod:`gpucal.kernels._drizzle_math`), the Lanczos
look-up table, the input box as ``Drizzle.add_image``/``tdriz`` fix it up,
and the context plane and bit.
"""

import functools
import math
from typing import NamedTuple

import numpy as np

from gpucal.errors import ParameterError
from gpucal.kernels._drizzle_math import (
    GAUSSIAN,
    KERNEL_CODES,
    LANCZOS2,
    LANCZOS3,
    NPARAMS,
    P_DH,
    P_EFAC,
    P_ES,
    P_ISCALE,
    P_NLUT,
    P_PFO,
    P_SCALE,
    P_SDP,
    POINT,
    TURBO,
)

__all__ = ["Setup", "prepare"]

_LUT_DELTA = 0.003


class Setup(NamedTuple):
    """Validated arguments of one drizzle call, in the form every kernel implementation takes."""

    kernel: int
    params: np.ndarray  # float64 (NPARAMS,)
    lut: np.ndarray  # float64 Lanczos table (1 entry when unused)
    box: tuple  # (xmin, xmax, ymin, ymax) before shrinking
    iscale: np.float32
    plane: int
    bitval: np.int32
    con: object  # 3-D context array or None
    extra_data: object
    extra_out: object
    extra_wht: object
    n_extra: int
    fillval: object
    extra_origin: tuple = (0, 0)  # (x0, y0) of the extras' output window
    dq: object = None  # input DQ (uint32) when DQ is propagated
    out_dq: object = None  # output DQ (uint32), updated in place


@functools.lru_cache(maxsize=4)
def _lanczos_lut(order):
    """``create_lanczos_lut``: ``sin(pi x) sin(pi x / n) / (pi^2 x^2 / n)`` on a 0.003 grid, with libm's sin."""
    n = math.ceil(order / _LUT_DELTA) + 1
    lut = np.empty(n, dtype=np.float64)
    lut[0] = 1.0
    for i in range(1, n):
        x = i * _LUT_DELTA
        if x <= order:
            poff = math.pi * x
            r = poff / order
            lut[i] = math.sin(poff) * math.sin(r) / (poff * r)
        else:
            lut[i] = 0.0
    lut.flags.writeable = False
    return lut


def _kernel_params(code, pixfrac, ratio, iscale):
    """The float64 per-image kernel constants, computed as the C kernels compute them."""
    params = np.zeros(NPARAMS, dtype=np.float64)
    params[P_DH] = 0.5 * pixfrac
    params[P_ISCALE] = float(iscale)
    if code == TURBO:
        params[P_PFO] = pixfrac / ratio / 2.0
        params[P_SCALE] = (1.0 / (pixfrac * pixfrac)) * ratio * ratio
    elif code == GAUSSIAN:
        pfo = 2.5 * pixfrac / 2.3548 / ratio
        low = 1.2 / ratio
        params[P_PFO] = low if pfo < low else pfo
        efac = (2.3548 * 2.3548) * (ratio * ratio) * (1.0 / (pixfrac * pixfrac)) / 2.0
        params[P_EFAC] = efac
        params[P_ES] = efac / math.pi
    elif code in (LANCZOS2, LANCZOS3):
        order = 2 if code == LANCZOS2 else 3
        params[P_PFO] = order / ratio
        params[P_SDP] = ratio / _LUT_DELTA
        params[P_NLUT] = float(_lanczos_lut(order).size)
    return params


def _check_array(name, array, dtype, shape=None, ndim=None):
    if array is None:
        raise ParameterError(f"{name} must be an array, not None")
    if np.dtype(array.dtype) != np.dtype(dtype):
        raise TypeError(f"{name} must have dtype {np.dtype(dtype).name}, not {array.dtype}")
    if ndim is not None and array.ndim != ndim:
        raise ParameterError(f"{name} must be {ndim}-D, not of shape {array.shape}")
    if shape is not None and tuple(array.shape) != tuple(shape):
        raise ParameterError(f"{name} has shape {tuple(array.shape)}, expected {tuple(shape)}")
    if not array.flags.c_contiguous:
        raise ParameterError(f"{name} must be C-contiguous")


def _normalize_box(nx, ny, xmin, xmax, ymin, ymax):
    """The input box as ``Drizzle.add_image`` and ``tdriz`` fix it up (``xmax == 0`` means the full width)."""
    xmin = 0 if xmin is None or xmin < 0 else int(xmin)
    ymin = 0 if ymin is None or ymin < 0 else int(ymin)
    xmax = nx - 1 if xmax is None or xmax == 0 or xmax > nx - 1 else int(xmax)
    ymax = ny - 1 if ymax is None or ymax == 0 or ymax > ny - 1 else int(ymax)
    return xmin, xmax, ymin, ymax


def prepare(
    data,
    weight,
    pixmap,
    out_data,
    out_wht,
    out_con,
    kernel,
    pixfrac,
    kernel_ratio,
    iscale,
    input_id,
    xmin,
    xmax,
    ymin,
    ymax,
    fillval,
    extra_data,
    extra_out,
    extra_wht,
    dq=None,
    out_dq=None,
    extra_origin=None,
):
    """Validate one call's arguments (shared by the three forms) and derive the kernel constants."""
    _check_array("data", data, np.float32, ndim=2)
    ny, nx = data.shape
    _check_array("weight", weight, np.float32, shape=(ny, nx))
    _check_array("pixmap", pixmap, np.float64, shape=(ny, nx, 2))
    _check_array("out_data", out_data, np.float32, ndim=2)
    out_shape = out_data.shape
    _check_array("out_wht", out_wht, np.float32, shape=out_shape)
    if nx < 2 or ny < 2:
        raise ParameterError(f"data must be at least 2x2 pixels, not {data.shape}")
    name = str(kernel).lower()
    if name not in KERNEL_CODES:
        raise ParameterError(f"kernel must be one of {sorted(KERNEL_CODES)}, not {kernel!r}")
    code = KERNEL_CODES[name]
    pixfrac = float(pixfrac)
    if not pixfrac > 0.0 or not math.isfinite(pixfrac):
        raise ParameterError(f"pixfrac must be positive and finite, not {pixfrac}")
    if pixfrac <= 0.001:  # tdriz: "Kernel reset to 'point' due to input 'pixfrac' being too small"
        code = POINT
    if kernel_ratio is None:
        raise ParameterError("kernel_ratio (pixel scale ratio) must be given")
    ratio = float(np.float32(kernel_ratio))
    if not ratio > 0.0 or not math.isfinite(ratio):
        raise ParameterError(f"kernel_ratio must be positive and finite, not {kernel_ratio}")
    iscale32 = np.float32(iscale)
    if not iscale32 > 0.0 or not math.isfinite(iscale32):
        raise ParameterError(f"iscale must be positive and finite, not {iscale}")
    input_id = int(input_id)
    if input_id < 0:
        raise ParameterError(f"input_id must be >= 0, not {input_id}")
    plane, bit = divmod(input_id, 32)
    if out_con is not None:
        if out_con.ndim == 2:
            out_con = out_con.reshape((1, *out_con.shape))
        _check_array("out_con", out_con, np.int32, ndim=3)
        if tuple(out_con.shape[1:]) != tuple(out_shape):
            raise ParameterError(f"out_con planes have shape {out_con.shape[1:]}, expected {out_shape}")
        if plane >= out_con.shape[0]:
            raise ParameterError(f"out_con has {out_con.shape[0]} planes; input_id {input_id} needs plane {plane}")
    n_extra = 0
    origin = (0, 0) if extra_origin is None else tuple(int(v) for v in extra_origin)
    if len(origin) != 2:
        raise ParameterError(f"extra_origin must be (x0, y0), not {extra_origin!r}")
    if extra_data is not None or extra_out is not None:
        _check_array("extra_data", extra_data, np.float32, ndim=3)
        n_extra = extra_data.shape[0]
        _check_array("extra_data", extra_data, np.float32, shape=(n_extra, ny, nx))
        _check_array("extra_out", extra_out, np.float32, ndim=3)
        if extra_out.shape[0] != n_extra:
            raise ParameterError(f"extra_out has {extra_out.shape[0]} planes, expected {n_extra}")
        if extra_origin is None and tuple(extra_out.shape[1:]) != tuple(out_shape):
            raise ParameterError(f"extra_out planes have shape {extra_out.shape[1:]}, expected {out_shape}")
        x0, y0 = origin
        if x0 < 0 or y0 < 0 or x0 + extra_out.shape[2] > out_shape[1] or y0 + extra_out.shape[1] > out_shape[0]:
            raise ParameterError(
                f"extra_out window {extra_out.shape[1:]} at (x0, y0) = {origin} is not inside the output {out_shape}"
            )
        if extra_wht is not None:
            _check_array("extra_wht", extra_wht, np.float32, shape=extra_out.shape[1:])
    elif extra_wht is not None:
        raise ParameterError("extra_wht needs extra_data and extra_out")
    if (dq is None) != (out_dq is None):
        raise ParameterError("dq and out_dq must be given together (DQ propagation)")
    if dq is not None:
        _check_array("dq", dq, np.uint32, shape=(ny, nx))
        _check_array("out_dq", out_dq, np.uint32, shape=out_shape)
    if fillval is not None and isinstance(fillval, str):
        fillval = None if fillval.strip().upper() in ("", "INDEF") else float(fillval)
    # A writable copy (or a 1-entry stand-in), so every kernel shares one compiled signature.
    lut = np.array(_lanczos_lut(2 if code == LANCZOS2 else 3)) if code in (LANCZOS2, LANCZOS3) else np.zeros(1)
    return Setup(
        kernel=code,
        params=_kernel_params(code, pixfrac, ratio, iscale32),
        lut=lut,
        box=_normalize_box(nx, ny, xmin, xmax, ymin, ymax),
        iscale=iscale32,
        plane=plane,
        bitval=np.array(1 << bit, dtype=np.int64).astype(np.int32)[()],
        con=out_con,
        extra_data=extra_data if n_extra else None,
        extra_out=extra_out if n_extra else None,
        extra_wht=extra_wht if n_extra else None,
        n_extra=n_extra,
        fillval=fillval,
        extra_origin=origin,
        dq=dq,
        out_dq=out_dq,
    )
