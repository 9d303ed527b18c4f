"""Coarse-grid fallback for maps the compiler cannot translate.

When a WCS pipeline holds a model the compiler does not know (or has no
analytic inverse, so gwcs would iterate), the map is evaluated with gwcs on
the host at the nodes of a regular grid, the node values become the
parameters of a tiny program that interpolates them bicubically (4x4
Lagrange, exact for cubics) on the device, and the input bounding box is
still applied per pixel. The grid step is halved until the error measured
against gwcs at cell centres (where interpolation error peaks) is within the
requested tolerance or the step reaches its minimum; the estimated bound is
reported in a log notice and kept on the result.
"""

import contextlib
import logging
import math

import numpy as np

from gpucal.wcs._compile_ir import interp_program

__all__ = ["GridFallback", "fallback_grid_program", "gwcs_pixmap_values", "without_bounding_box"]

log = logging.getLogger("gpucal")

_MAX_SAMPLES_PER_AXIS = 64
# Lagrange error at a one-sided edge stencil can exceed the cell-centre error by ~1.07x
# (|t(t-1)(t-2)(t-3)| peaks at 1.0 vs 0.9375 at t=0.5); the stated bound adds 25 % and
# the rounding noise of gwcs itself (a few 1e-9 pixel).
_BOUND_FACTOR = 1.25
_BOUND_FLOOR = 1e-8


@contextlib.contextmanager
def without_bounding_box(wcs):
    """Temporarily remove a gwcs WCS's bounding box (as stcal's ``calc_pixmap`` does), restoring it after."""
    bbox = getattr(wcs, "bounding_box", None)
    if bbox is None:
        yield
        return
    try:
        saved = bbox.bounding_box(order="F")
    except AttributeError:
        saved = tuple(bbox)
    wcs.bounding_box = None
    try:
        yield
    finally:
        wcs.bounding_box = saved


def gwcs_pixmap_values(wcs_in, wcs_out, x, y, *, input_bbox=True):
    """``wcs_out.world_to_pixel_values(wcs_in.pixel_to_world_values(x, y))`` with gwcs itself.

    The output WCS's bounding box is disabled (stcal ``calc_pixmap``,
    ``disable_bbox="to"``); the input one is honoured unless ``input_bbox`` is
    False.
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(without_bounding_box(wcs_out))
        if not input_bbox:
            stack.enter_context(without_bounding_box(wcs_in))
        world = wcs_in.pixel_to_world_values(x, y)
        out = wcs_out.world_to_pixel_values(*world)
    return np.asarray(out[0], dtype=np.float64), np.asarray(out[1], dtype=np.float64)


class GridFallback:
    """Outcome of the fallback: the program, its grid step and the estimated error (pixels)."""

    def __init__(self, program, step, error_bound, n_samples):
        self.program = program
        self.step = step
        self.error_bound = error_bound
        self.n_samples = n_samples


def _nodes(size, step):
    count = max(4, math.ceil(max(size - 1, 0) / step) + 1)
    return np.arange(count, dtype=np.float64) * step


def _samples(size, step):
    """Cell centres along one axis (where interpolation error peaks) plus a few in-between points."""
    centres = np.arange(step / 2.0, size - 1, step, dtype=np.float64)
    if centres.size > _MAX_SAMPLES_PER_AXIS:
        centres = centres[np.linspace(0, centres.size - 1, _MAX_SAMPLES_PER_AXIS).round().astype(int)]
    extra = np.linspace(0.0, max(size - 1, 0), min(size, 17)) + 0.37
    return np.unique(np.concatenate([centres, extra[extra <= size - 1]]))


def _grid_values(evaluate, shape, step):
    ny, nx = shape
    xs, ys = _nodes(nx, step), _nodes(ny, step)
    gx, gy = np.meshgrid(xs, ys)
    vx, vy = evaluate(gx, gy, False)
    header = [0.0, float(step), float(xs.size), 0.0, float(step), float(ys.size)]
    return np.concatenate([header, np.asarray(vx, np.float64).ravel(), np.asarray(vy, np.float64).ravel()])


def fallback_grid_program(evaluate, shape, intervals, *, step=16, tolerance=1e-6, min_step=2, reason="", compile_cpu):
    """Build the interpolating program for ``evaluate`` over ``shape`` and measure its error.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(x, y, input_bbox) -> (u, v)`` on the host (gwcs).
    shape : tuple of int
        ``(ny, nx)`` of the pixel grid to be mapped.
    intervals : list
        Input bounding box ``[(index, lo, hi)]`` applied per pixel.
    step, tolerance, min_step : number
        Initial node spacing (pixels), error target (pixels) and smallest spacing tried.
    reason : str
        Why the exact compiler could not be used (for the log notice).
    compile_cpu : callable
        ``compile_cpu(program) -> callable(x, y) -> (u, v)`` running the program on the CPU.

    Returns
    -------
    GridFallback
    """
    ny, nx = shape
    while True:
        program = interp_program(intervals, _grid_values(evaluate, shape, step))
        sx, sy = np.meshgrid(_samples(nx, step), _samples(ny, step))
        ex, ey = evaluate(sx, sy, True)
        ix, iy = compile_cpu(program)(sx, sy)
        both = np.isfinite(ex) & np.isfinite(ey) & np.isfinite(ix) & np.isfinite(iy)
        measured = float(np.max(np.hypot(ix - ex, iy - ey)[both])) if both.any() else 0.0
        err = _BOUND_FACTOR * measured + _BOUND_FLOOR
        if not np.array_equal(np.isfinite(ex), np.isfinite(ix)):
            err = math.inf
        if err <= tolerance or step <= min_step:
            break
        step = max(min_step, step // 2)
    log.warning(
        "gpucal: WCS map evaluated by bicubic interpolation of a %d-pixel gwcs grid (%s); "
        "estimated error bound %.3g pixel (from the error at %d cell-centre samples)",
        step, reason or "exact compilation unavailable", err, sx.size,
    )  # fmt: skip
    return GridFallback(program, step, err, int(sx.size))
