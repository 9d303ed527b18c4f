"""Numba CPU form of the drizzle kernel: parallel over bands of output rows, deterministic.

Drizzle scatters: an input pixel updates a few output pixels, and an output
pixel's value depends on the order of its updates (a float32 running mean).
To parallelise without changing that order, the *output* rows are split into
bands (a few per thread, handed out dynamically); the thread owning a band
walks the input in row-major order and applies only the contributions that
land in its band. Each output pixel thus receives its contributions in input
order whatever the number of threads, and the result is bit-identical to the
C engine's serial loop.

To keep threads from evaluating footprints far from their band, a parallel
first pass bounds, for every chunk of ``_CHUNK`` input pixels of a row, the
output rows its footprints can reach; a thread skips chunks outside its band.
The bands are chosen so each holds about the same number of input pixels.
With a single thread there is one band and no first pass.
"""

import numba
import numpy as np
from numba import njit, prange
from numpy import float32, float64

from gpucal.kernels._drizzle_jit import keyed_cache
from gpucal.kernels._drizzle_math import P_DH, P_PFO, SQUARE, accumulate, footprint, pair_dow
from gpucal.kernels._drizzle_scan import plan_scan, row_first_last, shrink_reduce

__all__ = ["drizzle_bands", "n_bands", "plan_cpu"]

_CHUNK = 32
_OPTS = {"cache": True, "error_model": "numpy", "nogil": True}


def _plan(pixmap, xmin, xmax, ymin, ymax, out_nx, out_ny, poly, edges, row_lo, row_hi, first, last):
    """Shrink the box and run the scanner; returns ``(fail, xmin, xmax, ymin, ymax, status, r0, r1)``."""
    for j in range(ymin, ymax + 1):
        first[j], last[j] = row_first_last(pixmap, j, xmin, xmax)
    fail, x0, x1, y0, y1 = shrink_reduce(first, last, xmin, xmax, ymin, ymax)
    if fail:
        return True, x0, x1, y0, y1, 1, 0, -1
    status, r0, r1 = plan_scan(pixmap, x0, x1, y0, y1, out_nx, out_ny, poly, edges, row_lo, row_hi)
    return False, x0, x1, y0, y1, status, r0, r1


def _chunk_ranges(pixmap, row_lo, row_hi, r0, r1, spread, cy_lo, cy_hi, cy_n):
    """Conservative output-row range and mapped-pixel count of each chunk of each scanned input row.

    Every footprint of a chunk is built from pixmap values at most one pixel
    away (rows ``j-1..j+1``, the chunk's columns +-1): the square kernel's
    corners interpolate, or at the image border extrapolate, them, and the
    other kernels reach a half-width around the pixel centre. With ``R`` the
    range of those pixmap y values, ``[min - spread[0]*R - spread[1], max +
    spread[0]*R + spread[1]]`` holds every output row the chunk touches.
    Generous bounds only cost a little duplicated work near band edges.
    """
    ny, nx = pixmap.shape[0], pixmap.shape[1]
    for j in prange(r0, r1 + 1):
        lo = row_lo[j]
        hi = row_hi[j]
        if lo > hi:
            continue
        ja = max(j - 1, 0)
        jb = min(j + 1, ny - 1)
        for c in range(lo // _CHUNK, hi // _CHUNK + 1):
            i0 = max(lo, c * _CHUNK)
            i1 = min(hi, c * _CHUNK + _CHUNK - 1)
            ymin = np.inf
            ymax = -np.inf
            for jj in range(ja, jb + 1):
                for ii in range(max(i0 - 1, 0), min(i1 + 1, nx - 1) + 1):
                    x = pixmap[jj, ii, 0]
                    y = pixmap[jj, ii, 1]
                    if x == x and y == y:
                        ymin = min(ymin, y)
                        ymax = max(ymax, y)
            if ymin > ymax:
                continue
            count = 0
            for ii in range(i0, i1 + 1):
                if pixmap[j, ii, 0] == pixmap[j, ii, 0] and pixmap[j, ii, 1] == pixmap[j, ii, 1]:
                    count += 1
            margin = spread[0] * (ymax - ymin) + spread[1]
            cy_lo[j, c] = int(np.floor(ymin - margin))
            cy_hi[j, c] = int(np.ceil(ymax + margin))
            cy_n[j, c] = max(count, 1)


def _band_edges(cy_lo, cy_hi, cy_n, r0, r1, out_ny, n_bands):
    """Split the output rows into ``n_bands`` bands holding about equal numbers of input pixels."""
    work = np.zeros(out_ny + 1, dtype=np.int64)
    for j in range(r0, r1 + 1):
        for c in range(cy_lo.shape[1]):
            if cy_n[j, c] > 0:
                mid = (cy_lo[j, c] + cy_hi[j, c]) // 2
                work[min(max(mid, 0), out_ny - 1)] += cy_n[j, c]
    total = work.sum()
    edges = np.empty(n_bands + 1, dtype=np.int64)
    edges[0] = 0
    b = 1
    acc = 0
    for y in range(out_ny):
        acc += work[y]
        while b < n_bands and acc * n_bands >= b * total and total > 0:
            edges[b] = y + 1
            b += 1
    while b < n_bands:
        edges[b] = out_ny
        b += 1
    edges[n_bands] = out_ny
    return edges


def _drizzle_rows(
    data,
    weight,
    pixmap,
    out_data,
    out_wht,
    out_con,
    plane,
    bitval,
    has_con,
    extra_data,
    extra_out,
    extra_wht,
    n_extra,
    own_extra_wht,
    ex0,
    ey0,
    in_dq,
    out_dq,
    has_dq,
    row_lo,
    row_hi,
    r0,
    r1,
    kernel,
    params,
    lut,
    iscale,
    band,
    cy_lo,
    cy_hi,
):
    """Apply every contribution, each thread owning the output rows ``band[b]..band[b+1]-1``."""
    out_ny, out_nx = out_data.shape
    for b in prange(band.size - 1):
        y_lo = band[b]
        y_hi = band[b + 1] - 1
        if y_lo > y_hi:
            continue
        for j in range(r0, r1 + 1):
            lo = row_lo[j]
            hi = row_hi[j]
            if lo > hi:
                continue
            for c in range(lo // _CHUNK, hi // _CHUNK + 1):
                if cy_hi[j, c] < y_lo or cy_lo[j, c] > y_hi:
                    continue
                i_start = max(lo, c * _CHUNK)
                i_stop = min(hi, c * _CHUNK + _CHUNK - 1)
                for i in range(i_start, i_stop + 1):
                    ok, x0, x1, x2, x3, y0, y1, y2, y3, jaco, ii0, ii1, jj0, jj1 = footprint(
                        kernel, pixmap, i, j, out_nx, out_ny, params
                    )
                    if not ok:
                        continue
                    jj0 = max(jj0, y_lo)
                    jj1 = min(jj1, y_hi)
                    if jj0 > jj1 or ii0 > ii1:
                        continue
                    d = data[j, i] * iscale
                    w = float64(weight[j, i]) / jaco if kernel == SQUARE else float64(weight[j, i])
                    for jj in range(jj0, jj1 + 1):
                        for ii in range(ii0, ii1 + 1):
                            hit, dow = pair_dow(kernel, ii, jj, x0, x1, x2, x3, y0, y1, y2, y3, w, params, lut)
                            if hit:
                                accumulate(
                                    out_data,
                                    out_wht,
                                    out_con,
                                    plane,
                                    bitval,
                                    has_con,
                                    extra_data,
                                    extra_out,
                                    extra_wht,
                                    n_extra,
                                    own_extra_wht,
                                    ex0,
                                    ey0,
                                    in_dq,
                                    out_dq,
                                    has_dq,
                                    jj,
                                    ii,
                                    j,
                                    i,
                                    d,
                                    dow,
                                    iscale,
                                )


with keyed_cache(__name__, "gpucal.kernels._drizzle_math", "gpucal.kernels._drizzle_scan"):
    _plan = njit(**_OPTS)(_plan)
    _chunk_ranges = njit(parallel=True, **_OPTS)(_chunk_ranges)
    _band_edges = njit(**_OPTS)(_band_edges)
    _drizzle_rows = njit(parallel=True, **_OPTS)(_drizzle_rows)


def n_bands():
    """Number of output-row bands (any number gives the same result).

    A few per thread, handed out one at a time (``parallel_chunksize(1)``), so
    a thread slowed by other processes on a busy machine holds up less work.
    """
    threads = numba.get_num_threads()
    return 1 if threads == 1 else 4 * threads


def _spread(setup):
    """``(factor, offset)``: footprint reach beyond the neighbourhood's pixmap range (see ``_chunk_ranges``)."""
    h = setup.params[P_DH]
    amplification = max((1.0 + 2.0 * h) ** 2, (2.0 * h - 1.0) ** 2) if setup.kernel == SQUARE else 1.0
    return np.array([amplification, setup.params[P_PFO] + 2.0], dtype=np.float64)


def plan_cpu(pixmap, box, out_shape):
    """Shrunken box, scanner status, scanned rows and per-row column limits (numpy arrays)."""
    ny = pixmap.shape[0]
    row_lo = np.zeros(ny, dtype=np.int64)
    row_hi = np.full(ny, -1, dtype=np.int64)
    first = np.full(ny, -1, dtype=np.int64)
    last = np.full(ny, -1, dtype=np.int64)
    poly = np.zeros((6, 8, 2), dtype=np.float64)
    edges = np.zeros((2, 8, 3), dtype=np.float64)
    xmin, xmax, ymin, ymax = box
    fail, *shrunk, status, r0, r1 = _plan(
        pixmap, xmin, xmax, ymin, ymax, out_shape[1], out_shape[0], poly, edges, row_lo, row_hi, first, last
    )
    if fail:
        raise ValueError("No or too few valid pixels in the pixel map.")
    return tuple(shrunk), status, r0, r1, row_lo, row_hi


def drizzle_bands(setup, data, weight, pixmap, out_data, out_wht):
    """Drizzle one image on the CPU (see the module docstring); outputs updated in place."""
    out_ny = out_data.shape[0]
    _, status, r0, r1, row_lo, row_hi = plan_cpu(pixmap, setup.box, out_data.shape)
    if status != 0 or r0 > r1:
        return
    n_chunks = (pixmap.shape[1] + _CHUNK - 1) // _CHUNK
    bands = n_bands()
    if bands == 1:  # one thread: no chunk is ever skipped, so no need to bound them
        cy_lo = np.zeros((pixmap.shape[0], n_chunks), dtype=np.int64)
        cy_hi = np.full((pixmap.shape[0], n_chunks), out_ny - 1, dtype=np.int64)
        band = np.array([0, out_ny], dtype=np.int64)
    else:
        cy_lo = np.zeros((pixmap.shape[0], n_chunks), dtype=np.int64)
        cy_hi = np.full((pixmap.shape[0], n_chunks), -1, dtype=np.int64)
        cy_n = np.zeros((pixmap.shape[0], n_chunks), dtype=np.int64)
        _chunk_ranges(pixmap, row_lo, row_hi, r0, r1, _spread(setup), cy_lo, cy_hi, cy_n)
        band = _band_edges(cy_lo, cy_hi, cy_n, r0, r1, out_ny, bands)
    has_con = setup.con is not None
    con = setup.con if has_con else np.zeros((1, 1, 1), dtype=np.int32)
    n_extra = setup.n_extra
    extra_data = setup.extra_data if n_extra else np.zeros((1, 1, 1), dtype=np.float32)
    extra_out = setup.extra_out if n_extra else np.zeros((1, 1, 1), dtype=np.float32)
    own = setup.extra_wht is not None
    extra_wht = setup.extra_wht if own else np.zeros((1, 1), dtype=np.float32)
    has_dq = setup.dq is not None
    in_dq = setup.dq if has_dq else np.zeros((1, 1), dtype=np.uint32)
    out_dq = setup.out_dq if has_dq else np.zeros((1, 1), dtype=np.uint32)
    with numba.parallel_chunksize(1):
        _drizzle_rows(
            data,
            weight,
            pixmap,
            out_data,
            out_wht,
            con,
            setup.plane,
            setup.bitval,
            has_con,
            extra_data,
            extra_out,
            extra_wht,
            n_extra,
            own,
            setup.extra_origin[0],
            setup.extra_origin[1],
            in_dq,
            out_dq,
            has_dq,
            row_lo,
            row_hi,
            r0,
            r1,
            setup.kernel,
            setup.params,
            setup.lut,
            float32(setup.iscale),
            band,
            cy_lo,
            cy_hi,
        )
