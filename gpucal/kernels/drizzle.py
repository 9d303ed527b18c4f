"""Drizzle one input image onto an output grid (drizzle 2.2 ``tdriz``, as used by jwst 3.0).

``drizzle_ref``, ``drizzle_cpu`` and ``drizzle_gpu`` take the same arguments
and do what one ``drizzle.resample.Drizzle.add_image`` call does: accumulate
``data`` (weighted by ``weight`` and by each input pixel's overlap with the
output pixels) into ``out_data``/``out_wht``/``out_con`` **in place**.

Algorithm (drizzle's C engine, reproduced operation by operation):

* the input box ``[xmin, xmax] x [ymin, ymax]`` is shrunk to the rows and
  columns holding finite pixmap values (fewer than two of either: ValueError,
  as the C engine raises); a polygon scanner then restricts the visited pixels
  to those lying wholly inside the part of the box that maps onto the output
  grid (see :mod:`gpucal.kernels._drizzle_scan`);
* kernels: ``square`` (exact overlap, "boxer", of the pixfrac-shrunken input
  pixel whose corners are interpolated from the pixmap, divided by its area),
  ``point``, ``turbo``, ``gaussian``, ``lanczos2``, ``lanczos3``; ``pixfrac <=
  0.001`` switches to ``point``; ``kernel_ratio`` (drizzle's ``pscale_ratio``,
  output/input pixel scale) sizes turbo, gaussian and lanczos;
* per (input pixel, output pixel) pair ``dow = (float)(overlap * weight)``;
  the context bit of ``input_id`` is set where ``dow > 0``; ``dow == 0``
  changes nothing else; otherwise ``SCI = (float)((SCI*WHT + dow*d) /
  (WHT+dow))`` (the numerator in float32, as the C expression evaluates it;
  ``SCI = d`` where WHT was 0) and ``WHT += dow``, with ``d = data * iscale``.
  NaN data with a positive weight propagates, as in C;
* every output pixel receives its contributions in input (row-major) order,
  so all three forms give the C engine's numbers: bit for bit on the CPU, up
  to floating-point contraction (FMA) on a real GPU.

Extra arrays (``extra_data``, shape ``(k, ny, nx)``) are drizzled in the same
pass with the same per-pair weights into ``extra_out`` (``(k, NY, NX)``): what
jwst does with separate drizzles of ``sqrt(VAR_*)`` and of ERR, sharing the
pixmap, weights and kernel, without repeating the overlap work. With
``extra_wht`` (``(NY, NX)``) the extras keep their own running weight (the
variance drizzles start from a fresh grid for every exposure: pass zeros and a
NaN-filled ``extra_out``); without it they share ``out_wht`` (a cumulative
drizzle with the same weights, such as ``driz_err``).

``fillval`` (None = "INDEF": leave) is written where the weight is 0 after
the image, as ``tdriz`` does; :func:`fill_unweighted` does the same alone.

Return value: a :class:`DrizzleResult` of the (updated, same) output arrays.
The C engine's ``nmiss``/``nskip`` counts are not computed: jwst ignores them.
``kernel_ratio`` must be given (drizzle can estimate it from the pixmap; jwst
always passes it).
"""

import functools
import math
from typing import NamedTuple

import numpy as np

from gpucal.engine.arrays import get_array_module
from gpucal.errors import ParameterError
from gpucal.kernels._drizzle_math import (
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
    GAUSSIAN,
    TURBO,
)

__all__ = ["DrizzleResult", "drizzle_cpu", "drizzle_gpu", "drizzle_gpu_kernels", "drizzle_ref", "fill_unweighted"]

_LUT_DELTA = 0.003


class DrizzleResult(NamedTuple):
    """The output arrays a drizzle call updated (the caller's own arrays; None where not given)."""

    data: object
    wht: object
    con: object = None
    extra: object = None
    extra_wht: object = None


class _Setup(NamedTuple):
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


@functools.lru_cache(maxsize=4)
def _lanczos_lut(order):
    """``create_lanczos_lut``: ``sin(pi x) sin(pi x / n) / (pi^2 x^2 / n)`` on a 0.003 grid, with libm's sin."""
    n = int(math.ceil(order / _LUT_DELTA)) + 1
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


def _prepare(data, weight, pixmap, out_data, out_wht, out_con, kernel, pixfrac, kernel_ratio, iscale,
             input_id, xmin, xmax, ymin, ymax, fillval, extra_data, extra_out, extra_wht):  # fmt: skip
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
    if extra_data is not None or extra_out is not None:
        _check_array("extra_data", extra_data, np.float32, ndim=3)
        n_extra = extra_data.shape[0]
        _check_array("extra_data", extra_data, np.float32, shape=(n_extra, ny, nx))
        _check_array("extra_out", extra_out, np.float32, shape=(n_extra, *out_shape))
        if extra_wht is not None:
            _check_array("extra_wht", extra_wht, np.float32, shape=out_shape)
    elif extra_wht is not None:
        raise ParameterError("extra_wht needs extra_data and extra_out")
    if fillval is not None and isinstance(fillval, str):
        fillval = None if fillval.strip().upper() in ("", "INDEF") else float(fillval)
    lut = _lanczos_lut(2 if code == LANCZOS2 else 3) if code in (LANCZOS2, LANCZOS3) else np.zeros(1)
    return _Setup(
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
    )


def fill_unweighted(out_data, out_wht, fillval):
    """Set ``out_data`` to ``fillval`` where ``out_wht == 0`` (drizzle's ``put_fill``), in place.

    ``out_data`` may be 2-D or a stack ``(k, NY, NX)`` sharing ``out_wht``.
    ``fillval=None`` (drizzle's "INDEF") leaves the data unchanged. Works on
    numpy and CuPy arrays alike.
    """
    if fillval is None:
        return out_data
    xp = get_array_module(out_data, out_wht)
    empty = out_wht == 0
    if out_data.ndim == 3:
        empty = xp.broadcast_to(empty, out_data.shape)
    out_data[empty] = np.float32(fillval)
    return out_data


def _finish(setup, out_data, out_wht, out_con):
    """Apply ``fillval`` and package the outputs."""
    if setup.fillval is not None:
        fill_unweighted(out_data, out_wht, setup.fillval)
        if setup.n_extra:
            fill_unweighted(setup.extra_out, out_wht if setup.extra_wht is None else setup.extra_wht, setup.fillval)
    return DrizzleResult(out_data, out_wht, out_con, setup.extra_out, setup.extra_wht)


def drizzle_ref(data, weight, pixmap, out_data, out_wht, out_con=None, kernel="square", pixfrac=1.0,
                kernel_ratio=1.0, iscale=1.0, input_id=0, xmin=0, xmax=None, ymin=0, ymax=None, fillval=None,
                extra_data=None, extra_out=None, extra_wht=None):  # fmt: skip
    """Numpy reference: drizzle one image, a plain pixel-by-pixel transcription of ``tdriz``.

    Parameters
    ----------
    data : ndarray of float32, shape (ny, nx)
        Input science values.
    weight : ndarray of float32, shape (ny, nx)
        Per-pixel weights (0 = ignore).
    pixmap : ndarray of float64, shape (ny, nx, 2)
        Output-frame ``(x, y)`` of each input pixel centre; NaN = unmapped.
    out_data, out_wht : ndarray of float32, shape (NY, NX)
        Running output mean and weight, updated in place.
    out_con : ndarray of int32, shape (nplanes, NY, NX) or (NY, NX), optional
        Context bits, updated in place: bit ``input_id % 32`` of plane ``input_id // 32``.
    kernel : {"square", "point", "turbo", "gaussian", "lanczos2", "lanczos3"}
    pixfrac : float
        Linear shrink of the input pixel (square, turbo, gaussian).
    kernel_ratio : float
        Output/input pixel scale ratio, rounded to float32 (drizzle's ``pscale_ratio``).
    iscale : float
        Intensity scale applied to ``data`` (and ``extra_data``), as float32.
    input_id : int
        Context ID of this image.
    xmin, xmax, ymin, ymax : int or None
        Inclusive input box (``add_image``'s; None or out of range = the image edge).
    fillval : float, str or None
        Written where the weight is 0 afterwards; None or "INDEF" leaves it.
    extra_data : ndarray of float32, shape (k, ny, nx), optional
        Arrays drizzled with the same per-pair weights.
    extra_out : ndarray of float32, shape (k, NY, NX), optional
        Their running means, updated in place.
    extra_wht : ndarray of float32, shape (NY, NX), optional
        Running weight of the extras; when None they share ``out_wht``.

    Returns
    -------
    DrizzleResult
        The output arrays (the same objects, updated).
    """
    from gpucal.kernels._drizzle_ref import drizzle_pixels

    setup = _prepare(data, weight, pixmap, out_data, out_wht, out_con, kernel, pixfrac, kernel_ratio, iscale,
                     input_id, xmin, xmax, ymin, ymax, fillval, extra_data, extra_out, extra_wht)  # fmt: skip
    drizzle_pixels(setup, data, weight, pixmap, out_data, out_wht)
    return _finish(setup, out_data, out_wht, out_con)


def drizzle_cpu(data, weight, pixmap, out_data, out_wht, out_con=None, kernel="square", pixfrac=1.0,
                kernel_ratio=1.0, iscale=1.0, input_id=0, xmin=0, xmax=None, ymin=0, ymax=None, fillval=None,
                extra_data=None, extra_out=None, extra_wht=None):  # fmt: skip
    """Numba CPU form of :func:`drizzle_ref` (same arguments and results, bit for bit).

    Parallel over bands of output rows: every thread walks the input in order
    and applies only the contributions landing in its band, so each output
    pixel is updated in input order whatever the thread count.
    """
    from gpucal.kernels._drizzle_cpu import drizzle_bands

    setup = _prepare(data, weight, pixmap, out_data, out_wht, out_con, kernel, pixfrac, kernel_ratio, iscale,
                     input_id, xmin, xmax, ymin, ymax, fillval, extra_data, extra_out, extra_wht)  # fmt: skip
    drizzle_bands(setup, data, weight, pixmap, out_data, out_wht)
    return _finish(setup, out_data, out_wht, out_con)


def drizzle_gpu(data, weight, pixmap, out_data, out_wht, out_con=None, kernel="square", pixfrac=1.0,
                kernel_ratio=1.0, iscale=1.0, input_id=0, xmin=0, xmax=None, ymin=0, ymax=None, fillval=None,
                extra_data=None, extra_out=None, extra_wht=None):  # fmt: skip
    """CUDA form of :func:`drizzle_ref` (CuPy arrays on a GPU, numpy arrays in the simulator).

    Deterministic (bitwise identical run to run): input pixels are binned by
    the output tiles their footprints touch, each tile's list is sorted into
    input order, and one thread per output pixel applies its contributions in
    that order. See :mod:`gpucal.kernels._drizzle_gpu`.
    """
    from gpucal.kernels._drizzle_gpu import drizzle_tiles

    setup = _prepare(data, weight, pixmap, out_data, out_wht, out_con, kernel, pixfrac, kernel_ratio, iscale,
                     input_id, xmin, xmax, ymin, ymax, fillval, extra_data, extra_out, extra_wht)  # fmt: skip
    drizzle_tiles(setup, data, weight, pixmap, out_data, out_wht)
    return _finish(setup, out_data, out_wht, out_con)


def drizzle_gpu_kernels(data, weight, pixmap, out_data, out_wht, out_con=None, kernel="square", pixfrac=1.0,
                        kernel_ratio=1.0, iscale=1.0, input_id=0, xmin=0, xmax=None, ymin=0, ymax=None,
                        fillval=None, extra_data=None, extra_out=None, extra_wht=None):  # fmt: skip
    """``[(python_function, numba argument types)]`` of the CUDA kernels :func:`drizzle_gpu` launches."""
    from gpucal.kernels._drizzle_gpu import kernel_signatures

    setup = _prepare(data, weight, pixmap, out_data, out_wht, out_con, kernel, pixfrac, kernel_ratio, iscale,
                     input_id, xmin, xmax, ymin, ymax, fillval, extra_data, extra_out, extra_wht)  # fmt: skip
    return kernel_signatures(setup, data, weight, pixmap, out_data, out_wht)
