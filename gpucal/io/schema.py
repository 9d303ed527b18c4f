"""The JWST data-model layout: meta attributes <-> FITS keywords, and array HDUs.

``_jwst_schema.json`` is generated from the stdatamodels schemas by
``tools/gen_schema_map.py``; it records, in the order jwst writes them, every
meta attribute that has a FITS keyword (with its HDU, comment and section
title) and every array extension of the models gpucal writes. Writing headers
by walking it reproduces jwst's header layout card for card; reading uses its
keyword index. Its ``blend`` part holds what jwst's header blending reads from
the schema (see :mod:`gpucal.io.blend`).
"""

import functools
import json
import pathlib

from astropy.io import fits

__all__ = [
    "array_extensions",
    "blend_schema",
    "headers_from_meta",
    "keyword_index",
    "keyword_meta",
    "meta_from_headers",
    "schema_children",
    "schema_doc",
]

_PATH = pathlib.Path(__file__).with_name("_jwst_schema.json")


@functools.lru_cache(maxsize=1)
def schema_doc():
    """The parsed schema map (cached)."""
    return json.loads(_PATH.read_text())


def blend_schema():
    """What jwst's model blender reads from the ImageModel schema.

    Returns
    -------
    dict
        ``rules`` (``[[attribute, blend rule]]``), ``columns`` (``[[attribute,
        HDRTAB column]]`` in the schema's order), ``ignores`` (array
        attributes that cannot be blended) and ``objects`` (dotted paths of
        the meta levels the schema defines).
    """
    return schema_doc()["blend"]


_CHILDREN = {}


def schema_children(node):
    """``{name: child}`` of a schema object node (empty for leaves and ``None``)."""
    if node is None or "props" not in node:
        return {}
    children = _CHILDREN.get(id(node))
    if children is None:
        children = _CHILDREN[id(node)] = dict(node["props"])
    return children


def array_extensions(model_type):
    """Ordered ``[(attribute, node)]`` of the array extensions of a model type."""
    models = schema_doc()["models"]
    if model_type not in models:
        model_type = "CubeModel" if model_type.startswith("Cube") else "ImageModel"
    return models[model_type]


@functools.lru_cache(maxsize=1)
def keyword_index():
    """``{(hdu, KEYWORD): (path tuple, type)}`` for every keyworded meta attribute."""
    index = {}

    def walk(node, path):
        if "kw" in node:
            index[(node.get("hdu", "PRIMARY"), node["kw"])] = (path, node.get("type"))
            return
        for name, child in node.get("props", ()):
            walk(child, (*path, name))

    walk(schema_doc()["meta"], ("meta",))
    return index


def _coerce(value, kind):
    if kind == "string" and not isinstance(value, str) and value is not None:
        return str(value)
    if kind == "number" and isinstance(value, bool):
        return value
    return value


def meta_from_headers(headers):
    """Build the meta tree from FITS headers, as stdatamodels does when loading.

    Parameters
    ----------
    headers : dict of str to astropy.io.fits.Header
        Headers by HDU name (``"PRIMARY"``, ``"SCI"``, ...).

    Returns
    -------
    meta : dict
        Nested meta tree (without the top-level ``"meta"`` key).
    known : dict of str to set
        Keywords per HDU that the schema knows (the rest are ``extra_fits``).
    """
    meta = {}
    known = {}
    for (hdu_name, keyword), (path, kind) in keyword_index().items():
        header = headers.get(hdu_name)
        if header is None or keyword not in header:
            continue
        value = header[keyword]
        if isinstance(value, fits.card.Undefined):
            continue
        node = meta
        for part in path[1:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _coerce(value, kind)
        known.setdefault(hdu_name, set()).add(keyword)
    return meta, known


class _HeaderWriter:
    """Emulates stdatamodels' schema-driven header writer (titles, order, comments)."""

    def __init__(self, headers):
        self.headers = headers
        self.pending = []

    def visit(self, node, instance):
        title = node.get("title")
        mark = len(self.pending)
        if title is not None:
            self.pending.append(title)
        for name, child in node["props"]:
            if name not in instance:
                continue
            value = instance[name]
            if "kw" in child:
                self.write(child, value)
            elif "props" in child and isinstance(value, dict):
                self.visit(child, value)
        if title is not None and len(self.pending) > mark:
            del self.pending[mark:]

    def write(self, leaf, value):
        if value is None:
            return
        hdu = leaf.get("hdu", "PRIMARY")
        header = self.headers.setdefault(hdu, fits.Header())
        for title in self.pending:
            header.append((" ", ""), end=True)
            header.append((" ", title), end=True)
            header.append((" ", ""), end=True)
        self.pending = []
        keyword = leaf["kw"]
        if keyword in ("COMMENT", "HISTORY"):
            for item in value if isinstance(value, list) else [value]:
                header[keyword] = item
        elif keyword in header:
            header[keyword] = (value, leaf["doc"])
        else:
            header.append((keyword, value, leaf["doc"]), end=True)


def headers_from_meta(meta):
    """Header cards for each HDU from a meta tree, in jwst's order and layout.

    Parameters
    ----------
    meta : dict
        The meta tree (without the top-level ``"meta"`` key).

    Returns
    -------
    dict of str to astropy.io.fits.Header
        Keyword cards only (no mandatory structural cards), by HDU name, in
        the order the HDUs are first touched.
    """
    headers = {}
    _HeaderWriter(headers).visit(schema_doc()["meta"], meta)
    return headers


def keyword_meta(meta):
    """A deep copy of the meta leaves that have a FITS keyword (what jwst's ``model.update`` copies).

    Tree-only entries (the WCS, ``cal_logs``...) are left out.
    """
    import copy

    out = {}
    for path, _kind in keyword_index().values():
        node = meta
        for part in path[1:]:
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
        else:
            target = out
            for part in path[1:-1]:
                target = target.setdefault(part, {})
            target[path[-1]] = copy.deepcopy(node)
    return out
