"""Readers for the CRDS reference files of imaging calibration.

Each reader returns a small frozen record with the arrays and the keywords a
step needs, and raises :class:`~gpucal.errors.ReferenceFileError` naming the
file and the problem when the file is unreadable or not of the expected kind.
Readers are cached by path and modification time: a reprocessing run reads
each reference once however many exposures use it.
"""

import contextlib
import dataclasses
import functools
import os
import pathlib
import warnings

import numpy as np

from gpucal.errors import InputFileError, ReferenceFileError
from gpucal.io import fitsraw
from gpucal.io.refs.match import with_article

__all__ = [
    "AbvegaOffsetRef",
    "ApcorrRef",
    "AreaRef",
    "DistortionRef",
    "FilterOffsetRef",
    "FlatRef",
    "PhotomRef",
    "read_abvegaoffset",
    "read_apcorr",
    "read_area",
    "read_distortion",
    "read_filteroffset",
    "read_flat",
    "read_photom",
    "read_reference",
]


@dataclasses.dataclass(frozen=True)
class Subarray:
    """Placement of an array on the detector: 1-based start and size (SUBSTRT1/2, SUBSIZE1/2)."""

    xstart: int
    ystart: int
    xsize: int
    ysize: int


@dataclasses.dataclass(frozen=True)
class FlatRef:
    """A ``flat`` reference: SCI, ERR, DQ and where they sit on the detector."""

    path: str
    data: np.ndarray
    err: np.ndarray
    dq: np.ndarray
    subarray: Subarray
    header: dict


@dataclasses.dataclass(frozen=True)
class PhotomRef:
    """A ``photom`` reference: the PHOTOM table and optional time-dependence tables."""

    path: str
    table: np.ndarray
    timecoeff: dict
    pixar_sr: float | None
    pixar_a2: float | None
    header: dict


@dataclasses.dataclass(frozen=True)
class AreaRef:
    """An ``area`` reference: the pixel-area map and the nominal pixel area."""

    path: str
    data: np.ndarray
    pixar_sr: float | None
    pixar_a2: float | None
    subarray: Subarray
    header: dict


@dataclasses.dataclass(frozen=True)
class DistortionRef:
    """A ``distortion`` reference: pixel -> V2/V3 (arcsec) astropy model."""

    path: str
    model: object
    meta: dict


@dataclasses.dataclass(frozen=True)
class FilterOffsetRef:
    """A ``filteroffset`` reference: per-filter column/row offsets."""

    path: str
    filters: list
    meta: dict

    def offset_for(self, filter_name, pupil=None):
        """``(column_offset, row_offset)`` for a filter (and pupil), or None.

        Matches as jwst does: NIRCam rows by filter and pupil, MIRI rows (no
        pupil key) by filter alone; more than one match is an error.
        """
        matches = []
        for row in self.filters:
            if str(row.get("filter", "")).upper() != str(filter_name).upper():
                continue
            if "pupil" in row and pupil is not None and str(row["pupil"]).upper() != str(pupil).upper():
                continue
            matches.append(row)
        if len(matches) > 1:
            raise ReferenceFileError(f"{self.path}: {len(matches)} rows match filter={filter_name} pupil={pupil}")
        if not matches:
            return None
        col, row = matches[0].get("column_offset"), matches[0].get("row_offset")
        if col in (None, "N/A") or row in (None, "N/A"):
            return None
        return float(col), float(row)


def _subarray(header, shape, path, instrument):
    keys = ("SUBSTRT1", "SUBSTRT2", "SUBSIZE1", "SUBSIZE2")
    if all(k in header for k in keys):
        xstart, ystart = int(header["SUBSTRT1"]), int(header["SUBSTRT2"])
        if xstart < 1 or ystart < 1:
            raise ReferenceFileError(f"{path}: bad subarray corner SUBSTRT1={xstart} SUBSTRT2={ystart}")
        # jwst trusts the array size over SUBSIZE when they disagree.
        return Subarray(xstart, ystart, shape[-1], shape[-2])
    full = (1024, 1032) if instrument == "MIRI" else (2048, 2048)
    if tuple(shape[-2:]) == full:
        return Subarray(1, 1, shape[-1], shape[-2])
    raise ReferenceFileError(f"{path}: no SUBSTRT/SUBSIZE keywords and shape {shape} is not full frame")


def _stat_key(path):
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ReferenceFileError(f"{path}: reference file not found") from None
    return path, st.st_mtime_ns, st.st_size


def _read_fits_images(path, reftype):
    try:
        hdus = fitsraw.read_hdus(path)
    except InputFileError as exc:
        raise ReferenceFileError(f"{reftype} reference {exc}") from exc
    return {hdu.name: hdu for hdu in hdus}


def _primary_keywords(hdus):
    header = dict(hdus["PRIMARY"].header)
    for name in ("SCI",):
        if name in hdus:
            for key, value in hdus[name].header.items():
                header.setdefault(key, value)
    return header


def _check_reftype(path, header, expected):
    """REFTYPE must be present and be ``expected`` (a science product has none)."""
    if "REFTYPE" not in header or not str(header["REFTYPE"]).strip():
        raise ReferenceFileError(
            f"{path}: no REFTYPE keyword: not a reference file ({with_article(expected)} reference was expected)"
        )
    reftype = str(header["REFTYPE"]).strip().lower()
    if reftype != expected:
        raise ReferenceFileError(f"{path}: REFTYPE is {reftype!r}, expected {with_article(expected)} reference")


@contextlib.contextmanager
def _open_fits(path, reftype):
    """astropy's HDU list of a FITS reference whose structure fitsraw has checked first.

    A truncated or corrupt file is one :class:`ReferenceFileError` line; astropy's
    warnings about it (VerifyWarning, "may have been truncated") are not printed.
    """
    from astropy.io import fits

    try:
        fitsraw.read_hdus(path, names=set(), skip_tables=True)  # headers and sizes only
    except InputFileError as exc:
        raise ReferenceFileError(f"{reftype} reference {exc}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=False) as hdul:
                yield hdul
    except ReferenceFileError:
        raise
    except Exception as exc:
        raise ReferenceFileError(f"{path}: unreadable {reftype} reference ({exc.__class__.__name__}: {exc})") from None


def _image_reference(path, reftype):
    """Open an image reference: its HDUs, primary keywords (REFTYPE checked) and 2-D float32 SCI array."""
    hdus = _read_fits_images(path, reftype)
    header = _primary_keywords(hdus)
    _check_reftype(path, header, reftype)
    if "SCI" not in hdus or hdus["SCI"].data is None:
        raise ReferenceFileError(f"{path}: {reftype} reference has no SCI extension")
    data = np.asarray(hdus["SCI"].data, dtype=np.float32)
    if data.ndim != 2:
        raise ReferenceFileError(f"{path}: {reftype} SCI must be 2-D, found shape {data.shape}")
    return hdus, header, data


@functools.lru_cache(maxsize=16)
def _read_flat(key):
    path = key[0]
    hdus, header, data = _image_reference(path, "flat")
    err = hdus["ERR"].data if "ERR" in hdus and hdus["ERR"].data is not None else np.zeros_like(data)
    dq = hdus["DQ"].data if "DQ" in hdus and hdus["DQ"].data is not None else np.zeros(data.shape, np.uint32)
    err = np.asarray(err, dtype=np.float32)
    dq = np.asarray(dq, dtype=np.uint32)
    if err.shape != data.shape or dq.shape != data.shape:
        raise ReferenceFileError(f"{path}: flat ERR/DQ shapes {err.shape}/{dq.shape} differ from SCI {data.shape}")
    for array in (data, err, dq):
        array.setflags(write=False)
    sub = _subarray(header, data.shape, path, str(header.get("INSTRUME", "")).upper())
    return FlatRef(path, data, err, dq, sub, header)


def read_flat(path):
    """Read a ``flat`` reference (FITS SCI/ERR/DQ). Arrays are read-only (shared by cache)."""
    return _read_flat(_stat_key(path))


@functools.lru_cache(maxsize=16)
def _read_photom(key):
    path = key[0]
    with _open_fits(path, "photom") as hdul:
        header = dict(hdul[0].header)
        _check_reftype(path, header, "photom")
        names = [h.name for h in hdul]
        if "PHOTOM" not in names or hdul["PHOTOM"].data is None:
            raise ReferenceFileError(f"{path}: photom reference has no PHOTOM table")
        table = np.array(hdul["PHOTOM"].data)
        timecoeff = {}
        for kind in ("linear", "exponential", "powerlaw"):
            ext = f"TIMECOEFF_{kind.upper()}"
            if ext in names and hdul[ext].data is not None:
                timecoeff[kind] = np.array(hdul[ext].data)
    columns = {c.lower() for c in table.dtype.names or ()}
    if "photmjsr" not in columns and "photmj" not in columns:
        raise ReferenceFileError(f"{path}: PHOTOM table has no photmjsr column (columns: {sorted(columns)})")
    for kind, coeff in timecoeff.items():
        if len(coeff) != len(table):
            raise ReferenceFileError(f"{path}: TIMECOEFF_{kind.upper()} has {len(coeff)} rows, PHOTOM has {len(table)}")
    return PhotomRef(path, table, timecoeff, header.get("PIXAR_SR"), header.get("PIXAR_A2"), header)


def read_photom(path):
    """Read a ``photom`` reference (FITS PHOTOM table, optional TIMECOEFF_* tables)."""
    return _read_photom(_stat_key(path))


@functools.lru_cache(maxsize=16)
def _read_area(key):
    path = key[0]
    _, header, data = _image_reference(path, "area")
    data.setflags(write=False)
    sub = _subarray(header, data.shape, path, str(header.get("INSTRUME", "")).upper())
    return AreaRef(path, data, header.get("PIXAR_SR"), header.get("PIXAR_A2"), sub, header)


def read_area(path):
    """Read an ``area`` reference (FITS SCI pixel-area map, PIXAR_SR/PIXAR_A2)."""
    return _read_area(_stat_key(path))


def _read_asdf(path, reftype):
    import asdf

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with asdf.open(path, lazy_load=False, memmap=False) as af:
                return dict(af.tree)
    except FileNotFoundError:
        raise ReferenceFileError(f"{path}: {reftype} reference not found") from None
    except Exception as exc:
        raise ReferenceFileError(f"{path}: unreadable {reftype} reference ({exc.__class__.__name__}: {exc})") from exc


def _meta_reftype(path, tree, expected):
    """The ``meta`` of an ASDF reference whose ``meta.reftype`` is ``expected`` (required, as in FITS)."""
    meta = tree.get("meta") or {}
    reftype = str(meta.get("reftype") or "").strip().lower()
    if not reftype:
        raise ReferenceFileError(
            f"{path}: no meta.reftype: not a reference file ({with_article(expected)} reference was expected)"
        )
    if reftype != expected:
        raise ReferenceFileError(f"{path}: reftype is {reftype!r}, expected {with_article(expected)} reference")
    return meta


@functools.lru_cache(maxsize=32)
def _read_distortion(key):
    path = key[0]
    tree = _read_asdf(path, "distortion")
    meta = _meta_reftype(path, tree, "distortion")
    model = tree.get("model")
    if model is None or not hasattr(model, "n_inputs"):
        raise ReferenceFileError(f"{path}: distortion reference has no 'model' transform")
    if model.n_inputs != 2 or model.n_outputs != 2:
        raise ReferenceFileError(
            f"{path}: distortion model maps {model.n_inputs}->{model.n_outputs} values, expected 2->2"
        )
    return DistortionRef(path, model, meta)


def read_distortion(path):
    """Read a ``distortion`` reference (ASDF with an astropy model: pixel -> V2/V3 arcsec)."""
    return _read_distortion(_stat_key(path))


@functools.lru_cache(maxsize=32)
def _read_filteroffset(key):
    path = key[0]
    tree = _read_asdf(path, "filteroffset")
    meta = _meta_reftype(path, tree, "filteroffset")
    filters = tree.get("filters")
    if not isinstance(filters, list):
        raise ReferenceFileError(f"{path}: filteroffset reference has no 'filters' list")
    return FilterOffsetRef(path, [dict(f) for f in filters], meta)


def read_filteroffset(path):
    """Read a ``filteroffset`` reference (ASDF ``filters`` list)."""
    return _read_filteroffset(_stat_key(path))


@dataclasses.dataclass(frozen=True)
class ApcorrRef:
    """An imaging ``apcorr`` reference: the APCORR table (one row per filter/pupil or subarray and EE fraction).

    ``columns`` maps each lower-case column name to a 1-D array (text columns
    stripped and upper-cased: ``filter``, ``pupil`` or ``subarray``;
    numbers: ``eefraction``, ``radius``, ``apcorr``, ``skyin``, ``skyout``).
    """

    path: str
    columns: dict
    header: dict


@dataclasses.dataclass(frozen=True)
class AbvegaOffsetRef:
    """An ``abvegaoffset`` reference: AB - Vega magnitude offsets by filter (and pupil or detector).

    ``columns`` maps each lower-case column name of the ``abvega_offset``
    table to a 1-D array (text columns stripped and upper-cased).
    """

    path: str
    columns: dict
    meta: dict


def _table_columns(path, names, values):
    """``{lower-case name: 1-D array}``; text stripped and upper-cased, numbers as float64."""
    columns = {}
    for name, value in zip(names, values, strict=True):
        array = np.asarray(value)
        if array.dtype.kind in "SUO":
            array = np.array([(v.decode() if isinstance(v, bytes) else str(v)).strip().upper() for v in array])
        else:
            array = array.astype(np.float64)
        columns[str(name).lower()] = array
    return columns


_APCORR_NUMBERS = ("eefraction", "radius", "apcorr", "skyin", "skyout")


@functools.lru_cache(maxsize=16)
def _read_apcorr(key):
    path = key[0]
    with _open_fits(path, "apcorr") as hdul:
        header = dict(hdul[0].header)
        _check_reftype(path, header, "apcorr")
        if "APCORR" not in [h.name for h in hdul] or hdul["APCORR"].data is None:
            raise ReferenceFileError(f"{path}: apcorr reference has no APCORR table")
        table = np.array(hdul["APCORR"].data)
    names = table.dtype.names or ()
    columns = _table_columns(path, names, [table[n] for n in names])
    # The selector columns differ by instrument (FGS has none); aperture_params checks them.
    missing = [c for c in _APCORR_NUMBERS if c not in columns]
    if missing:
        raise ReferenceFileError(f"{path}: APCORR table lacks column(s) {', '.join(missing)} (has {sorted(columns)})")
    for column in _APCORR_NUMBERS:
        if columns[column].ndim != 1:
            raise ReferenceFileError(
                f"{path}: APCORR column {column!r} holds arrays; only the imaging (one value per row) layout is read"
            )
    return ApcorrRef(path, columns, header)


def read_apcorr(path):
    """Read an imaging ``apcorr`` reference (APCORR table: filter, pupil/subarray (FGS: none), eefraction...)."""
    return _read_apcorr(_stat_key(path))


@functools.lru_cache(maxsize=16)
def _read_abvegaoffset(key):
    path = key[0]
    tree = _read_asdf(path, "abvegaoffset")
    meta = _meta_reftype(path, tree, "abvegaoffset")
    table = tree.get("abvega_offset")
    if table is None or not hasattr(table, "colnames"):
        raise ReferenceFileError(f"{path}: abvegaoffset reference has no 'abvega_offset' table")
    columns = _table_columns(path, table.colnames, [np.asarray(table[c]) for c in table.colnames])
    if "abvega_offset" not in columns:
        raise ReferenceFileError(
            f"{path}: abvega_offset table lacks the 'abvega_offset' column (has {sorted(columns)})"
        )
    return AbvegaOffsetRef(path, columns, meta)


def read_abvegaoffset(path):
    """Read an ``abvegaoffset`` reference (ASDF ``abvega_offset`` table: filter, pupil or detector, abvega_offset)."""
    return _read_abvegaoffset(_stat_key(path))


_READERS = {
    "apcorr": read_apcorr,
    "abvegaoffset": read_abvegaoffset,
    "flat": read_flat,
    "photom": read_photom,
    "area": read_area,
    "distortion": read_distortion,
    "filteroffset": read_filteroffset,
}


def read_reference(reftype, path):
    """Read a reference of a known type by name."""
    try:
        reader = _READERS[reftype]
    except KeyError:
        raise ReferenceFileError(f"no reader for reference type {reftype!r}") from None
    return reader(pathlib.Path(path))
