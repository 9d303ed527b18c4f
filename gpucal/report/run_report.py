"""A run's JSON report: what ran where, how long it took, what it wrote, and how tweakreg moved each exposure.

The report is a plain dict (see ``gpucal demo``) written with :func:`write_report`. This module provides its
measured parts:

* :func:`load_alignment`: each exposure's WCS before tweakreg (its ``_cal``) and after (its ``_crf``), with
  tweakreg's status (``S_TWKREG``) and whether a correction was written (a ``v2v3corr`` frame);
* :func:`tweakreg_corrections`: the sky shift each correction applied, measured from those files, so the report
  says what landed in the products rather than what a fit claimed;
* :func:`software_versions` and :func:`device_record`.
"""

import dataclasses
import importlib.metadata
import json
import math
import os
import pathlib
import platform

import numpy as np

from gpucal.io.atomic import atomic_path
from gpucal.report.truth import exposure_root, tangent_offsets

__all__ = [
    "AlignedExposure",
    "device_record",
    "load_alignment",
    "software_versions",
    "tweakreg_corrections",
    "wcs_shift",
    "write_report",
]

#: Libraries whose versions a run report and ``gpucal info`` list (those installed).
PACKAGES = ("numpy", "numba", "numba-cuda", "scipy", "astropy", "gwcs", "asdf", "asdf-astropy", "photutils", "tweakwcs",
            "spherical-geometry", "matplotlib", "cupy-cuda12x", "cupy-cuda13x", "stdatamodels", "jwst", "pysiaf",
            "dask", "distributed")  # fmt: skip


def software_versions():
    """``{package: version}`` for gpucal, Python and the installed libraries a run depends on."""
    from gpucal import __version__

    versions = {"gpucal": __version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def device_record(device):
    """The device a run used: its name (``cpu``, ``cuda:0``...), and the GPU's model when there is one."""
    record = {"name": str(device), "kind": device.kind, "cpu_cores": os.cpu_count(), "platform": platform.platform()}
    if device.is_cuda and not device.simulated:
        from gpucal.engine import cuda_status

        gpus = {gpu.index: gpu for gpu in cuda_status().gpus}
        if device.index in gpus:
            record["gpu"] = gpus[device.index].name
            record["gpu_memory_gib"] = round(gpus[device.index].total_memory / 2**30, 1)
    return record


@dataclasses.dataclass
class AlignedExposure:
    """One exposure's WCS before and after tweakreg, as written in its ``_cal`` and ``_crf`` files."""

    root: str
    shape: tuple
    before: object
    after: object
    status: str
    aligned: bool


def load_alignment(cal_paths, crf_paths):
    """Pair each ``_cal`` with its ``_crf`` (same exposure root) and read their WCSs.

    Parameters
    ----------
    cal_paths, crf_paths : sequence of path
        The image3 inputs and the ``_crf`` products of the run (any order).

    Returns
    -------
    list of AlignedExposure
        In the order of ``cal_paths``; exposures without a ``_crf`` are left out.
    """
    from gpucal.io.exposure import read_metadata

    crfs = {exposure_root(pathlib.Path(p).name): pathlib.Path(p) for p in crf_paths}
    aligned = []
    for cal in cal_paths:
        root = exposure_root(pathlib.Path(cal).name)
        if root not in crfs:
            continue
        before, shape = read_metadata(cal)
        after, _ = read_metadata(crfs[root])
        frames = list(getattr(after.wcs, "available_frames", []))
        status = str(after.meta.cal_step.tweakreg or "")
        aligned.append(AlignedExposure(root, shape, before.wcs, after.wcs, status, "v2v3corr" in frames))
    return aligned


def wcs_shift(before, after, shape, *, points=5):
    """How far ``after`` moved the sky from ``before``: ``(east, north)`` at the array centre and the largest move.

    Parameters
    ----------
    before, after : callable
        ``wcs(x, y) -> (ra, dec)`` in degrees.
    shape : tuple of int
        The array shape; the largest move is taken over a ``points`` x ``points`` grid spanning it.

    Returns
    -------
    (float, float, float)
        East and north shift at the centre and the largest shift, in mas.
    """
    ny, nx = shape[-2:]
    x, y = np.meshgrid(np.linspace(0, nx - 1, points), np.linspace(0, ny - 1, points))
    x = np.append(x.ravel(), (nx - 1) / 2.0)
    y = np.append(y.ravel(), (ny - 1) / 2.0)
    ra0, dec0 = before(x, y)
    ra1, dec1 = after(x, y)
    east, north = tangent_offsets(ra1, dec1, ra0, dec0)
    return float(east[-1]) * 1000.0, float(north[-1]) * 1000.0, float(np.max(np.hypot(east, north))) * 1000.0


def tweakreg_corrections(aligned):
    """Per exposure: tweakreg's status, whether it was corrected, and the shift in mas (for the report)."""
    rows = []
    for item in aligned:
        east, north, largest = wcs_shift(item.before, item.after, item.shape)
        rows.append({
            "exposure": item.root, "status": item.status, "aligned": item.aligned,
            "shift_east_mas": round(east, 3), "shift_north_mas": round(north, 3), "max_shift_mas": round(largest, 3),
        })  # fmt: skip
    return rows


def _json_default(value):
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _finite(value):
    """The report with non-finite floats as None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)) and not math.isfinite(value):
        return None
    return value


def write_report(report, path):
    """Write ``report`` (a dict) as indented JSON, atomically; returns the path.

    Raises
    ------
    OutputError
        The file cannot be written.
    """
    text = json.dumps(_finite(report), indent=2, default=_json_default, allow_nan=False)
    path = pathlib.Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")
    return path
