"""Kernel dispatch: pick a registered kernel's form for a device.

The CPU form runs on numpy arrays; the CUDA form runs on CuPy arrays on a GPU
or on numpy arrays in numba's CUDA simulator. Nothing here moves data: the
caller has already placed the arrays where the device is.
"""

import functools

__all__ = ["kernel_for"]


@functools.cache
def _forms(name):
    from gpucal.kernels import forms

    return forms(name)


def kernel_for(name, device):
    """The callable form of kernel ``name`` for ``device`` (CUDA form for CUDA devices)."""
    _ref, cpu, gpu = _forms(name)
    return gpu if device.is_cuda else cpu
