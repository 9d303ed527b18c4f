"""Start-up costs of a gpucal process: import, and the first kernel call with a cold and a warm cache.

Usage::

    python bench/bench_startup.py [--repeat 5]

A reprocessing farm runs thousands of short processes, so what a process pays
before its first useful pixel matters: importing gpucal (which must not load
numba or CuPy), and the first call of a kernel, which compiles it (cold cache,
``GPUCAL_CACHE_DIR`` empty) or loads it from numba's disk cache (warm).
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from _helpers import header

FIRST_CALL = """
import time, numpy as np
t0 = time.perf_counter()
from gpucal.kernels import kernel_for
from gpucal.engine import CPU
k = kernel_for("flat_field", CPU)
a = np.ones((2048, 2048), np.float32); q = np.zeros((2048, 2048), np.uint32)
t1 = time.perf_counter()
k(a, a, a, q, a, a, q, False)
t2 = time.perf_counter()
k(a, a, a, q, a, a, q, False)
t3 = time.perf_counter()
print(f"{t1 - t0:.4f} {t2 - t1:.4f} {t3 - t2:.4f}")
"""


def run(code, env):
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    return time.perf_counter() - start, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    header("gpucal process start-up")
    env = dict(os.environ)
    bare = min(run("pass", env)[0] for _ in range(args.repeat))
    imp = min(run("import gpucal, gpucal.io.exposure, gpucal.engine", env)[0] for _ in range(args.repeat))
    modules = run(
        "import sys, gpucal, gpucal.io.exposure, gpucal.engine; "
        "print(sorted(m for m in ('numba', 'cupy', 'numba.cuda') if m in sys.modules))",
        env,
    )[1].strip()
    print(f"python -c pass:                       {bare:.3f} s")
    print(f"import gpucal (+ io, engine):         {imp:.3f} s  (heavy modules loaded: {modules})")
    with tempfile.TemporaryDirectory() as cold:
        cold_env = dict(env, GPUCAL_CACHE_DIR=cold)
        cold_env.pop("NUMBA_CACHE_DIR", None)
        total, out = run(FIRST_CALL, cold_env)
        imp_s, first, second = (float(v) for v in out.split())
        print(
            f"first flat_field call, cold cache:    {first:.3f} s compile+run (import {imp_s:.3f} s, "
            f"second call {second:.4f} s, process {total:.2f} s)"
        )
        warm = [run(FIRST_CALL, cold_env) for _ in range(args.repeat)]
        total, out = min(warm, key=lambda r: r[0])
        imp_s, first, second = (float(v) for v in out.split())
        print(
            f"first flat_field call, warm cache:    {first:.3f} s load+run (import {imp_s:.3f} s, "
            f"second call {second:.4f} s, process {total:.2f} s)"
        )
    info = min(run("from gpucal.cli import main; main(['info', '--json'])", env)[0] for _ in range(args.repeat))
    print(f"gpucal info (whole process):          {info:.3f} s")


if __name__ == "__main__":
    main()
