"""Regenerate ``gpucal/io/_jwst_schema.json`` from the stdatamodels schemas.

gpucal writes JWST products without importing stdatamodels at run time. What it
needs from the official data-model schemas is *format information*: which meta
attribute maps to which FITS keyword in which HDU, the order and section titles
jwst uses when it writes headers, and which arrays live in which extensions.
This developer tool walks the merged schemas of the models gpucal reads and
writes and stores that information as a compact JSON document.

Run it (with the ``test`` extra installed) after upgrading the reference
``stdatamodels`` version::

    python tools/gen_schema_map.py
"""

import json
import pathlib

from stdatamodels import __version__ as stdm_version
from stdatamodels.jwst import datamodels

MODELS = ("ImageModel", "CubeModel")
OUT = pathlib.Path(__file__).resolve().parents[1] / "gpucal" / "io" / "_jwst_schema.json"


def _short_doc(schema):
    title = schema.get("title")
    description = schema.get("description")
    if description is None:
        description = title or ""
    elif title is not None:
        description = title + "\n\n" + description
    return description.partition("\n")[0]


def _node(schema):
    if "fits_keyword" in schema:
        leaf = {"kw": schema["fits_keyword"], "doc": _short_doc(schema)}
        if schema.get("fits_hdu") not in (None, "PRIMARY"):
            leaf["hdu"] = schema["fits_hdu"]
        if "type" in schema:
            leaf["type"] = schema["type"]
        return leaf
    if "fits_hdu" in schema and ("datatype" in schema or "ndim" in schema or "max_ndim" in schema):
        arr = {"array": schema["fits_hdu"]}
        for key in ("datatype", "ndim", "max_ndim", "default"):
            if key in schema:
                arr[key] = schema[key]
        return arr
    if schema.get("type") == "object" and "properties" in schema:
        children = []
        for name, sub in schema["properties"].items():
            child = _node(sub)
            if child is not None:
                children.append([name, child])
        if not children:
            return None
        node = {"props": children}
        if schema.get("title") is not None:
            node["title"] = schema["title"]
        return node
    return None


def main():
    doc = {"stdatamodels": stdm_version, "meta": None, "models": {}}
    for name in MODELS:
        model = getattr(datamodels, name)()
        props = _node(model.schema)["props"]
        model.close()
        meta = dict(props)["meta"]
        if doc["meta"] is None:
            doc["meta"] = meta
        elif doc["meta"] != meta:
            raise RuntimeError(f"{name} meta schema differs from {MODELS[0]}; extend the format")
        doc["models"][name] = [[attr, node] for attr, node in props if attr != "meta"]
    OUT.write_text(json.dumps(doc, separators=(",", ":"), sort_keys=False) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes) from stdatamodels {stdm_version}")


if __name__ == "__main__":
    main()
