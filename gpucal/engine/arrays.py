"""Array module lookup and the only host <-> device transfer points.

``get_array_module`` follows CuPy's rule: the arrays decide (any CuPy array
means CuPy, otherwise numpy), with no global state. ``to_device`` and
``to_host`` are the single places where bytes cross the PCIe bus; pipelines
call them once per exposure. On a real GPU they copy on one CUDA stream from
and to page-locked (pinned) host memory, so copies run at full bandwidth:
an upload goes straight from the buffer the exposure was read into when that
buffer is pinned (the pipelines read with
:func:`gpucal.engine.pinned.pinned_empty`) and through one pinned staging copy
otherwise; results come back into pinned buffers within a budget and into
pageable arrays past it (see :mod:`gpucal.engine.pinned` for both choices).
On the CPU, and on the simulated CUDA device, they return numpy arrays.
"""

import sys

import numpy as np

from gpucal.engine.device import CPU, Device
from gpucal.engine.pinned import PINNED_HOST, upload_source

__all__ = ["device_of", "get_array_module", "is_device_array", "synchronize", "to_device", "to_host"]


def is_device_array(array):
    """True for a CuPy array (checked without importing CuPy)."""
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(array, cupy.ndarray)


def get_array_module(*arrays):
    """Return ``cupy`` if any argument is a CuPy array, else ``numpy``."""
    for array in arrays:
        if is_device_array(array):
            return sys.modules["cupy"]
    return np


def device_of(array):
    """The :class:`Device` an array lives on (CPU for numpy arrays)."""
    if is_device_array(array):
        return Device("cuda", array.device.id)
    return CPU


def _stream(device):
    import cupy

    return cupy.cuda.get_current_stream(device.index)


def to_device(arrays, device, *, host=None):
    """Copy host arrays to ``device``, all on one stream, synchronising once.

    Parameters
    ----------
    arrays : dict of str to numpy.ndarray or None
        Named arrays; ``None`` values and arrays already on a device are passed through.
    device : Device
    host : gpucal.engine.pinned.PinnedHost, optional
        Registry of pinned buffers and allocator of staging copies (default: the process-wide one).

    Returns
    -------
    dict
        The same names mapped to device arrays (CuPy), or to the input numpy
        arrays (made C-contiguous) when ``device`` does not use CuPy.
    """
    if not device.uses_cupy:
        return {k: (None if a is None else np.ascontiguousarray(a)) for k, a in arrays.items()}
    import cupy

    host = host or PINNED_HOST
    out = {}
    staged = []  # staging buffers must outlive the asynchronous copies
    with cupy.cuda.Device(device.index):
        stream = _stream(device)
        for name, array in arrays.items():
            if array is None or is_device_array(array):
                out[name] = array
                continue
            array = np.asarray(array)
            source = array
            if upload_source(array, host.is_pinned(array)) == "stage":
                source = host.empty(array.shape, array.dtype.newbyteorder("="), kind="staging")
                np.copyto(source, array)
                staged.append(source)
            dev = cupy.empty(source.shape, source.dtype)
            dev.set(source, stream=stream)
            out[name] = dev
        stream.synchronize()
    return out


def to_host(arrays, *, host=None):
    """Copy device arrays back to numpy on one stream per device, synchronising once.

    Parameters
    ----------
    arrays : dict of str to array or None
    host : gpucal.engine.pinned.PinnedHost, optional
        Allocator of the result buffers: pinned within its result budget,
        pageable past it (default: the process-wide one).

    Returns
    -------
    dict of str to numpy.ndarray or None
    """
    if not any(is_device_array(a) for a in arrays.values()):
        return dict(arrays)
    import cupy

    host = host or PINNED_HOST
    out = {}
    streams = set()
    for name, array in arrays.items():
        if not is_device_array(array):
            out[name] = array
            continue
        with cupy.cuda.Device(array.device.id):
            stream = cupy.cuda.get_current_stream()
            buffer = host.result_empty(array.shape, array.dtype)
            array.get(stream=stream, out=buffer)
            streams.add(stream)
            out[name] = buffer
    for stream in streams:
        stream.synchronize()
    return out


def synchronize(device):
    """Wait for all queued work on ``device`` (no-op on the CPU and simulator)."""
    if device.uses_cupy:
        import cupy

        with cupy.cuda.Device(device.index):
            cupy.cuda.get_current_stream().synchronize()
