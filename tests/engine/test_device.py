"""Device selection and fallback."""

import os
import subprocess
import sys
import warnings

import pytest

from gpucal.engine import device as devmod
from gpucal.engine import select_device
from gpucal.engine.device import CudaStatus, Device, parse_device
from gpucal.errors import DeviceUnavailableError, HostFallbackWarning, ParameterError


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("auto", ("auto", None)),
        ("cpu", ("cpu", None)),
        ("cuda", ("cuda", None)),
        ("cuda:3", ("cuda", 3)),
        (" CUDA:0 ", ("cuda", 0)),
    ],
)
def test_parse_device(spec, expected):
    assert parse_device(spec) == expected


@pytest.mark.parametrize("spec", ["gpu", "cpu:1", "cuda:x", "", "auto:0", "cuda:-1"])
def test_parse_device_rejects(spec):
    with pytest.raises(ParameterError, match="device"):
        parse_device(spec)


@pytest.fixture
def no_gpu(monkeypatch):
    status = CudaStatus(False, "no CUDA GPU found")
    monkeypatch.setattr(devmod, "cuda_status", lambda: status)
    monkeypatch.setattr(devmod, "_WARNED", set())
    monkeypatch.delenv("GPUCAL_REQUIRE_GPU", raising=False)


def test_cuda_falls_back_to_cpu_with_one_warning(no_gpu):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert select_device("cuda:0") == Device("cpu")
        assert select_device("cuda:0") == Device("cpu")
    fallbacks = [w for w in caught if issubclass(w.category, HostFallbackWarning)]
    assert len(fallbacks) == 1
    assert "no CUDA GPU found" in str(fallbacks[0].message)


def test_require_gpu_raises(no_gpu):
    with pytest.raises(DeviceUnavailableError, match="no CUDA GPU found"):
        select_device("cuda", require_gpu=True)
    with pytest.raises(DeviceUnavailableError):
        select_device("auto", require_gpu=True)


def test_require_gpu_from_environment(no_gpu, monkeypatch):
    monkeypatch.setenv("GPUCAL_REQUIRE_GPU", "1")
    with pytest.raises(DeviceUnavailableError):
        select_device("cuda")


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("TRUE", True), (" true ", True), ("0", False), ("False", False), ("", False)]
)
def test_require_gpu_environment_values(no_gpu, monkeypatch, raw, expected):
    monkeypatch.setenv("GPUCAL_REQUIRE_GPU", raw)
    assert devmod.require_gpu_from_env() is expected


@pytest.mark.parametrize("raw", ["yes", "on", "2", "ture", "-1"])
def test_require_gpu_environment_rejects_other_values(no_gpu, monkeypatch, raw):
    """Only 0/1/true/false: a typo must not silently mean "fall back to the CPU" (issue 9)."""
    monkeypatch.setenv("GPUCAL_REQUIRE_GPU", raw)
    with pytest.raises(ParameterError, match="GPUCAL_REQUIRE_GPU") as caught:
        select_device("auto")
    assert caught.value.exit_code == 2


def test_auto_picks_cpu_without_gpu(no_gpu):
    assert select_device("auto") == Device("cpu")


def test_auto_never_picks_the_simulator(monkeypatch):
    monkeypatch.setattr(
        devmod, "cuda_status", lambda: CudaStatus(True, "sim", (devmod.GpuInfo(0, "sim", 0, "sim"),), simulated=True)
    )
    assert select_device("auto") == Device("cpu")
    assert select_device("cuda") == Device("cuda", 0, simulated=True)


def test_missing_gpu_index_falls_back(monkeypatch):
    gpu = devmod.GpuInfo(0, "H100", 80 * 2**30, "9.0")
    monkeypatch.setattr(devmod, "cuda_status", lambda: CudaStatus(True, "ok", (gpu,)))
    monkeypatch.setattr(devmod, "_WARNED", set())
    with pytest.warns(HostFallbackWarning, match="only 1 GPU"):
        assert select_device("cuda:2") == Device("cpu")
    assert select_device("cuda:0") == Device("cuda", 0)


def test_simulator_device_in_test_session():
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        pytest.skip("real GPU session")
    dev = select_device("cuda")
    assert dev.is_cuda and dev.simulated and not dev.uses_cupy
    import numpy

    assert dev.xp is numpy


def test_import_gpucal_is_light():
    code = (
        "import sys, gpucal, gpucal.errors, gpucal.engine, gpucal.io.exposure; "
        "print(sorted(m for m in ('numba', 'cupy', 'numba.cuda') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
