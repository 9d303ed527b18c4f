"""Benchmark: gpucal's drizzle kernel vs drizzle 2.2's C engine (what jwst 3.0 runs).

One 2048x2048 float32 exposure is drizzled onto a slightly rotated output
grid (square kernel, pixfrac 1), two ways:

* science only: one ``Drizzle.add_image`` vs one ``drizzle_cpu`` call;
* science + 3 variance arrays, as jwst's resample does: C runs the science
  drizzle plus one fresh drizzle per ``sqrt(VAR_*)`` (4 engine calls, stcal's
  way); gpucal runs one call with 3 extra arrays sharing the overlap work.

Results are checked for equality with the C engine, then timed (best and
median of ``--repeat`` runs, after a warm-up that compiles the kernels). With
a CUDA GPU and CuPy present, ``drizzle_gpu`` is timed too.

The C engine runs on one thread; gpucal's CPU kernel on numba's threads (all
cores unless ``--threads``). "speedup" compares wall times as they are (so it
counts gpucal's extra cores); "per core" divides it by gpucal's thread count
(C wall time against gpucal's core-seconds, i.e. assuming gpucal scaled
perfectly, the most favourable reading for C). ``--threads 1`` measures the
per-core figure directly.

The bytes-moved floor is the time to stream every array once at the
machine's copy bandwidth (measured here with a large ``np.copyto``): per
input pixel data, weight and the pixmap are read (24 B, +4 B per extra
array) and per output pixel SCI, WHT and the context plane are read and
written (24 B, +8 B per extra array, +8 B for the extras' own weight).

Example::

    python bench/bench_drizzle.py --size 2048 --rotation 0.5 --repeat 5
"""

import argparse
import datetime
import math
import os
import platform
import shlex
import statistics
import sys
import time
import warnings

import numpy as np


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2048, help="input image side in pixels (default 2048)")
    parser.add_argument("--rotation", type=float, default=0.5, help="output grid rotation in degrees (default 0.5)")
    parser.add_argument("--kernel", default="square", help="drizzle kernel (default square)")
    parser.add_argument("--pixfrac", type=float, default=1.0, help="pixfrac (default 1.0)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per case (default 5)")
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: all)")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def make_inputs(size, rotation, seed):
    """An exposure with a few NaNs and masked pixels, its 3 variance arrays, and a rotated pixmap."""
    rng = np.random.default_rng(seed)
    data = rng.normal(10.0, 3.0, (size, size)).astype(np.float32)
    data[rng.random((size, size)) < 1e-3] = np.nan
    weight = rng.uniform(0.5, 2.0, (size, size)).astype(np.float32)
    weight[np.isnan(data)] = 0.0
    errors = np.sqrt(rng.uniform(0.1, 4.0, (3, size, size))).astype(np.float32)
    theta = math.radians(rotation)
    out_side = math.ceil(size * (abs(math.cos(theta)) + abs(math.sin(theta)))) + 4
    y, x = np.indices((size, size), dtype=np.float64)
    c_in, c_out = (size - 1) / 2.0, (out_side - 1) / 2.0
    u = math.cos(theta) * (x - c_in) - math.sin(theta) * (y - c_in) + c_out + 0.31
    v = math.sin(theta) * (x - c_in) + math.cos(theta) * (y - c_in) + c_out - 0.27
    pixmap = np.dstack([u, v])
    return data, weight, errors, pixmap, (out_side, out_side)


def copy_bandwidth():
    """Sustained bytes/s of a large in-memory copy (read + write counted)."""
    src = np.ones(64 * 2**20 // 4, dtype=np.float32)
    dst = np.empty_like(src)
    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best


class Clock:
    """Wall-clock and process CPU time (all threads) of a block."""

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def timed(run, repeat):
    """Best wall, median wall and least CPU seconds of ``repeat`` calls of ``run`` (which returns its Clock)."""
    clocks = [run() for _ in range(repeat)]
    walls = [c.wall for c in clocks]
    return min(walls), statistics.median(walls), min(c.cpu for c in clocks)


def c_science(inputs, args):
    """One ``Drizzle.add_image`` of the science array; returns (Clock, Drizzle)."""
    from drizzle.resample import Drizzle

    data, weight, _, pixmap, out_shape = inputs
    driz = Drizzle(kernel=args.kernel, out_shape=out_shape, fillval="NaN")
    with warnings.catch_warnings(), Clock() as clock:
        warnings.simplefilter("ignore")
        driz.add_image(data, exptime=1.0, pixmap=pixmap, weight_map=weight, pixfrac=args.pixfrac, pixel_scale_ratio=1.0)
    return clock, driz


def c_with_variance(inputs, args):
    """stcal's way: the science drizzle, then a fresh drizzle of each sqrt(variance) with the same weights."""
    from drizzle.resample import Drizzle

    _, weight, errors, pixmap, out_shape = inputs
    total, main = c_science(inputs, args)
    singles = []
    for err in errors:
        single = Drizzle(kernel=args.kernel, out_shape=out_shape, fillval=np.nan, disable_ctx=True)
        with warnings.catch_warnings(), Clock() as clock:
            warnings.simplefilter("ignore")
            single.add_image(
                err, exptime=1.0, pixmap=pixmap, weight_map=weight, pixfrac=args.pixfrac, pixel_scale_ratio=1.0
            )
        total.wall += clock.wall
        total.cpu += clock.cpu
        singles.append(single.out_img)
    return total, main, singles


def gpucal_run(form, inputs, args, extras, xp=np, sync=lambda: None):
    """One gpucal drizzle call (science, plus the 3 variance arrays if ``extras``); returns (Clock, result)."""
    data, weight, errors, pixmap, out_shape = inputs
    out = xp.full(out_shape, np.nan, dtype=np.float32)
    wht = xp.zeros(out_shape, dtype=np.float32)
    con = xp.zeros((1, *out_shape), dtype=np.int32)
    kwargs = {}
    if extras:
        kwargs = dict(
            extra_data=errors,
            extra_out=xp.full((3, *out_shape), np.nan, dtype=np.float32),
            extra_wht=xp.zeros(out_shape, dtype=np.float32),
        )
    sync()
    with Clock() as clock:
        result = form(data, weight, pixmap, out, wht, con, args.kernel, args.pixfrac, 1.0, fillval="NaN", **kwargs)
        sync()
    return clock, result


def same(a, b):
    return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        os.environ["NUMBA_NUM_THREADS"] = str(args.threads)
    import numba

    from gpucal.kernels.drizzle import drizzle_cpu

    print(f"# bench_drizzle  {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"# command: {shlex.join([sys.executable, *sys.argv])}")
    print(
        f"# device: cpu, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"numba threads={numba.get_num_threads()}"
    )
    print(f"# python {platform.python_version()}  numpy {np.__version__}  numba {numba.__version__}")
    inputs = make_inputs(args.size, args.rotation, args.seed)
    out_shape = inputs[4]
    n_in, n_out = args.size**2, out_shape[0] * out_shape[1]
    print(
        f"# input {args.size}x{args.size} -> output {out_shape[1]}x{out_shape[0]}, rotation {args.rotation} deg, "
        f"kernel {args.kernel}, pixfrac {args.pixfrac}"
    )

    bandwidth = copy_bandwidth()
    floors = {False: 24 * n_in + 24 * n_out, True: (24 + 12) * n_in + (24 + 24 + 8) * n_out}
    print(
        f"# copy bandwidth (1 thread) {bandwidth / 1e9:.1f} GB/s; bytes-moved floor: "
        f"science {floors[False] / 1e6:.0f} MB ({floors[False] / bandwidth * 1e3:.1f} ms), "
        f"+3 variances {floors[True] / 1e6:.0f} MB "
        f"({floors[True] / bandwidth * 1e3:.1f} ms)"
    )

    t0 = time.perf_counter()
    _, warm = gpucal_run(drizzle_cpu, inputs, args, extras=True)
    print(
        f"# first gpucal call (compile or cache load + run): {time.perf_counter() - t0:.2f} s; "
        f"threading layer {numba.threading_layer()}"
    )

    _, c_main = c_science(inputs, args)
    _, cpu_main = gpucal_run(drizzle_cpu, inputs, args, extras=False)
    _, _, c_singles = c_with_variance(inputs, args)
    equal_science = same(cpu_main.data, c_main.out_img) and same(cpu_main.wht, c_main.out_wht)
    equal_science &= same(cpu_main.con[0], c_main.out_ctx[0])
    equal_var = all(same(warm.extra[k], c_singles[k]) for k in range(3)) and same(warm.data, c_main.out_img)
    print(f"# identical to the C engine: science {equal_science}, science+variance {equal_var}")

    rows = []
    for label, extras in (("science", False), ("science+3var", True)):
        c_run = (lambda: c_science(inputs, args)[0]) if not extras else (lambda: c_with_variance(inputs, args)[0])
        c_best, c_med, c_cpu = timed(c_run, args.repeat)
        g_best, g_med, g_cpu = timed(
            lambda extras=extras: gpucal_run(drizzle_cpu, inputs, args, extras)[0], args.repeat
        )
        floor = floors[extras] / bandwidth
        threads = numba.get_num_threads()
        rows.append((label, "C engine (drizzle 2.2, 1 thread)", c_best, c_med, c_cpu, 1.0, 1.0))
        rows.append(
            (
                label,
                f"gpucal cpu ({threads} threads)",
                g_best,
                g_med,
                g_cpu,
                c_best / g_best,
                c_best / (g_best * threads),
            )
        )
        rows.append((label, "bytes-moved floor", floor, floor, math.nan, math.nan, math.nan))
    rows += _gpu_rows(inputs, args)
    print(
        f"{'case':<14} {'implementation':<32} {'best s':>8} {'median s':>9} {'cpu s':>8} {'speedup':>8} {'per core':>9}"
    )
    for label, impl, best, med, cpu, speedup, per_core in rows:
        cpu_text = "" if math.isnan(cpu) else f"{cpu:8.3f}"
        speed_text = "" if math.isnan(speedup) else f"{speedup:8.2f}"
        core_text = "" if math.isnan(per_core) else f"{per_core:9.2f}"
        print(f"{label:<14} {impl:<32} {best:8.3f} {med:9.3f} {cpu_text:>8} {speed_text:>8} {core_text:>9}")
    print(
        "# speedup = C best wall time (1 thread) / gpucal best wall time (numba threads); per core = speedup / "
        "gpucal's threads; cpu s = process CPU time of all threads."
    )


def _gpu_rows(inputs, args):
    """Time ``drizzle_gpu`` on CuPy arrays when a CUDA GPU is usable; no rows otherwise."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return []
    except Exception:
        return []
    from gpucal.kernels.drizzle import drizzle_gpu

    data, weight, errors, pixmap, out_shape = inputs
    dev = (cupy.asarray(data), cupy.asarray(weight), cupy.asarray(errors), cupy.asarray(pixmap), out_shape)
    sync = cupy.cuda.get_current_stream().synchronize
    name = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    rows = []
    for label, extras in (("science", False), ("science+3var", True)):
        gpucal_run(drizzle_gpu, dev, args, extras, xp=cupy, sync=sync)
        best, med, _ = timed(
            lambda extras=extras: gpucal_run(drizzle_gpu, dev, args, extras, cupy, sync)[0], args.repeat
        )
        rows.append((label, f"gpucal gpu ({name})", best, med, math.nan, math.nan, math.nan))
    return rows


if __name__ == "__main__":
    main()
