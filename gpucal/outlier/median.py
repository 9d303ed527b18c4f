"""The median of the groups' single images, by row bands (stcal ``MedianComputer``, memory-flat).

Each group's single drizzle (SCI and WHT) is cut into row bands as soon as it
is made; a band of every group is then stacked, weight-masked and
NaN-medianed by the ``outlier_median`` kernel on the device. Only one band
stack exists at a time, so memory does not grow with the number of groups
beyond the band buffer (``memory_budget``). Bands live in files under a
working folder (one SCI and one WHT file per band, appended group by group,
as jwst's on-disk median does), or in memory when the whole stack fits the
budget and the caller allows it.
"""

import logging
import pathlib
import tempfile

import numpy as np

from gpucal.engine import to_device, to_host
from gpucal.errors import OutputError, ParameterError
from gpucal.kernels import kernel_for

__all__ = ["BandStore", "band_rows", "median_by_bands"]

log = logging.getLogger("gpucal")

#: Bytes per stacked pixel: float32 SCI and float32 WHT.
_PIXEL_BYTES = 8


def band_rows(shape, ngroups, memory_budget=None):
    """Rows per band so that a band of all groups (SCI and WHT) fits ``memory_budget``.

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)`` of the single images.
    ngroups : int
        Number of groups in the median.
    memory_budget : int, optional
        Bytes for one band stack; default one float32 image of ``shape``
        (jwst's default median buffer).

    Returns
    -------
    int
        Between 1 and ``ny``; 1 (with a warning) when even one row exceeds the budget.
    """
    ny, nx = shape
    if memory_budget is None:
        memory_budget = ny * nx * 4
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, (int, np.integer)) or memory_budget <= 0:
        raise ParameterError(f"memory_budget: {memory_budget!r} is not a positive number of bytes")
    rows = min(ny, int(memory_budget) // (ngroups * nx * _PIXEL_BYTES))
    if rows <= 0:
        log.warning(
            "outlier_detection: memory budget %d bytes cannot hold one row of %d groups; using %d bytes",
            memory_budget, ngroups, ngroups * nx * _PIXEL_BYTES,
        )  # fmt: skip
        rows = 1
    return rows


class BandStore:
    """Row bands of the groups' single images, in memory or in files.

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)`` of every single image.
    ngroups : int
        Number of single images to come.
    rows : int
        Rows per band (the last band may be shorter).
    folder : path-like, optional
        Where band files go (a temporary folder is made inside it and removed
        by :meth:`close`); None keeps the bands in memory.
    """

    def __init__(self, shape, ngroups, rows, folder=None):
        self.shape = tuple(shape)
        self.ngroups = ngroups
        self.bands = [(r, min(r + rows, self.shape[0])) for r in range(0, self.shape[0], rows)]
        self.count = 0
        self._tmp = None
        if folder is None:
            self._memory = [
                tuple(np.empty((ngroups, r1 - r0, self.shape[1]), np.float32) for _ in range(2))
                for r0, r1 in self.bands
            ]
        else:
            self._memory = None
            try:
                self._tmp = tempfile.TemporaryDirectory(prefix="outlier_bands_", dir=folder)
            except OSError as exc:
                raise OutputError(f"workdir: cannot create band files in {folder}: {exc}") from exc
            self._path = pathlib.Path(self._tmp.name)
            for k in range(len(self.bands)):
                for kind in ("sci", "wht"):
                    (self._path / f"band{k:05d}.{kind}").write_bytes(b"")

    @property
    def in_memory(self):
        """True when the bands are held in memory."""
        return self._memory is not None

    def append(self, data, wht):
        """Add one group's single image (host float32 arrays of ``shape``), band by band."""
        if self.count >= self.ngroups:
            raise ParameterError(f"BandStore: more than the {self.ngroups} announced groups were appended")
        for name, array in (("data", data), ("wht", wht)):
            if array.shape != self.shape or array.dtype != np.float32:
                raise ParameterError(
                    f"BandStore: {name} must be float32 of shape {self.shape}, not {array.dtype} {array.shape}"
                )
        for k, (r0, r1) in enumerate(self.bands):
            if self._memory is not None:
                self._memory[k][0][self.count] = data[r0:r1]
                self._memory[k][1][self.count] = wht[r0:r1]
                continue
            for kind, array in (("sci", data), ("wht", wht)):
                with open(self._path / f"band{k:05d}.{kind}", "ab") as fh:
                    np.ascontiguousarray(array[r0:r1]).tofile(fh)
        self.count += 1

    def band(self, k):
        """``(data, wht)`` stacks of band ``k``, each ``(groups, rows, nx)`` float32 on the host."""
        if self.count != self.ngroups:
            raise ParameterError(f"BandStore: {self.count} of {self.ngroups} groups were appended")
        if self._memory is not None:
            return self._memory[k]
        r0, r1 = self.bands[k]
        shape = (self.ngroups, r1 - r0, self.shape[1])
        files = (self._path / f"band{k:05d}.{kind}" for kind in ("sci", "wht"))
        return tuple(np.fromfile(path, np.float32).reshape(shape) for path in files)

    def close(self):
        """Remove the band files (if any) and release the memory."""
        self._memory = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def median_by_bands(store, thresholds, device, progress=None):
    """The weight-masked NaN-median of all groups, band by band on ``device``.

    Parameters
    ----------
    store : BandStore
        Every group appended.
    thresholds : sequence of float
        Per-group weight thresholds, in the order the groups were appended.
    device : gpucal.engine.Device
    progress : callable, optional
        ``progress("median", done, total)`` after each band.

    Returns
    -------
    ndarray of float32, shape ``store.shape`` (host)
    """
    thr = np.asarray(thresholds, np.float64)
    if thr.shape != (store.ngroups,):
        raise ParameterError(f"thresholds: expected {store.ngroups} values, got {thr.shape}")
    median = np.empty(store.shape, np.float32)
    kernel = kernel_for("outlier_median", device)
    thr_dev = to_device({"thr": thr}, device)["thr"]
    for k, (r0, r1) in enumerate(store.bands):
        data, wht = store.band(k)
        arrays = to_device({"data": data, "wht": wht}, device)
        median[r0:r1] = to_host({"m": kernel(arrays["data"], arrays["wht"], thr_dev)})["m"]
        del arrays, data, wht
        if progress is not None:
            progress("median", k + 1, len(store.bands))
    return median
