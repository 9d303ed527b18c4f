"""Device selection, array transfers and kernel compilation (kernel dispatch lives beside the registry)."""

from gpucal.engine.arrays import device_of, get_array_module, is_device_array, synchronize, to_device, to_host
from gpucal.engine.device import CPU, CudaStatus, Device, GpuInfo, cuda_status, parse_device, select_device

__all__ = [
    "CPU",
    "CudaStatus",
    "Device",
    "GpuInfo",
    "cuda_status",
    "device_of",
    "get_array_module",
    "is_device_array",
    "parse_device",
    "select_device",
    "synchronize",
    "to_device",
    "to_host",
]
