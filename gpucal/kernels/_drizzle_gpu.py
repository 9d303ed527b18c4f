"""CUDA form of the drizzle kernel: deterministic gather by output tile.

Drizzle scatters each input pixel onto a few output pixels, and an output
pixel's value depends on the order of its updates (a float32 running mean),
so float atomics would make the result change from run to run. Instead:

1. ``_k_rows`` (one thread per input row) and ``_k_plan`` (one thread) shrink
   the input box and run drizzle's polygon scanner (the same code as the CPU
   form), giving the columns to visit in every input row;
2. ``_k_count``: every visited input pixel computes its footprint's output
   bounding box and counts, per ``TILE x TILE`` output tile it touches, one
   entry (integer atomics: order-free);
3. a prefix sum gives each tile a segment; ``_k_fill`` writes the entries
   ``tile * n_in + input_index`` (order within a segment depends on thread
   timing), and a sort puts every segment in input (row-major) order;
4. ``_k_apply``: one block per tile, one thread per output pixel. The block
   loads a batch of its entries into shared memory (footprint geometry,
   weight, data), then each thread walks the batch in order and applies the
   pairs that hit its own pixel, with the same per-pair math
   (:func:`~gpucal.kernels._drizzle_math.pair_dow`,
   :func:`~gpucal.kernels._drizzle_math.accumulate`) as the CPU form.

Every output pixel therefore receives its contributions in input order, one
thread at a time: results are bitwise reproducible and equal the CPU form's up
to floating-point contraction (NVVM fuses multiply-adds). Scratch buffers come
from the arrays' module (CuPy on a GPU, numpy in the simulator); two small
device-to-host reads per image (the plan status and the entry count) are the
only synchronisations.
"""

import numpy as np
from numba import cuda, types
from numba.extending import register_jitable

from gpucal.engine.arrays import get_array_module
from gpucal.engine.jit import cuda_launch_config, launch_stream
from gpucal.kernels._drizzle_jit import keyed_cache
from gpucal.kernels._drizzle_math import SQUARE, accumulate, footprint, pair_dow
from gpucal.kernels._drizzle_scan import INFO_SIZE, plan_scan, row_first_last, shrink_reduce

__all__ = ["TILE", "drizzle_tiles", "kernel_signatures"]

TILE = 16  # output tile side: one block of TILE*TILE threads per tile
_BATCH = TILE * TILE  # entries loaded into shared memory at a time: one per thread, so it must be TILE**2


def _k_rows(pixmap, xmin, xmax, ymin, ymax, first, last):
    """First and last finite pixmap column of every row of the box (``shrink_image_section``, part 1)."""
    j = cuda.grid(1) + ymin
    step = cuda.gridsize(1)
    while j <= ymax:
        first[j], last[j] = row_first_last(pixmap, j, xmin, xmax)
        j += step


def _k_plan(pixmap, xmin, xmax, ymin, ymax, out_nx, out_ny, first, last, poly, edges, row_lo, row_hi, info):
    """Shrink the box and set up the scanner (one thread); ``info`` gets the outcome."""
    if cuda.grid(1) != 0:
        return
    fail, x0, x1, y0, y1 = shrink_reduce(first, last, xmin, xmax, ymin, ymax)
    info[0] = 1 if fail else 0
    info[1] = x0
    info[2] = x1
    info[3] = y0
    info[4] = y1
    if fail:
        info[5] = 1
        info[6] = 0
        info[7] = -1
        return
    status, r0, r1 = plan_scan(pixmap, x0, x1, y0, y1, out_nx, out_ny, poly, edges, row_lo, row_hi)
    info[5] = status
    info[6] = r0
    info[7] = r1


@register_jitable
def _tiles_of(kernel, pixmap, row_lo, row_hi, lin, nx_in, out_nx, out_ny, params):
    """Tile range ``(tx0, tx1, ty0, ty1)`` touched by input pixel ``lin`` (empty if not visited or off-grid)."""
    j = lin // nx_in
    i = lin - j * nx_in
    if i < row_lo[j] or i > row_hi[j]:
        return 0, -1, 0, -1
    fp = footprint(kernel, pixmap, i, j, out_nx, out_ny, params)
    if not fp[0] or fp[10] > fp[11] or fp[12] > fp[13]:
        return 0, -1, 0, -1
    return fp[10] // TILE, fp[11] // TILE, fp[12] // TILE, fp[13] // TILE


def _k_count(pixmap, row_lo, row_hi, kernel, params, out_nx, out_ny, ntx, tile_count):
    """Count, per output tile, the input pixels whose footprint touches it."""
    nx_in = pixmap.shape[1]
    n_in = pixmap.shape[0] * nx_in
    lin = cuda.grid(1)
    step = cuda.gridsize(1)
    while lin < n_in:
        tx0, tx1, ty0, ty1 = _tiles_of(kernel, pixmap, row_lo, row_hi, lin, nx_in, out_nx, out_ny, params)
        for ty in range(ty0, ty1 + 1):
            for tx in range(tx0, tx1 + 1):
                cuda.atomic.add(tile_count, ty * ntx + tx, 1)
        lin += step


def _k_fill(pixmap, row_lo, row_hi, kernel, params, out_nx, out_ny, ntx, tile_start, cursor, keys):
    """Write ``tile * n_in + input_index`` into every touched tile's segment (unordered within it)."""
    nx_in = pixmap.shape[1]
    n_in = pixmap.shape[0] * nx_in
    lin = cuda.grid(1)
    step = cuda.gridsize(1)
    while lin < n_in:
        tx0, tx1, ty0, ty1 = _tiles_of(kernel, pixmap, row_lo, row_hi, lin, nx_in, out_nx, out_ny, params)
        for ty in range(ty0, ty1 + 1):
            for tx in range(tx0, tx1 + 1):
                t = ty * ntx + tx
                slot = cuda.atomic.add(cursor, t, 1)
                keys[tile_start[t] + slot] = t * n_in + lin
        lin += step


def _k_apply(
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
    keys,
    tile_start,
    ntx,
    kernel,
    params,
    lut,
    iscale,
):
    """One block per output tile: each thread applies, in input order, the pairs hitting its pixel."""
    geo = cuda.shared.array((_BATCH, 9), types.float64)  # corners (or centre) and pixel weight
    box = cuda.shared.array((_BATCH, 4), types.int32)  # ii0, ii1, jj0, jj1
    val = cuda.shared.array(_BATCH, types.float32)  # data * iscale
    src = cuda.shared.array(_BATCH, types.int32)  # input pixel index
    t = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    out_ny, out_nx = out_data.shape
    ny_in, nx_in = data.shape
    n_in = ny_in * nx_in
    oy = (t // ntx) * TILE + tid // TILE
    ox = (t % ntx) * TILE + tid % TILE
    mine = oy < out_ny and ox < out_nx
    start = tile_start[t]
    stop = tile_start[t + 1]
    base = start
    while base < stop:
        n_batch = min(_BATCH, stop - base)
        if tid < n_batch:
            lin = keys[base + tid] - t * n_in
            j = lin // nx_in
            i = lin - j * nx_in
            _, x0, x1, x2, x3, y0, y1, y2, y3, jaco, ii0, ii1, jj0, jj1 = footprint(
                kernel, pixmap, i, j, out_nx, out_ny, params
            )
            geo[tid, 0] = x0
            geo[tid, 1] = x1
            geo[tid, 2] = x2
            geo[tid, 3] = x3
            geo[tid, 4] = y0
            geo[tid, 5] = y1
            geo[tid, 6] = y2
            geo[tid, 7] = y3
            if kernel == SQUARE:
                geo[tid, 8] = np.float64(weight[j, i]) / jaco
            else:
                geo[tid, 8] = np.float64(weight[j, i])
            box[tid, 0] = ii0
            box[tid, 1] = ii1
            box[tid, 2] = jj0
            box[tid, 3] = jj1
            val[tid] = data[j, i] * iscale
            src[tid] = lin
        cuda.syncthreads()
        if mine:
            for e in range(n_batch):
                if box[e, 0] <= ox and ox <= box[e, 1] and box[e, 2] <= oy and oy <= box[e, 3]:
                    hit, dow = pair_dow(
                        kernel,
                        ox,
                        oy,
                        geo[e, 0],
                        geo[e, 1],
                        geo[e, 2],
                        geo[e, 3],
                        geo[e, 4],
                        geo[e, 5],
                        geo[e, 6],
                        geo[e, 7],
                        geo[e, 8],
                        params,
                        lut,
                    )
                    if hit:
                        j = src[e] // nx_in
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
                            oy,
                            ox,
                            j,
                            src[e] - j * nx_in,
                            val[e],
                            dow,
                            iscale,
                        )
        cuda.syncthreads()
        base += _BATCH


with keyed_cache(__name__, "gpucal.kernels._drizzle_math", "gpucal.kernels._drizzle_scan"):
    _k_rows = cuda.jit(cache=True)(_k_rows)
    _k_plan = cuda.jit(cache=True)(_k_plan)
    _k_count = cuda.jit(cache=True)(_k_count)
    _k_fill = cuda.jit(cache=True)(_k_fill)
    _k_apply = cuda.jit(cache=True)(_k_apply)


def _simulated():
    from gpucal.engine.device import cuda_status

    return cuda_status().simulated


class _Launches:
    """The argument tuples of one image's kernel launches (shared by the launcher and the PTX check)."""

    def __init__(self, setup, data, weight, pixmap, out_data, out_wht):
        xp = get_array_module(data, pixmap, out_data)
        ny, nx = data.shape
        out_ny, out_nx = out_data.shape
        self.xp = xp
        self.n_in = ny * nx
        self.ntx = (out_nx + TILE - 1) // TILE
        self.ntiles = self.ntx * ((out_ny + TILE - 1) // TILE)
        self.box = setup.box
        self.params = xp.asarray(setup.params)
        self.lut = xp.asarray(setup.lut)
        self.first = xp.full(ny, -1, dtype=np.int64)
        self.last = xp.full(ny, -1, dtype=np.int64)
        self.row_lo = xp.zeros(ny, dtype=np.int64)
        self.row_hi = xp.full(ny, -1, dtype=np.int64)
        self.info = xp.zeros(INFO_SIZE, dtype=np.int64)
        self.tile_count = xp.zeros(self.ntiles, dtype=np.int32)
        xmin, xmax, ymin, ymax = setup.box
        poly = xp.zeros((6, 8, 2), dtype=np.float64)
        edges = xp.zeros((2, 8, 3), dtype=np.float64)
        self.rows = (pixmap, xmin, xmax, ymin, ymax, self.first, self.last)
        self.plan = (
            pixmap,
            xmin,
            xmax,
            ymin,
            ymax,
            out_nx,
            out_ny,
            self.first,
            self.last,
            poly,
            edges,
            self.row_lo,
            self.row_hi,
            self.info,
        )
        scan = (pixmap, self.row_lo, self.row_hi, setup.kernel, self.params, out_nx, out_ny, self.ntx)
        self.count = (*scan, self.tile_count)
        self.scan = scan
        has_con = setup.con is not None
        n_extra = setup.n_extra
        own = setup.extra_wht is not None
        has_dq = setup.dq is not None
        self.outputs = (
            data,
            weight,
            pixmap,
            out_data,
            out_wht,
            setup.con if has_con else xp.zeros((1, 1, 1), dtype=np.int32),
            setup.plane,
            setup.bitval,
            has_con,
            setup.extra_data if n_extra else xp.zeros((1, 1, 1), dtype=np.float32),
            setup.extra_out if n_extra else xp.zeros((1, 1, 1), dtype=np.float32),
            setup.extra_wht if own else xp.zeros((1, 1), dtype=np.float32),
            n_extra,
            own,
            setup.extra_origin[0],
            setup.extra_origin[1],
            setup.dq if has_dq else xp.zeros((1, 1), dtype=np.uint32),
            setup.out_dq if has_dq else xp.zeros((1, 1), dtype=np.uint32),
            has_dq,
        )
        self.kernel = setup.kernel
        self.iscale = np.float32(setup.iscale)

    def fill_args(self, tile_start, cursor, keys):
        return (*self.scan, tile_start, cursor, keys)

    def apply_args(self, keys, tile_start):
        return (*self.outputs, keys, tile_start, self.ntx, self.kernel, self.params, self.lut, self.iscale)


def kernel_signatures(setup, data, weight, pixmap, out_data, out_wht):
    """``[(python_function, numba argument types)]`` of every kernel :func:`drizzle_tiles` launches."""
    import numba

    host = [np.asarray(a) if hasattr(a, "__cuda_array_interface__") else a for a in (data, weight, pixmap)]
    launches = _Launches(setup, *host, np.zeros(out_data.shape, np.float32), np.zeros(out_wht.shape, np.float32))
    keys = np.zeros(1, dtype=np.int64)
    start = np.zeros(2, dtype=np.int64)
    cursor = np.zeros(1, dtype=np.int32)
    calls = [
        (_k_rows, launches.rows),
        (_k_plan, launches.plan),
        (_k_count, launches.count),
        (_k_fill, launches.fill_args(start, cursor, keys)),
        (_k_apply, launches.apply_args(keys, start)),
    ]
    return [(k.py_func, tuple(numba.typeof(a) for a in args)) for k, args in calls]


def drizzle_tiles(setup, data, weight, pixmap, out_data, out_wht):
    """Drizzle one image with the CUDA kernels (see the module docstring); outputs updated in place."""
    launches = _Launches(setup, data, weight, pixmap, out_data, out_wht)
    xp = launches.xp
    simulated = _simulated()
    stream = launch_stream((data, pixmap, out_data))
    ymin, ymax = setup.box[2], setup.box[3]
    blocks, threads = cuda_launch_config(ymax - ymin + 1, simulated)
    _k_rows[blocks, threads, stream](*launches.rows)
    _k_plan[1, 1, stream](*launches.plan)
    blocks, threads = cuda_launch_config(launches.n_in, simulated)
    _k_count[blocks, threads, stream](*launches.count)
    tile_start = xp.zeros(launches.ntiles + 1, dtype=np.int64)
    tile_start[1:] = xp.cumsum(launches.tile_count)
    info = np.asarray(launches.info.get() if hasattr(launches.info, "get") else launches.info)
    if info[0]:
        raise ValueError("No or too few valid pixels in the pixel map.")
    total = int(tile_start[-1])
    if total == 0:
        return
    cursor = xp.zeros(launches.ntiles, dtype=np.int32)
    keys = xp.empty(total, dtype=np.int64)
    _k_fill[blocks, threads, stream](*launches.fill_args(tile_start, cursor, keys))
    keys = xp.sort(keys)
    _k_apply[launches.ntiles, _BATCH, stream](*launches.apply_args(keys, tile_start))
