"""The :class:`Exposure` container and reading/writing JWST image products.

An :class:`Exposure` holds what one JWST image product holds: the arrays
(``data`` = SCI, ``err``, ``dq``, ``var_poisson``, ``var_rnoise``,
``var_flat``, ``area``, and for resampled products ``wht`` and ``con``), the
meta tree (with the gwcs WCS at ``meta.wcs``), header cards the schema does
not know (``extra_fits``), and table extensions passed through unchanged.
2-D products (``_rate``, ``_cal``, ``_i2d``) and 3-D cubes (``_rateints``,
``_calints``) share it.

Files are written in jwst 3.0's layout: the same extensions in the same
order, big-endian data, unsigned DQ through BZERO, header keywords in the
schema's order with its section titles, and the ASDF extension with the
tree and the matching ``_fits_hash``, so ``stdatamodels.open`` reads them as
its own.
"""

import copy
import datetime
import os
import pathlib
import warnings

import numpy as np
from astropy.io import fits

from gpucal.errors import InputFileError
from gpucal.io import fitsraw
from gpucal.io.asdf_ext import array_reference, asdf_bytes, asdf_table_header, read_asdf_tree
from gpucal.io.blend import HDRTAB, table_tree_node
from gpucal.io.meta import meta_node
from gpucal.io.schema import array_extensions, headers_from_meta, meta_from_headers

__all__ = [
    "ARRAY_EXTENSIONS",
    "EXTENSION_NAMES",
    "Exposure",
    "encode_exposure",
    "read_exposure",
    "read_metadata",
    "write_exposure",
]

#: Array attribute -> FITS extension name, for the arrays gpucal handles.
ARRAY_EXTENSIONS = {
    "data": "SCI",
    "dq": "DQ",
    "err": "ERR",
    "area": "AREA",
    "con": "CON",
    "wht": "WHT",
    "var_poisson": "VAR_POISSON",
    "var_rnoise": "VAR_RNOISE",
    "var_flat": "VAR_FLAT",
}
EXTENSION_NAMES = ARRAY_EXTENSIONS
_EXTENSION_ATTRS = {v: k for k, v in ARRAY_EXTENSIONS.items()}
_FLOAT_ARRAYS = ("data", "err", "var_poisson", "var_rnoise", "var_flat", "area", "wht")
_STRUCTURAL = {
    "SIMPLE", "BITPIX", "NAXIS", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT", "BSCALE", "BZERO", "BLANK",
    "DATAMAX", "DATAMIN", "EXTNAME", "EXTVER", "EXTLEVEL", "GROUPS", "TFIELDS", "HISTORY", "",
}  # fmt: skip


def _is_structural(keyword):
    if keyword in _STRUCTURAL:
        return True
    return keyword.startswith(
        (
            "NAXIS",
            "TTYPE",
            "TFORM",
            "TUNIT",
            "TDIM",
            "TSCAL",
            "TZERO",
            "TNULL",
            "TDISP",
            "TBCOL",
            "PTYPE",
            "PSCAL",
            "PZERO",
        )
    )


class Exposure:
    """One JWST image product in memory.

    Parameters
    ----------
    arrays : dict of str to array, optional
        By attribute name (``data``, ``dq``, ``err``, ``var_poisson``, ...).
    meta : dict, optional
        The meta tree (the dict under ``meta`` in jwst's data models).
    model_type : str, optional
        ``"ImageModel"`` or ``"CubeModel"``; inferred from ``data`` if omitted.
    extra_fits : dict, optional
        ``{HDU: [[keyword, value, comment], ...]}`` for cards the schema does not know.
    tables : list of (astropy.io.fits.Header, bytes), optional
        Table extensions (e.g. ``INT_TIMES``, ``HDRTAB``) written back unchanged.
    history : list of str, optional
        ``HISTORY`` cards of the primary header.
    path : str, optional
        Where the product was read from.

    Attributes
    ----------
    meta : gpucal.io.meta.Node
        Attribute access to the meta tree, e.g. ``exposure.meta.instrument.filter``.
    """

    def __init__(
        self, arrays=None, meta=None, *, model_type=None, extra_fits=None, tables=None, history=None, path=None
    ):
        self.arrays = dict(arrays or {})
        self._meta = meta if meta is not None else {}
        self.meta = meta_node(self._meta)
        self.extra_fits = extra_fits or {}
        self.tables = list(tables or [])
        self.history = list(history or [])
        self.path = None if path is None else str(path)
        if model_type is None:
            data = self.arrays.get("data")
            model_type = "CubeModel" if data is not None and data.ndim == 3 else "ImageModel"
        self.model_type = model_type

    def __repr__(self):
        shape = None if self.data is None else self.data.shape
        name = self.meta.filename or self.path or ""
        return f"<Exposure {name} {self.model_type} shape={shape} arrays={sorted(self.arrays)}>"

    # -- arrays --------------------------------------------------------------
    def _get(self, name):
        return self.arrays.get(name)

    def _set(self, name, value):
        if value is None:
            self.arrays.pop(name, None)
        else:
            self.arrays[name] = value

    data = property(lambda self: self._get("data"), lambda self, v: self._set("data", v), doc="SCI array.")
    dq = property(lambda self: self._get("dq"), lambda self, v: self._set("dq", v), doc="DQ array (uint32).")
    err = property(lambda self: self._get("err"), lambda self, v: self._set("err", v), doc="ERR array.")
    var_poisson = property(
        lambda self: self._get("var_poisson"), lambda self, v: self._set("var_poisson", v), doc="VAR_POISSON array."
    )
    var_rnoise = property(
        lambda self: self._get("var_rnoise"), lambda self, v: self._set("var_rnoise", v), doc="VAR_RNOISE array."
    )
    var_flat = property(
        lambda self: self._get("var_flat"), lambda self, v: self._set("var_flat", v), doc="VAR_FLAT array."
    )
    area = property(
        lambda self: self._get("area"), lambda self, v: self._set("area", v), doc="AREA (pixel area map) array."
    )
    wht = property(
        lambda self: self._get("wht"), lambda self, v: self._set("wht", v), doc="WHT (drizzle weight) array."
    )
    con = property(
        lambda self: self._get("con"), lambda self, v: self._set("con", v), doc="CON (drizzle context) array."
    )

    @property
    def shape(self):
        """Shape of the SCI array."""
        return None if self.data is None else tuple(self.data.shape)

    @property
    def is_cube(self):
        """True for 3-D (per-integration) data."""
        return self.data is not None and self.data.ndim == 3

    @property
    def wcs(self):
        """The gwcs WCS (``meta.wcs``), or None."""
        return self._meta.get("wcs")

    @wcs.setter
    def wcs(self, value):
        self.meta.wcs = value

    @property
    def meta_tree(self):
        """The meta tree as a plain dict."""
        return self._meta

    def copy(self, *, arrays=True):
        """A deep copy (arrays copied too unless ``arrays=False``, then shared)."""
        new_arrays = {k: (v.copy() if arrays else v) for k, v in self.arrays.items()}
        wcs = self._meta.get("wcs")
        meta = {k: v for k, v in self._meta.items() if k != "wcs"}
        meta = copy.deepcopy(meta)
        if wcs is not None:
            meta["wcs"] = copy.deepcopy(wcs)
        return Exposure(
            new_arrays, meta, model_type=self.model_type, extra_fits=copy.deepcopy(self.extra_fits),
            tables=list(self.tables), history=list(self.history), path=self.path,
        )  # fmt: skip

    def to_device(self, device):
        """Move every array to ``device`` in one batch (one stream, one synchronisation); returns self."""
        from gpucal.engine import to_device

        self.arrays = to_device(self.arrays, device)
        return self

    def to_host(self):
        """Move every array back to host memory in one batch; returns self."""
        from gpucal.engine import to_host

        self.arrays = to_host(self.arrays)
        return self

    def host_copy(self):
        """A copy whose arrays are on the host (for writing an intermediate product)."""
        from gpucal.engine import to_host

        new = self.copy(arrays=False)
        new.arrays = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in to_host(self.arrays).items()}
        return new

    def header(self, hdu="PRIMARY"):
        """The header cards gpucal would write for ``hdu`` (schema keywords, then extra cards)."""
        headers = headers_from_meta(_plain(self._meta))
        header = headers.get(hdu, fits.Header())
        for keyword, value, comment in self.extra_fits.get(hdu, ()):
            header.append((keyword, value, comment), end=True)
        return header


# -- reading -----------------------------------------------------------------


def _cast_float(path, ext, array):
    if array.dtype == np.float32:
        return array
    if array.dtype.kind != "f":
        raise InputFileError(f"{path}: extension {ext} has dtype {array.dtype}, expected float32")
    return array.astype(np.float32)


def _cast_dq(path, ext, array):
    if array.dtype == np.uint32:
        return array
    if array.dtype.kind not in "iu":
        raise InputFileError(f"{path}: extension {ext} has dtype {array.dtype}, expected uint32")
    if array.dtype.kind == "i" and array.size and array.min() < 0:
        raise InputFileError(f"{path}: extension {ext} holds negative values; DQ must be unsigned")
    return array.astype(np.uint32)


def _validate_arrays(path, arrays, required):
    for name in required:
        if name not in arrays:
            raise InputFileError(f"{path}: missing {ARRAY_EXTENSIONS[name]} extension")
    if "data" not in arrays:  # a metadata-only read (see read_metadata)
        return
    data = arrays["data"]
    if data.ndim not in (2, 3):
        raise InputFileError(f"{path}: SCI must be 2-D or 3-D, found shape {data.shape}")
    for name, array in list(arrays.items()):
        ext = ARRAY_EXTENSIONS[name]
        if name in _FLOAT_ARRAYS:
            arrays[name] = array = _cast_float(path, ext, array)
        elif name == "dq":
            arrays[name] = array = _cast_dq(path, ext, array)
        if name in ("err", "dq", "var_poisson", "var_rnoise", "var_flat") and array.shape != data.shape:
            raise InputFileError(f"{path}: {ext} has shape {array.shape}, SCI has {data.shape}")
        if name == "area" and array.shape != data.shape[-2:]:
            raise InputFileError(f"{path}: AREA has shape {array.shape}, SCI has {data.shape}")


def _plain(value):
    """Numpy scalars -> Python scalars (recursively), so headers and ASDF get plain values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_exposure(path, *, required=("data", "err", "dq"), allocator=np.empty, arrays=None, tree=True):
    """Read a JWST image product (``_rate``, ``_rateints``, ``_cal``, ``_i2d``, ...).

    Parameters
    ----------
    path : str or os.PathLike
    required : sequence of str, optional
        Array attributes that must be present (default SCI, ERR, DQ).
    allocator : callable, optional
        ``allocator(shape, dtype)`` for the arrays (e.g. pinned host memory).
    arrays : set of str, optional
        Read only these array attributes (plus the required ones).
    tree : bool, optional
        Parse the ASDF extension (the gwcs WCS and tree-only meta). Without it
        the meta comes from the FITS headers alone, which is much faster when
        only keywords and arrays are needed (e.g. background exposures).

    Returns
    -------
    Exposure

    Raises
    ------
    InputFileError
        Missing, truncated or non-FITS file; a missing required extension;
        arrays of the wrong dtype or shape; an unreadable ASDF extension.
    """
    path = os.fspath(path)
    wanted = None
    if arrays is not None:
        wanted = {ARRAY_EXTENSIONS[a] for a in set(arrays) | set(required)}
    hdus = fitsraw.read_hdus(path, allocator=allocator, names=wanted, skip_tables=not tree)
    headers = {}
    out_arrays = {}
    tables = []
    tree = None
    for hdu in hdus:
        name = hdu.name
        headers.setdefault(name, hdu.header)
        if name == "ASDF" and hdu.data is not None:
            tree = read_asdf_tree(hdu.data, path)
        elif name == "ASDF":
            continue
        elif hdu.is_table:
            if hdu.data is not None:
                tables.append((hdu.header, hdu.data))
        elif name in _EXTENSION_ATTRS and hdu.data is not None:
            out_arrays[_EXTENSION_ATTRS[name]] = hdu.data
    if "SCI" not in headers:
        raise InputFileError(f"{path}: missing SCI extension (not a JWST image product)")
    _validate_arrays(path, out_arrays, required)

    tree = tree or {}
    if tree.get("_fits_hash") and tree["_fits_hash"] == fitsraw.fits_hash(hdus) and "meta" in tree:
        meta = tree["meta"]
        extra = {h: [list(c) for c in parts.get("header", [])] for h, parts in tree.get("extra_fits", {}).items()}
    else:
        meta, known = meta_from_headers(headers)
        for key, value in (tree.get("meta") or {}).items():
            if key not in meta and not isinstance(value, dict):
                meta[key] = value
            elif isinstance(value, dict):
                _merge_missing(meta.setdefault(key, {}), value)
        extra = {}
        for hdu in hdus:
            if hdu.name == "ASDF":
                continue
            cards = [
                [c.keyword, c.value, c.comment]
                for c in hdu.header.cards
                if not _is_structural(c.keyword) and c.keyword not in known.get(hdu.name, ())
            ]
            if cards:
                extra[hdu.name] = cards
    history = [str(v) for v in headers["PRIMARY"].get("HISTORY", [])] if "HISTORY" in headers.get("PRIMARY", {}) else []
    naxis = out_arrays["data"].ndim if "data" in out_arrays else int(headers["SCI"].get("NAXIS", 2))
    model_type = meta.get("model_type") or ("CubeModel" if naxis == 3 else "ImageModel")
    return Exposure(
        out_arrays, meta, model_type=model_type, extra_fits=extra, tables=tables, history=history, path=path
    )


def read_metadata(path):
    """Read a product's meta (headers and the ASDF tree with its WCS) without any pixel array.

    Stage 3 keeps one of these per input for the whole run (footprints, WCSs,
    group ids, the output grid) and reads the pixels only while an exposure is
    being worked on, so memory does not grow with the pixel data of N inputs.

    Returns
    -------
    exposure : Exposure
        With ``arrays`` empty.
    shape : tuple of int
        The SCI array's shape from its header (numpy order).
    """
    path = os.fspath(path)
    exposure = read_exposure(path, required=(), arrays=set())
    header = fitsraw.read_hdus(path, names=set(), skip_tables=True)
    sci = next((h.header for h in header if h.name == "SCI"), None)
    naxis = int(sci.get("NAXIS", 0))
    shape = tuple(int(sci[f"NAXIS{k}"]) for k in range(naxis, 0, -1))
    if naxis not in (2, 3):
        raise InputFileError(f"{path}: SCI must be 2-D or 3-D, found {naxis} axes")
    return exposure, shape


def _merge_missing(target, source):
    """Copy entries of ``source`` that ``target`` lacks (tree-only meta such as the WCS)."""
    for key, value in source.items():
        if key not in target:
            target[key] = value
        elif isinstance(value, dict) and isinstance(target[key], dict):
            _merge_missing(target[key], value)


# -- writing -----------------------------------------------------------------


def _check_host(exposure):
    for name, array in exposure.arrays.items():
        if not isinstance(array, np.ndarray):
            msg = f"{name} is a {type(array).__name__}; move the exposure to the host before writing"
            raise TypeError(msg)


def write_exposure(exposure, path, *, model_type=None):
    """Write an exposure as a jwst-layout FITS product, atomically.

    Sets ``meta.filename``, ``meta.date`` and ``meta.model_type`` as jwst's
    ``save`` does.

    Parameters
    ----------
    exposure : Exposure
        Arrays must be host (numpy) arrays.
    path : str or os.PathLike
    model_type : str, optional
        Overrides ``exposure.model_type``.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    OutputError
        If the file cannot be written (nothing is left under ``path``).
    """
    path = pathlib.Path(path)
    fitsraw.write_hdus(path, encode_exposure(exposure, path, model_type=model_type))
    return path


def _extname(header):
    return str(header.get("EXTNAME", "")).strip()


def encode_exposure(exposure, path, *, model_type=None):
    """The HDUs :func:`write_exposure` writes, as ``(header bytes, data)`` for :func:`fitsraw.write_hdus`.

    The data are the exposure's arrays, not copies. Building the headers and
    the ASDF extension silences astropy's and asdf's warnings with
    ``warnings.catch_warnings``, which saves and restores the process-wide
    filters and so is not thread-safe (asdf-astropy's unit converter does the
    same): call this on the pipeline's thread, and hand the HDUs to a
    background writer. Sets ``meta.filename`` (``path``'s name), ``meta.date``
    and ``meta.model_type``.
    """
    _check_host(exposure)
    path = pathlib.Path(path)
    model_type = model_type or exposure.model_type
    meta = exposure.meta
    meta.filename = path.name
    meta.model_type = model_type
    meta.date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    raw_meta = {k: v for k, v in exposure.meta_tree.items() if k != "wcs"}
    plain_meta = _plain(raw_meta)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        # Plain Python values, as stdatamodels stores them (a float32 PHOTMJSR is
        # written with the repr of its exact double value, as jwst writes it).
        keyword_headers = headers_from_meta(plain_meta)
        # Tables the model's schema places (INT_TIMES of a cube) go where jwst writes them; others at the end.
        tables = {_extname(h): (h, d) for h, d in exposure.tables}
        order = ["PRIMARY"] + [h for h in keyword_headers if h != "PRIMARY"]
        tree_names = {HDRTAB: "hdrtab"}  # EXTNAME -> the tree entry jwst points at the table with
        for attr, node in array_extensions(model_type):
            ext = node["array"]
            if ext in tables:
                tree_names[ext] = attr
            if (attr in exposure.arrays or ext in tables) and ext not in order:
                order.append(ext)
        for attr in exposure.arrays:
            ext = ARRAY_EXTENSIONS[attr]
            if ext not in order:
                order.append(ext)

        hdus = []
        tree_arrays = {}

        def add_table(table_header, data):
            hdus.append((fitsraw.header_bytes(table_header), data))
            name = tree_names.get(_extname(table_header))
            node = table_tree_node(table_header) if name else None
            if node is not None:
                tree_arrays[name] = node

        for ext in order:
            if ext in tables:
                add_table(*tables[ext])
                continue
            attr = _EXTENSION_ATTRS.get(ext)
            array = exposure.arrays.get(attr) if attr else None
            keyword_cards = keyword_headers.get(ext)
            if ext == "PRIMARY":
                header = fitsraw.image_header(None, primary=True)
            elif keyword_cards is None:
                header = fitsraw.image_header(array, ext)
            else:
                # An HDU first created by a keyword gets EXTVER after its keywords, as in jwst.
                header = fitsraw.image_header(array, ext, extver=None)
            for card in (keyword_cards or fits.Header()).cards:
                header.append(card, end=True)
            if ext != "PRIMARY" and keyword_cards is not None:
                header.append(("EXTVER", 1, "extension value"), end=True)
            for keyword, value, comment in exposure.extra_fits.get(ext, ()):
                header.append((keyword, value, comment), end=True)
            if ext == "PRIMARY":
                for entry in exposure.history:
                    header.add_history(entry)
            hdus.append((fitsraw.header_bytes(header), array))
            if array is not None:
                tree_arrays[attr] = array_reference(ext, array)
        for table_header, data in exposure.tables:
            if _extname(table_header) not in order:  # not placed by the schema (HDRTAB): at the end, as jwst
                add_table(table_header, data)

    digest = fitsraw.fits_hash([head for head, _ in hdus])
    tree = {"_fits_hash": digest, **tree_arrays, "meta": dict(plain_meta)}
    if exposure.wcs is not None:
        tree["meta"]["wcs"] = exposure.wcs
    if exposure.extra_fits:
        tree["extra_fits"] = {h: {"header": [list(c) for c in cards]} for h, cards in exposure.extra_fits.items()}
    blob = asdf_bytes(tree)
    hdus.append((fitsraw.header_bytes(asdf_table_header(len(blob))), blob))
    return hdus
