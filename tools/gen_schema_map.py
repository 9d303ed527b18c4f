"""Regenerate ``gpucal/io/_jwst_schema.json`` from the stdatamodels schemas.

gpucal writes JWST products without importing stdatamodels at run time. What it
needs from the official data-model schemas is *format information*: which meta
attribute maps to which FITS keyword in which HDU, the order and section titles
jwst uses when it writes headers, and which arrays live in which extensions.
This developer tool walks the merged schemas of the models gpucal reads and
writes and stores that information as a compact JSON document.

It also records what jwst's ``model_blender`` reads from a schema to blend the
metadata of a mosaic's inputs (``blend``): the ``blend_rule`` of each meta
attribute, the attributes with ``blend_table: true`` (the ``HDRTAB`` columns,
named by their FITS keyword), the array-valued attributes that cannot be
blended, and the meta object paths the schema defines. They are gathered the
way jwst's ``_schemautil.parse_schema`` walks the schema: only ``meta``
attributes, nothing inside an array's ``items``, object nodes skipped, a path
cut at its first ``anyOf``/``oneOf``.

Run it (with the ``test`` extra installed) after upgrading the reference
``stdatamodels`` version::

    python tools/gen_schema_map.py
"""

import json
import pathlib

from stdatamodels import __version__ as stdm_version
from stdatamodels import schema as dm_schema
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


def _blend_info(schema):
    """Blend rules, HDRTAB columns, unblendable attributes and object paths of a model's meta, in walk order."""
    info = {"rules": [], "columns": [], "ignores": [], "objects": []}
    rules, columns = {}, {}

    def visit(subschema, path, _combiner, _ctx, _recurse):
        if len(path) <= 1 or path[0] != "meta" or "items" in path:
            return
        for combiner in ("anyOf", "oneOf"):
            if combiner in path:
                path = path[: path.index(combiner)]
                break
        attr = ".".join(path)
        if subschema.get("properties"):
            if attr not in info["objects"]:
                info["objects"].append(attr)
            return
        if subschema.get("type") == "array":
            info["ignores"].append(attr)
            return
        if "blend_rule" in subschema:
            rules[attr] = subschema["blend_rule"]
        if subschema.get("blend_table"):
            columns[attr] = subschema.get("fits_keyword", attr)

    dm_schema.walk_schema(schema, visit)
    # dicts, as jwst keeps them: a later entry for the same attribute replaces the value, not the position
    info["rules"] = [[attr, rule] for attr, rule in rules.items()]
    info["columns"] = [[attr, column] for attr, column in columns.items()]
    if len(set(columns.values())) != len(columns):
        raise RuntimeError("two blend_table attributes share a FITS keyword; HDRTAB columns would collide")
    return info


def main():
    doc = {"stdatamodels": stdm_version, "meta": None, "models": {}, "blend": None}
    for name in MODELS:
        model = getattr(datamodels, name)()
        props = _node(model.schema)["props"]
        blend = _blend_info(model.schema)
        model.close()
        if doc["blend"] is None:
            doc["blend"] = blend
        elif doc["blend"] != blend:
            raise RuntimeError(f"{name} blend rules differ from {MODELS[0]}'s; extend the format")
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
