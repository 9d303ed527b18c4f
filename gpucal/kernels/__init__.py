"""Hot-path kernels, each in three forms (numpy reference, numba CPU, CUDA).

The per-pixel math of every kernel is written once; see
:mod:`gpucal.engine.jit` for how it is compiled for both targets and
:mod:`gpucal.kernels._registry` for the list of kernels.
"""

from gpucal.engine.cache import configure_numba_cache

configure_numba_cache()

from gpucal.kernels._registry import KERNELS, KernelSpec, forms, kernel_for  # noqa: E402

__all__ = ["KERNELS", "KernelSpec", "forms", "kernel_for"]
