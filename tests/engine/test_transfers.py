"""Host/device transfer points (CPU and simulated device keep numpy arrays)."""

import numpy as np

from gpucal.engine import CPU, Device, get_array_module, to_device, to_host


def test_cpu_and_simulator_transfers_are_identity():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    for device in (CPU, Device("cuda", 0, simulated=True)):
        moved = to_device({"a": a, "none": None}, device)
        assert moved["none"] is None
        assert moved["a"] is a
        assert to_host(moved)["a"] is a


def test_get_array_module_numpy():
    assert get_array_module(np.ones(2), 3.0) is np
