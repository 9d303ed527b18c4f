"""Header blending of a mosaic's inputs, as jwst's ``model_blender`` does it for image3's ``_i2d``.

jwst's resample gives the mosaic the metadata of its first input, except that
the attributes whose schema has a ``blend_rule`` take a value combined over
all inputs (earliest start, latest end, mean mid time, summed exposure times,
``MULTIPLE`` for differing detectors...), and it adds an ``HDRTAB`` binary
table with one row per input and one column per schema attribute marked
``blend_table`` (named by its FITS keyword). :class:`MetaBlender` does the
same from gpucal's meta trees, with the rules and columns recorded in
``_jwst_schema.json`` (see ``tools/gen_schema_map.py``), so that nothing here
imports stdatamodels. Its behaviour follows jwst 3.0 in the details that show
in the files:

* the first input's attributes are those of its whole meta tree (also the
  ones without a FITS keyword), minus the ignored ones; an attribute is
  ignored when its dotted name *starts with* an ignored name, so ``meta.wcs``
  (always ignored) also leaves out every ``meta.wcsinfo`` attribute;
* a rule's value is computed over the inputs that have the attribute; no
  input with it gives ``None`` (the attribute is removed);
* a table column holds NaN where an input lacks the attribute, columns that
  no input has are dropped, and each column's type is what numpy makes of
  its values (bool columns are written as FITS logicals and recorded as
  ``int8`` in the ASDF tree, as jwst does).
"""

import datetime
import re

import numpy as np

from gpucal.io.schema import blend_schema

__all__ = [
    "HDRTAB",
    "RESAMPLE_IGNORES",
    "RULES",
    "MetaBlender",
    "apply_blended",
    "flat_meta",
    "hdrtab_extension",
    "table_tree_node",
]

#: Extension name of the table of the inputs' metadata.
HDRTAB = "HDRTAB"
#: Always ignored: the WCS object (and, by prefix, ``meta.wcsinfo``), as in jwst.
_ALWAYS_IGNORED = ("meta.wcs",)
#: What jwst's ``ResampleImage`` asks the blender to ignore: set on the mosaic by resample itself.
RESAMPLE_IGNORES = ("meta.photometry.pixelarea_steradians", "meta.photometry.pixelarea_arcsecsq", "meta.filename")


def _multi(values):
    """The common value, or ``"MULTIPLE"`` when the inputs differ."""
    distinct = set(values)
    return next(iter(distinct)) if len(distinct) == 1 else "MULTIPLE"


def _wheeltol(values):
    """Outside tolerance when any input is, else within."""
    if any(v == "outside calibration tolerance" for v in values):
        return "outside calibration tolerance"
    return "within commanded tolerance"


#: Blend rule name -> function of the list of input values (jwst's ``RULE_FUNCTIONS``). The date and
#: time rules compare ISO 8601 strings, whose lexical and chronological orders agree.
RULES = {
    "multi": _multi,
    "mean": np.mean,
    "sum": np.sum,
    "max": np.max,
    "min": np.min,
    "mintime": min,
    "maxtime": max,
    "mindate": min,
    "maxdate": max,
    "mindatetime": min,
    "maxdatetime": max,
    "wheeltol": _wheeltol,
}
#: The rule that keeps the first input's value (no blending needed).
_FIRST = "first"


def _tree_of(source):
    """The meta tree (the dict under ``meta``) of an Exposure, a meta Node or a plain dict."""
    tree = getattr(source, "meta_tree", None)
    if tree is None and hasattr(source, "to_dict"):
        tree = source.to_dict()
    if tree is None:
        tree = source
    if not isinstance(tree, dict):
        raise TypeError(f"expected an Exposure, a meta Node or a meta dict, not {type(source).__name__}")
    return tree


def _leaf(value):
    """A leaf as stdatamodels' ``to_flat_dict`` gives it (dates as ISO strings)."""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if type(value).__name__ == "Time" and type(value).__module__.startswith("astropy"):
        return str(value)
    return value


def flat_meta(source):
    """``{"meta.a.b": value}`` of every leaf of a meta tree (``None`` left out, list items by index).

    Parameters
    ----------
    source : Exposure, gpucal.io.meta.Node or dict
        The meta tree (without the top-level ``meta`` key) or what holds it.
    """
    out = {}

    def walk(node, prefix):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}.{key}")
        elif isinstance(node, (list, tuple)):
            for index, value in enumerate(node):
                walk(value, f"{prefix}.{index}")
        elif node is not None:
            out[prefix] = _leaf(node)

    walk(_tree_of(source), "meta")
    return out


class _Missing:
    """An input without the attribute (NaN in the table)."""

    def __repr__(self):
        return "<missing>"


_MISSING = _Missing()


class MetaBlender:
    """Blend the metadata of several inputs into one (jwst's ``ModelBlender``).

    Parameters
    ----------
    ignore : sequence of str, optional
        Dotted attribute names (``"meta.filename"``) left out of the blended
        metadata, each also leaving out every attribute whose name starts with
        it. ``meta.wcs`` and the schema's array attributes are always ignored.
    schema : dict, optional
        ``{"rules", "columns", "ignores", "objects"}`` (default: the
        ImageModel schema's, from ``_jwst_schema.json``).

    Examples
    --------
    ::

        blender = MetaBlender(ignore=RESAMPLE_IGNORES)
        for member in library:
            blender.accumulate(member.meta_exposure)
        blended, table = blender.finalize()
    """

    def __init__(self, ignore=(), schema=None):
        schema = blend_schema() if schema is None else schema
        self._ignore = tuple(_ALWAYS_IGNORED) + tuple(ignore) + tuple(schema["ignores"])
        self._columns = [(attr, name) for attr, name in schema["columns"]]
        if len({name for _, name in self._columns}) != len(self._columns):
            raise ValueError("blend schema: two attributes map to the same HDRTAB column")
        self._rules = {}
        for attr, rule in schema["rules"]:
            if rule == _FIRST or self._ignored(attr):
                continue
            if rule not in RULES:
                raise ValueError(f"blend schema: unknown blend rule {rule!r} for {attr}")
            self._rules[attr] = rule
        self.objects = frozenset(schema.get("objects", ()))
        self._first = None
        self._model_type = None
        self._values = {attr: [] for attr in self._rules}
        self._cells = {attr: [] for attr, _ in self._columns}
        self.n_inputs = 0

    def _ignored(self, attr):
        return attr.startswith(self._ignore)

    def accumulate(self, source):
        """Add one input's metadata (an Exposure, a meta Node or a meta tree dict), in the mosaic's order.

        Raises
        ------
        ValueError
            If ``source`` is an Exposure of another model type than the first input's.
        """
        model_type = getattr(source, "model_type", None)
        if self.n_inputs and None not in (model_type, self._model_type) and model_type != self._model_type:
            raise ValueError(f"cannot blend a {model_type} with {self._model_type} inputs")
        flat = flat_meta(source)
        if self._first is None:
            self._model_type = model_type
            self._first = {attr: value for attr, value in flat.items() if not self._ignored(attr)}
        for attr, cells in self._cells.items():
            cells.append(flat.get(attr, _MISSING))
        for attr, values in self._values.items():
            if attr in flat:
                values.append(flat[attr])
        self.n_inputs += 1

    def blended_meta(self):
        """``{dotted attribute: value}``: the first input's, with every blend rule's result (None: remove)."""
        if self._first is None:
            raise ValueError("nothing to blend: no input accumulated")
        meta = dict(self._first)
        for attr, values in self._values.items():
            meta[attr] = RULES[self._rules[attr]](values) if values else None
        return meta

    def table(self):
        """The inputs' table: a numpy record array, one row per input, one field per column some input has."""
        if self._first is None:
            raise ValueError("nothing to blend: no input accumulated")
        arrays, names = [], []
        for attr, name in self._columns:
            cells = self._cells[attr]
            if all(cell is _MISSING for cell in cells):
                continue
            arrays.append(np.array([np.nan if cell is _MISSING else cell for cell in cells]))
            names.append(name)
        return np.rec.fromarrays(arrays, names=names)

    def finalize(self):
        """``(blended meta, table)``: see :meth:`blended_meta` and :meth:`table`."""
        return self.blended_meta(), self.table()


def apply_blended(meta_tree, blended, objects=None):
    """Set blended attributes on a meta tree as jwst's ``finalize_model`` sets them on the output model.

    ``None`` removes the attribute. A missing intermediate level is created
    only when the schema defines it (``objects``); otherwise the attribute is
    skipped, as jwst skips attributes its output model cannot hold. List items
    (``meta.x.0``) are set only where the list already has that item.

    Parameters
    ----------
    meta_tree : dict
        The output's meta tree (without the top-level ``meta`` key), changed in place.
    blended : dict
        ``{"meta.a.b": value}`` (:meth:`MetaBlender.blended_meta`).
    objects : collection of str, optional
        Dotted paths of the schema's object levels (default: the ImageModel schema's).
    """
    objects = frozenset(blend_schema()["objects"]) if objects is None else objects
    for attr, value in blended.items():
        parts = attr.split(".")
        if parts[0] != "meta" or len(parts) < 2:
            continue
        node, path = meta_tree, "meta"
        for part in parts[1:-1]:
            path = f"{path}.{part}"
            node = _descend(node, part, path, objects)
            if node is None:
                break
        else:
            _assign(node, parts[-1], value)


def _descend(node, part, path, objects):
    if isinstance(node, list):
        return node[int(part)] if part.isdigit() and int(part) < len(node) else None
    child = node.get(part)
    if isinstance(child, (dict, list)):
        return child
    if child is None and path in objects:
        return node.setdefault(part, {})
    return None


def _assign(node, key, value):
    if isinstance(node, list):
        if key.isdigit() and int(key) < len(node):
            node[int(key)] = value
    elif value is None:
        node.pop(key, None)
    else:
        node[key] = value


def hdrtab_extension(table):
    """The ``HDRTAB`` extension of a table: ``(header, data bytes)`` for ``Exposure.tables``.

    The header and bytes are astropy's for the record array, as jwst writes
    them: text columns ``nA``, bools ``L``, integers ``K``, floats ``D``,
    then ``EXTNAME``/``EXTVER``.
    """
    import warnings

    from astropy.io import fits

    from gpucal.io.fitsraw import BLOCK, table_hdu_bytes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        hdu = fits.BinTableHDU.from_columns(table)
        hdu.name = HDRTAB
        hdu.ver = 1
        raw = table_hdu_bytes(hdu)
    end = 0
    while raw[end : end + 8] != b"END     ":
        end += 80
    header_size = end + 80 + (-(end + 80)) % BLOCK
    header = fits.Header.fromstring(raw[:header_size].decode("ascii"))
    nbytes = int(header["NAXIS1"]) * int(header["NAXIS2"])
    return header, raw[header_size : header_size + nbytes]


_TFORM = re.compile(r"(\d*)([A-Z])")
#: FITS binary-table formats -> ASDF datatypes, as stdatamodels records a table (bools as int8).
_TFORM_DATATYPES = {
    "L": "int8",
    "B": "uint8",
    "I": "int16",
    "J": "int32",
    "K": "int64",
    "E": "float32",
    "D": "float64",
}


def table_tree_node(header):
    """The ASDF tree entry jwst writes for a table extension (an ndarray pointing at it), or None.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The table's header (``TTYPEn``/``TFORMn``, ``NAXIS2``, ``EXTNAME``).

    Returns
    -------
    asdf.tagged.TaggedDict or None
        None when a column has a format this does not describe (vector or
        scaled columns): the table is then written without a tree entry.
    """
    from asdf.tagged import TaggedDict

    from gpucal.io.asdf_ext import FITS_ARRAY_TAG

    columns = []
    for k in range(1, int(header.get("TFIELDS", 0)) + 1):
        match = _TFORM.fullmatch(str(header[f"TFORM{k}"]).strip().upper())
        if match is None or f"TZERO{k}" in header or f"TSCAL{k}" in header:
            return None
        repeat, code = int(match[1] or 1), match[2]
        if code == "A":
            datatype = ["ascii", repeat]
        elif code in _TFORM_DATATYPES and repeat == 1:
            datatype = _TFORM_DATATYPES[code]
        else:
            return None
        columns.append({"byteorder": "big", "datatype": datatype, "name": str(header[f"TTYPE{k}"])})
    data = {
        "source": f"fits:{str(header['EXTNAME']).strip()},{int(header.get('EXTVER', 1))}",
        "datatype": columns,
        "byteorder": "big",
        "shape": [int(header["NAXIS2"])],
    }
    return TaggedDict(data=data, tag=FITS_ARRAY_TAG)
