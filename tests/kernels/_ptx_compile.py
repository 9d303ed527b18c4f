"""Compile every kernel's CUDA form to PTX for sm_90, without a GPU.

Run as a script (``python -m tests.kernels._ptx_compile``) in a process where
the CUDA simulator is off: the simulator runs any Python, so it cannot tell
whether code would compile for a real GPU; NVVM can. Device functions are
compiled on demand by numba for "the current device", which does not exist
here, so that lookup is pointed at a stand-in with compute capability 9.0.
Prints one line per kernel and exits non-zero on the first failure.
"""

import sys
import types

import numpy as np


def main():
    from numba import cuda
    from numba.cuda import dispatcher

    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0))

    import importlib

    from gpucal.kernels import KERNELS
    from tests.kernels._cases import all_cases

    failures = 0
    done = set()
    for case in all_cases():
        spec = KERNELS[case.kernel]
        module = importlib.import_module(spec.module)
        kernels_of = getattr(module, f"{case.kernel}_gpu_kernels")
        args = case.make(np.random.default_rng(1))
        for fn, argtypes in kernels_of(*args):
            key = (case.kernel, fn.__module__, fn.__name__, argtypes)
            if key in done:
                continue
            done.add(key)
            try:
                ptx, _ = cuda.compile_ptx(fn, argtypes, cc=(9, 0))
                print(f"ok   {case.kernel}[{case.id}] {fn.__name__}: {len(ptx)} bytes of PTX")
            except Exception as exc:
                failures += 1
                print(f"FAIL {case.kernel}[{case.id}] {fn.__name__}: {exc.__class__.__name__}: {exc}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
