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

The extras may cover only a window of the output (``extra_origin``), and
``dq``/``out_dq`` propagate DQ as drizzle's ``add_image(dq=...)`` does.

``fillval`` (None = "INDEF": leave) is written where the weight is 0 after
the image, as ``tdriz`` does; :func:`fill_unweighted` does the same alone.

Return value: a :class:`DrizzleResult` of the (updated, same) output arrays.
The C engine's ``nmiss``/``nskip`` counts are not computed: jwst ignores them.
``kernel_ratio`` must be given (drizzle can estimate it from the pixmap; jwst
always passes it).
"""

import functools
import inspect
from typing import NamedTuple

import numpy as np

from gpucal.engine.arrays import get_array_module
from gpucal.kernels._drizzle_setup import prepare

__all__ = ["DrizzleResult", "drizzle_cpu", "drizzle_gpu", "drizzle_gpu_kernels", "drizzle_ref", "fill_unweighted"]


class _Outputs(NamedTuple):
    data: object
    wht: object
    con: object = None
    extra: object = None
    extra_wht: object = None


class DrizzleResult(_Outputs):
    """The output arrays a drizzle call updated (the caller's own arrays; None where not given).

    Unpacks as ``(data, wht, con, extra, extra_wht)``; the output DQ, when DQ
    is propagated, is the ``dq`` attribute (None otherwise), kept out of the
    tuple so existing unpacking code is unaffected.
    """

    def __new__(cls, data, wht, con=None, extra=None, extra_wht=None, dq=None):
        self = super().__new__(cls, data, wht, con, extra, extra_wht)
        self.dq = dq
        return self


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
            wht = setup.extra_wht
            if wht is None:
                (x0, y0), (h, w) = setup.extra_origin, setup.extra_out.shape[1:]
                wht = out_wht[y0 : y0 + h, x0 : x0 + w]
            fill_unweighted(setup.extra_out, wht, setup.fillval)
    return DrizzleResult(out_data, out_wht, out_con, setup.extra_out, setup.extra_wht, setup.out_dq)


def drizzle_ref(
    data,
    weight,
    pixmap,
    out_data,
    out_wht,
    out_con=None,
    kernel="square",
    pixfrac=1.0,
    kernel_ratio=1.0,
    iscale=1.0,
    input_id=0,
    xmin=0,
    xmax=None,
    ymin=0,
    ymax=None,
    fillval=None,
    extra_data=None,
    extra_out=None,
    extra_wht=None,
    dq=None,
    out_dq=None,
    extra_origin=None,
):
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
    dq : ndarray of uint32, shape (ny, nx), optional
        Input DQ, propagated into ``out_dq`` (drizzle's ``add_image(dq=...)``).
    out_dq : ndarray of uint32, shape (NY, NX), optional
        Output DQ, updated in place: every pair with ``dow != 0`` sets it to the
        input DQ where the output weight was 0 and ORs the input DQ in elsewhere.
    extra_origin : (int, int), optional
        ``(x0, y0)``: the extras (``extra_out``, ``extra_wht``) hold only the
        output window starting at that pixel, of their own shape, so that a
        fresh per-image drizzle (the variances) needs memory for the input's
        footprint only; pairs outside the window leave the extras unchanged.
        None: the extras cover the whole output.

    Returns
    -------
    DrizzleResult
        The output arrays (the same objects, updated).
    """
    from gpucal.kernels._drizzle_ref import drizzle_pixels

    return _drizzle_with(drizzle_pixels, locals())


def _drizzle_with(runner, arguments):
    """Validate ``arguments`` (drizzle_ref's, by name), run ``runner`` on them, apply ``fillval``."""
    names = ("data", "weight", "pixmap", "out_data", "out_wht")
    data, weight, pixmap, out_data, out_wht = (arguments[name] for name in names)
    setup = prepare(**{name: arguments[name] for name in _PARAMETERS})
    runner(setup, data, weight, pixmap, out_data, out_wht)
    return _finish(setup, out_data, out_wht, arguments["out_con"])


def _same_arguments_as_reference(form):
    """Give ``form(*args, **kwargs)`` drizzle_ref's signature: bind, fill defaults, pass them by name."""

    @functools.wraps(form)
    def bound(*args, **kwargs):
        arguments = _SIGNATURE.bind(*args, **kwargs)
        arguments.apply_defaults()
        return form(arguments.arguments)

    bound.__signature__ = _SIGNATURE
    return bound


_SIGNATURE = inspect.signature(drizzle_ref)
_PARAMETERS = tuple(_SIGNATURE.parameters)


@_same_arguments_as_reference
def drizzle_cpu(arguments):
    """Numba CPU form of :func:`drizzle_ref` (same arguments and results, bit for bit).

    Parallel over bands of output rows: every thread walks the input in order
    and applies only the contributions landing in its band, so each output
    pixel is updated in input order whatever the thread count.
    """
    from gpucal.kernels._drizzle_cpu import drizzle_bands

    return _drizzle_with(drizzle_bands, arguments)


@_same_arguments_as_reference
def drizzle_gpu(arguments):
    """CUDA form of :func:`drizzle_ref` (CuPy arrays on a GPU, numpy arrays in the simulator).

    Deterministic (bitwise identical run to run): input pixels are binned by
    the output tiles their footprints touch, each tile's list is sorted into
    input order, and one thread per output pixel applies its contributions in
    that order. See :mod:`gpucal.kernels._drizzle_gpu`.
    """
    from gpucal.kernels._drizzle_gpu import drizzle_tiles

    return _drizzle_with(drizzle_tiles, arguments)


@_same_arguments_as_reference
def drizzle_gpu_kernels(arguments):
    """``[(python_function, numba argument types)]`` of the CUDA kernels :func:`drizzle_gpu` launches."""
    from gpucal.kernels._drizzle_gpu import kernel_signatures

    setup = prepare(**{name: arguments[name] for name in _PARAMETERS})
    names = ("data", "weight", "pixmap", "out_data", "out_wht")
    return kernel_signatures(setup, *(arguments[name] for name in names))
