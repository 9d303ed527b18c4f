"""The GPU data path without a GPU: pinned-buffer registry, upload and download decisions, and the
transfers themselves against a fake CuPy that records every copy."""

import contextlib
import gc
import sys
import types

import numpy as np
import pytest

from gpucal.engine import Device, to_device, to_host
from gpucal.engine.pinned import PinnedHost, result_destination, upload_source

GPU = Device("cuda", 0)


class FakeAllocator:
    """Stands in for ``cupyx.empty_pinned``: plain numpy memory, counted."""

    def __init__(self):
        self.calls = 0

    def __call__(self, shape, dtype):
        self.calls += 1
        return np.empty(shape, dtype)


class FakeDeviceArray:
    """A 'device' array: a numpy copy, filled by ``set`` and read by ``get`` like CuPy's."""

    def __init__(self, fake, shape, dtype):
        self._fake = fake
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.device = types.SimpleNamespace(id=0)
        self._data = np.empty(shape, dtype)

    def set(self, source, stream=None):
        assert source.dtype == self.dtype and source.shape == self.shape
        self._fake.uploaded_from.append(source)
        self._data[...] = source

    def get(self, stream=None, out=None):
        self._fake.downloads += 1  # no reference kept: results must be free to die
        out[...] = self._data
        return out


class FakeStream:
    """Hashable, as CuPy's streams are."""

    def synchronize(self):
        pass


@pytest.fixture
def fake_cupy(monkeypatch):
    """A minimal ``cupy`` module in ``sys.modules`` (what to_device/to_host touch), recording copies."""
    fake = types.ModuleType("cupy")
    fake.uploaded_from, fake.downloads = [], 0
    stream = FakeStream()
    fake.ndarray = FakeDeviceArray
    fake.empty = lambda shape, dtype: FakeDeviceArray(fake, shape, dtype)
    fake.cuda = types.SimpleNamespace(
        Device=lambda index=0: contextlib.nullcontext(), get_current_stream=lambda index=None: stream
    )
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake


def test_upload_source_decision():
    a = np.zeros((4, 5), np.float32)
    assert upload_source(a, pinned=True) == "direct"
    assert upload_source(a, pinned=False) == "stage"
    assert upload_source(a[:, 1:], pinned=True) == "stage"  # not contiguous
    assert upload_source(a.astype(">f4"), pinned=True) == "stage"  # not native byte order


def test_result_destination_decision():
    assert result_destination(100, 0, 100) == "pinned"
    assert result_destination(100, 1, 100) == "pageable"
    assert result_destination(1, 0, 0) == "pageable"


def test_registry_knows_its_buffers_and_their_views_only():
    host = PinnedHost(FakeAllocator())
    buffer = host.empty((8, 8), np.float32)
    assert host.is_pinned(buffer)
    assert host.is_pinned(buffer[2:5])  # a view inside the buffer
    assert not host.is_pinned(np.empty((8, 8), np.float32))  # pageable memory
    assert not host.is_pinned(buffer.copy())
    view = buffer[1:]
    del buffer
    gc.collect()
    assert host.is_pinned(view), "a live view keeps its buffer pinned"
    del view
    gc.collect()
    assert host.live_bytes() == 0, "a collected buffer is forgotten"


def test_read_buffers_upload_without_a_copy(fake_cupy):
    allocator = FakeAllocator()
    host = PinnedHost(allocator)
    data = host.empty((16, 16), np.float32)
    data[...] = np.arange(256, dtype=np.float32).reshape(16, 16)
    dq = host.empty((16, 16), np.uint32)
    dq[...] = 3
    moved = to_device({"data": data, "dq": dq, "none": None}, GPU, host=host)
    assert allocator.calls == 2, "no staging buffer for arrays that are already pinned"
    assert fake_cupy.uploaded_from[0] is data and fake_cupy.uploaded_from[1] is dq
    assert moved["none"] is None
    np.testing.assert_array_equal(moved["data"]._data, data)


def test_pageable_arrays_go_through_one_pinned_staging_copy(fake_cupy):
    allocator = FakeAllocator()
    host = PinnedHost(allocator)
    pageable = np.arange(64, dtype=np.float32).reshape(8, 8)
    swapped = np.arange(64, dtype=">f4").reshape(8, 8)
    moved = to_device({"a": pageable, "b": swapped, "c": pageable[:, ::2]}, GPU, host=host)
    assert allocator.calls == 3
    assert all(src is not pageable for src in fake_cupy.uploaded_from)
    assert moved["b"].dtype == np.dtype("<f4")
    np.testing.assert_array_equal(moved["b"]._data, swapped)
    np.testing.assert_array_equal(moved["c"]._data, pageable[:, ::2])


def test_results_stay_within_the_pinned_budget(fake_cupy):
    nbytes = 16 * 16 * 4
    host = PinnedHost(FakeAllocator(), result_budget=2 * nbytes)
    moved = to_device({k: np.full((16, 16), i, np.float32) for i, k in enumerate("abc")}, GPU, host=host)
    first = to_host(moved, host=host)
    pinned = [host.is_pinned(first[k]) for k in "abc"]
    assert pinned == [True, True, False], "past the budget a result lands in pageable memory"
    assert host.live_bytes("result") == 2 * nbytes
    for i, k in enumerate("abc"):
        np.testing.assert_array_equal(first[k], i)
    kept = first["a"]
    del first
    gc.collect()
    second = to_host(moved, host=host)
    assert [host.is_pinned(second[k]) for k in "abc"] == [True, False, False], "the kept result still counts"
    del kept, second
    gc.collect()
    assert host.live_bytes("result") == 0


def test_many_results_never_exceed_the_budget(fake_cupy):
    host = PinnedHost(FakeAllocator(), result_budget=3 * 4096)
    moved = to_device({"x": np.ones((32, 32), np.float32)}, GPU, host=host)
    kept = [to_host(moved, host=host)["x"] for _ in range(20)]  # a long run keeping every result
    assert host.live_bytes("result") <= host.result_budget
    assert sum(host.is_pinned(a) for a in kept) == 3


def test_reads_land_in_registered_buffers(tmp_path):
    """What the pipelines read for a GPU is recognised as pinned: every array of the exposure."""
    from gpucal.io.exposure import read_exposure
    from tests.factories import write_small_rate

    path = write_small_rate(tmp_path)
    host = PinnedHost(FakeAllocator())
    exposure = read_exposure(path, allocator=host.empty)
    assert exposure.arrays
    for name, array in exposure.arrays.items():
        assert host.is_pinned(array), name
        assert upload_source(array, True) == "direct", name


def test_pipelines_read_for_a_gpu_into_registered_buffers():
    """image2 and image3 read exposures bound for a GPU with the registering allocator (so uploads skip the copy)."""
    from gpucal.engine import CPU
    from gpucal.engine.pinned import pinned_empty
    from gpucal.pipelines.image2.pipeline import _host_allocator as image2_allocator
    from gpucal.pipelines.image3.pipeline import _host_allocator as image3_allocator

    for allocator in (image2_allocator, image3_allocator):
        assert allocator(GPU) is pinned_empty
        assert allocator(CPU) is None
