"""Page-locked (pinned) host memory: which buffers are pinned, and how much of it results may hold.

A copy between the GPU and page-locked host memory runs at full PCIe
bandwidth and asynchronously; from pageable memory the driver goes through
its own bounce buffer, slower and synchronously. Page-locked memory is a
scarce resource, though: it cannot be swapped, and CuPy's pinned pool keeps
what it has handed out. Two decisions follow, each a pure function so that
it can be checked without a GPU:

* :func:`upload_source`: an array read into a pinned buffer (the pipelines
  read exposures with :meth:`PinnedHost.empty`) is uploaded straight from
  that buffer; anything else is first copied into a pinned staging buffer.
  Knowing which arrays are pinned is the job of :class:`PinnedHost`: it
  records the address range of every buffer it allocated and forgets it when
  the buffer is garbage-collected, so a view of a pinned buffer is
  recognised and a pageable array is never mistaken for one.
* :func:`result_destination`: results copied back from the device land in
  pinned memory only while the pinned result buffers still alive stay within
  a budget (:data:`DEFAULT_RESULT_BUDGET`); past it they land in ordinary
  pageable numpy arrays. Chosen over a pool of pinned staging buffers (copy
  device -> staging -> pageable) because the common case, a pipeline that
  writes each result and drops it, then keeps the fast path with no extra
  host copy, while a caller that keeps every result of a long run (e.g.
  ``keep_arrays=True`` over a large association) holds at most the budget in
  page-locked memory; the results past it only download more slowly.

A wrong answer from the registry can only cost speed, never correctness:
every copy goes through CuPy, which accepts pinned and pageable memory alike.
"""

import bisect
import itertools
import threading
import weakref

import numpy as np
from numpy.lib.array_utils import byte_bounds

__all__ = ["DEFAULT_RESULT_BUDGET", "PINNED_HOST", "PinnedHost", "pinned_empty", "result_destination", "upload_source"]

#: Page-locked bytes that live result buffers may hold (about 8 full-frame NIRCam ``_cal`` products).
DEFAULT_RESULT_BUDGET = 1 << 30


def upload_source(array, pinned):
    """How a host array reaches the device: ``"direct"`` from its own buffer, or ``"stage"`` through a pinned copy.

    Parameters
    ----------
    array : numpy.ndarray
    pinned : bool
        Whether ``array`` lies in page-locked memory (:meth:`PinnedHost.is_pinned`).

    Returns
    -------
    {"direct", "stage"}
        ``"direct"`` only for a pinned, C-contiguous array in native byte order
        (what a device array can be filled from byte for byte).
    """
    if pinned and array.flags.c_contiguous and array.dtype.isnative:
        return "direct"
    return "stage"


def result_destination(nbytes, live_bytes, budget):
    """Where a result of ``nbytes`` is copied back to: ``"pinned"`` within the budget, else ``"pageable"``.

    Parameters
    ----------
    nbytes : int
        Size of the result array.
    live_bytes : int
        Pinned result bytes still alive.
    budget : int
        Most pinned result bytes allowed alive at once.
    """
    return "pinned" if live_bytes + nbytes <= budget else "pageable"


def _cupyx_pinned(shape, dtype):
    import cupyx

    return cupyx.empty_pinned(shape, dtype)


class PinnedHost:
    """Allocator and registry of page-locked host buffers.

    Parameters
    ----------
    allocate : callable, optional
        ``allocate(shape, dtype)`` returning a numpy array in page-locked
        memory (default ``cupyx.empty_pinned``, imported on first use). Tests
        pass a fake.
    result_budget : int, optional
        Most bytes of live pinned result buffers (:meth:`result_empty`).
    """

    def __init__(self, allocate=None, result_budget=DEFAULT_RESULT_BUDGET):
        if result_budget < 0:
            raise ValueError(f"result_budget must be >= 0, not {result_budget!r}")
        self._allocate = allocate or _cupyx_pinned
        self.result_budget = int(result_budget)
        self._lock = threading.Lock()
        self._result_lock = threading.Lock()  # budget check and allocation as one step (reader/writer threads)
        self._starts = []  # sorted start addresses of live buffers
        self._buffers = {}  # start -> (end, kind, token)
        self._tokens = itertools.count()

    def empty(self, shape, dtype, kind="read"):
        """A new page-locked array, remembered as pinned until it is garbage-collected.

        ``kind`` labels the buffer for :meth:`live_bytes` (``"read"``,
        ``"staging"``, ``"result"``). Usable as a reader's ``allocator``.
        """
        array = self._allocate(shape, dtype)
        if array.nbytes == 0:
            return array
        start, end = byte_bounds(array)
        token = next(self._tokens)
        with self._lock:
            if start in self._buffers:  # a stale entry whose finalizer has not run yet
                self._starts.remove(start)
            bisect.insort(self._starts, start)
            self._buffers[start] = (end, kind, token)
        weakref.finalize(array, self._forget, start, token)
        return array

    def _forget(self, start, token):
        with self._lock:
            entry = self._buffers.get(start)
            if entry is not None and entry[2] == token:
                del self._buffers[start]
                self._starts.remove(start)

    def is_pinned(self, array):
        """True when every byte of ``array`` lies in a live buffer this allocator made."""
        if not isinstance(array, np.ndarray) or array.nbytes == 0:
            return False
        low, high = byte_bounds(array)
        with self._lock:
            k = bisect.bisect_right(self._starts, low) - 1
            if k < 0:
                return False
            end = self._buffers[self._starts[k]][0]
        return high <= end

    def live_bytes(self, kind=None):
        """Bytes of live pinned buffers (of one ``kind``, or all)."""
        with self._lock:
            return sum(end - start for start, (end, k, _) in self._buffers.items() if kind in (None, k))

    def result_empty(self, shape, dtype):
        """A buffer for a result coming back from the device: pinned within the budget, else pageable."""
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        with self._result_lock:
            if result_destination(nbytes, self.live_bytes("result"), self.result_budget) == "pinned":
                return self.empty(shape, dtype, kind="result")
        return np.empty(shape, dtype)


#: The process-wide allocator the pipelines read into and the transfers consult.
PINNED_HOST = PinnedHost()


def pinned_empty(shape, dtype):
    """``PINNED_HOST.empty(shape, dtype)``: a reader's allocator for exposures bound for a GPU."""
    return PINNED_HOST.empty(shape, dtype)
