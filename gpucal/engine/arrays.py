"""Array module lookup and the only host <-> device transfer points.

``get_array_module`` follows CuPy's rule: the arrays decide (any CuPy array
means CuPy, otherwise numpy), with no global state. ``to_device`` and
``to_host`` are the single places where bytes cross the PCIe bus; pipelines
call them once per exposure. On a real GPU they go through page-locked
(pinned) host buffers on one CUDA stream so copies run at full bandwidth and
can overlap; on the CPU, and on the simulated CUDA device, they return the
numpy arrays unchanged.
"""

import sys

import numpy as np

from gpucal.engine.device import CPU, Device

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


def to_device(arrays, device):
    """Copy host arrays to ``device``, all on one stream, synchronising once.

    Parameters
    ----------
    arrays : dict of str to numpy.ndarray or None
        Named arrays; ``None`` values are passed through.
    device : Device

    Returns
    -------
    dict
        The same names mapped to device arrays (CuPy), or to the input numpy
        arrays (made C-contiguous) when ``device`` does not use CuPy.
    """
    if not device.uses_cupy:
        return {k: (None if a is None else np.ascontiguousarray(a)) for k, a in arrays.items()}
    import cupy
    import cupyx

    out = {}
    keep_alive = []
    with cupy.cuda.Device(device.index):
        stream = _stream(device)
        for name, array in arrays.items():
            if array is None or is_device_array(array):
                out[name] = array
                continue
            pinned = cupyx.empty_pinned(array.shape, array.dtype)
            np.copyto(pinned, array)
            dev = cupy.empty(array.shape, array.dtype)
            dev.set(pinned, stream=stream)
            keep_alive.append(pinned)
            out[name] = dev
        stream.synchronize()
    return out


def to_host(arrays):
    """Copy device arrays back to numpy, through pinned buffers on one stream.

    Parameters
    ----------
    arrays : dict of str to array or None

    Returns
    -------
    dict of str to numpy.ndarray or None
    """
    if not any(is_device_array(a) for a in arrays.values()):
        return dict(arrays)
    import cupy
    import cupyx

    out = {}
    streams = set()
    for name, array in arrays.items():
        if not is_device_array(array):
            out[name] = array
            continue
        with cupy.cuda.Device(array.device.id):
            stream = cupy.cuda.get_current_stream()
            pinned = cupyx.empty_pinned(array.shape, array.dtype)
            array.get(stream=stream, out=pinned)
            streams.add(stream)
            out[name] = pinned
    for stream in streams:
        stream.synchronize()
    return out


def synchronize(device):
    """Wait for all queued work on ``device`` (no-op on the CPU and simulator)."""
    if device.uses_cupy:
        import cupy

        with cupy.cuda.Device(device.index):
            cupy.cuda.get_current_stream().synchronize()
