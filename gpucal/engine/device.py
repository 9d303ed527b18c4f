"""Device selection: ``"auto"``, ``"cpu"``, ``"cuda"`` and ``"cuda:N"``.

Fallback lives here and only here. Asking for a GPU where none is usable warns
once (:class:`~gpucal.errors.HostFallbackWarning`) and returns the CPU device,
unless ``require_gpu`` (``--require-gpu``, ``GPUCAL_REQUIRE_GPU=1``) turns that
into :class:`~gpucal.errors.DeviceUnavailableError`. Kernels never fall back
silently: they run where their arrays are.

With ``NUMBA_ENABLE_CUDASIM=1`` an explicit ``"cuda"`` request gives a
*simulated* CUDA device: arrays stay numpy arrays on the host and every kernel
runs its CUDA form in numba's simulator. That is how CI, which has no GPU,
exercises the CUDA code paths. ``"auto"`` never picks the simulator.
"""

import dataclasses
import functools
import os
import re
import warnings

from gpucal.errors import DeviceUnavailableError, HostFallbackWarning, ParameterError

__all__ = ["CudaStatus", "Device", "GpuInfo", "cuda_status", "parse_device", "require_gpu_from_env", "select_device"]

_SPEC = re.compile(r"^(auto|cpu|cuda)(?::(\d+))?$")
_WARNED = set()


@dataclasses.dataclass(frozen=True)
class Device:
    """Where kernels run.

    Parameters
    ----------
    kind : {"cpu", "cuda"}
        The kernel target.
    index : int
        CUDA device ordinal (0 for the CPU).
    simulated : bool
        True for numba's CUDA simulator: CUDA kernel forms, numpy arrays.
    """

    kind: str
    index: int = 0
    simulated: bool = False

    def __str__(self):
        if self.kind == "cpu":
            return "cpu"
        return f"cuda:{self.index}" + (" (simulated)" if self.simulated else "")

    @property
    def is_cuda(self):
        """True when kernels run in their CUDA form (real or simulated)."""
        return self.kind == "cuda"

    @property
    def uses_cupy(self):
        """True when arrays live in GPU memory as CuPy arrays."""
        return self.kind == "cuda" and not self.simulated

    @property
    def xp(self):
        """The array module for this device: CuPy on a real GPU, else numpy."""
        if self.uses_cupy:
            import cupy

            return cupy
        import numpy

        return numpy


CPU = Device("cpu")


@dataclasses.dataclass(frozen=True)
class GpuInfo:
    """Name and memory of one CUDA device."""

    index: int
    name: str
    total_memory: int
    compute_capability: str


@dataclasses.dataclass(frozen=True)
class CudaStatus:
    """Whether CUDA is usable in this process, and why not if it is not."""

    usable: bool
    reason: str
    gpus: tuple = ()
    simulated: bool = False


def parse_device(spec):
    """Split a device string into ``(kind, index)``.

    Parameters
    ----------
    spec : str or Device
        ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns
    -------
    tuple of (str, int or None)

    Raises
    ------
    ParameterError
        If the string is not one of those forms.
    """
    if isinstance(spec, Device):
        return spec.kind, spec.index
    text = str(spec).strip().lower()
    match = _SPEC.match(text)
    if match is None or (match.group(1) != "cuda" and match.group(2) is not None):
        msg = f"device: {spec!r} is not one of 'auto', 'cpu', 'cuda', 'cuda:N'"
        raise ParameterError(msg)
    index = None if match.group(2) is None else int(match.group(2))
    return match.group(1), index


def _simulator_enabled():
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


@functools.lru_cache(maxsize=1)
def cuda_status():
    """Probe CUDA once per process (CuPy, a driver and at least one GPU).

    Returns
    -------
    CudaStatus
    """
    if _simulator_enabled():
        sim = GpuInfo(0, "numba CUDA simulator", 0, "sim")
        return CudaStatus(True, "numba CUDA simulator (NUMBA_ENABLE_CUDASIM=1)", (sim,), simulated=True)
    try:
        import cupy
    except ImportError:
        return CudaStatus(False, "CuPy is not installed (install gpucal[cuda12] or gpucal[cuda13])")
    except Exception as exc:  # a broken CUDA install raises many kinds of errors
        return CudaStatus(False, f"CuPy failed to import: {exc}")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return CudaStatus(False, f"no usable CUDA driver or GPU ({exc.__class__.__name__}: {exc})")
    if count < 1:
        return CudaStatus(False, "no CUDA GPU found")
    gpus = []
    for index in range(count):
        props = cupy.cuda.runtime.getDeviceProperties(index)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        gpus.append(GpuInfo(index, name, int(props["totalGlobalMem"]), f"{props['major']}.{props['minor']}"))
    try:
        from numba import cuda

        if not cuda.is_available():
            return CudaStatus(False, "numba-cuda cannot use the CUDA driver", tuple(gpus))
    except Exception as exc:
        return CudaStatus(False, f"numba-cuda failed to load: {exc}", tuple(gpus))
    return CudaStatus(True, "ok", tuple(gpus))


#: Values ``GPUCAL_REQUIRE_GPU`` may take (case-insensitive); unset or empty means false.
_REQUIRE_GPU_VALUES = {"1": True, "true": True, "0": False, "false": False, "": False}


def require_gpu_from_env():
    """``GPUCAL_REQUIRE_GPU`` as a bool: ``1``/``true`` or ``0``/``false`` (unset or empty: false).

    Anything else is refused rather than read as false, so a typo such as
    ``GPUCAL_REQUIRE_GPU=ture`` cannot silently let a farm fall back to the CPU.

    Raises
    ------
    ParameterError
        If the variable has any other value.
    """
    raw = os.environ.get("GPUCAL_REQUIRE_GPU", "")
    value = _REQUIRE_GPU_VALUES.get(raw.strip().lower())
    if value is None:
        raise ParameterError(f"GPUCAL_REQUIRE_GPU={raw!r}: expected 0, 1, true or false")
    return value


def select_device(spec="auto", *, require_gpu=None):
    """Choose the device that will run the kernels.

    Parameters
    ----------
    spec : str or Device, optional
        ``"auto"`` picks a real GPU when CuPy and a GPU are usable, else the
        CPU. ``"cuda"``/``"cuda:N"`` ask for a GPU; ``"cpu"`` forces the CPU.
    require_gpu : bool, optional
        Raise instead of falling back when a requested GPU is not usable.
        Defaults to the ``GPUCAL_REQUIRE_GPU`` environment variable.

    Returns
    -------
    Device

    Raises
    ------
    DeviceUnavailableError
        If a GPU is required (explicitly, or ``require_gpu``) and none is usable.
    """
    if isinstance(spec, Device):
        return spec
    kind, index = parse_device(spec)
    if require_gpu is None:
        require_gpu = require_gpu_from_env()
    if kind == "cpu":
        if require_gpu:
            raise DeviceUnavailableError("require_gpu is set but device 'cpu' was requested")
        return CPU
    status = cuda_status()
    if kind == "auto":
        if status.usable and not status.simulated:
            return Device("cuda", 0)
        if require_gpu:
            raise DeviceUnavailableError(f"require_gpu is set but no GPU is usable: {status.reason}")
        return CPU
    index = 0 if index is None else index
    reason = status.reason
    if status.usable and index >= len(status.gpus):
        reason = f"cuda:{index} requested but only {len(status.gpus)} GPU(s) present"
    elif status.usable:
        return Device("cuda", index, simulated=status.simulated)
    if require_gpu:
        raise DeviceUnavailableError(f"device {spec!r} is not usable: {reason}")
    key = (str(spec), reason)
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(
            f"device {spec!r} is not usable ({reason}); running on the CPU", HostFallbackWarning, stacklevel=2
        )
    return CPU
