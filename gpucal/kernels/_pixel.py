"""Per-pixel helpers shared by several kernels.

Each helper is a plain Python function registered with
``numba.extending.register_jitable`` so that the same source compiles into
numba CPU code, into CUDA device code, and runs as-is in the CUDA simulator.
Helpers take and return scalars only, use ``math`` and typed constants, and
allocate nothing (the rules for code shared by both targets).
"""

from numba.extending import register_jitable

__all__ = ["any_nan5"]


@register_jitable
def any_nan5(a, b, c, d, e):
    """True if any of five floats is NaN (``x != x`` is true only for NaN)."""
    return (a != a) or (b != b) or (c != c) or (d != d) or (e != e)
