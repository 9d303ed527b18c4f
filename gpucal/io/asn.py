"""JWST association (ASN) files: read, validate, write.

An association is JSON: ``asn_type`` ("image2", "image3"), ``asn_id``,
``asn_pool``, ``asn_rule``, ``program``, ``target`` and ``products``, each
product a ``name`` and ``members`` (``expname``, ``exptype`` = "science" or
"background", ...). Member paths are resolved relative to the ASN file's
folder, not the working directory (jwst resolves them from the working
directory, which breaks when run from elsewhere).
"""

import dataclasses
import json
import pathlib

from gpucal.errors import AssociationError
from gpucal.io.atomic import atomic_path

__all__ = ["Association", "Member", "Product", "make_image2_asn", "make_image3_asn", "read_asn", "write_asn"]


@dataclasses.dataclass
class Member:
    """One member of an association product.

    Attributes
    ----------
    expname : str
        File name as written in the ASN.
    exptype : str
        ``"science"``, ``"background"``, ...
    path : pathlib.Path or None
        ``expname`` resolved against the ASN's folder (None when not read from a file).
    extra : dict
        Other keys of the member (``exposerr``, ``asn_candidate``, ...), kept on write.
    """

    expname: str
    exptype: str = "science"
    path: pathlib.Path | None = None
    extra: dict = dataclasses.field(default_factory=dict)

    def to_dict(self):
        return {"expname": self.expname, "exptype": self.exptype, **self.extra}


@dataclasses.dataclass
class Product:
    """One product of an association: its name and members."""

    name: str
    members: list

    def members_of(self, exptype):
        """Members whose ``exptype`` is ``exptype`` (case-insensitive)."""
        return [m for m in self.members if m.exptype.lower() == exptype.lower()]

    def to_dict(self):
        return {"name": self.name, "members": [m.to_dict() for m in self.members]}


@dataclasses.dataclass
class Association:
    """A JWST association."""

    asn_type: str
    asn_id: str
    products: list
    asn_pool: str = "none"
    asn_rule: str = ""
    program: str = ""
    target: str = ""
    path: pathlib.Path | None = None
    extra: dict = dataclasses.field(default_factory=dict)

    def to_dict(self):
        return {
            "asn_type": self.asn_type, "asn_rule": self.asn_rule, "version_id": None, "code_version": None,
            "degraded_status": "No known degraded exposures in association.", "program": self.program,
            "constraints": "", "asn_id": self.asn_id, "target": self.target, "asn_pool": self.asn_pool,
            **self.extra, "products": [p.to_dict() for p in self.products],
        }  # fmt: skip


def _check_product_name(path, index, name):
    """A product name becomes the root of output file names: it must be a plain file stem, never a path."""
    if not name:
        return  # the pipelines fall back to a name of their own (or refuse, where they need one)
    if name in (".", "..") or "/" in name or "\\" in name or name != name.strip() or "\0" in name:
        raise AssociationError(
            f"{path}: product {index} name {name!r} is not a plain file name stem (it would write outside the "
            "output folder or under a hidden name)"
        )


def read_asn(path, *, check_members=True):
    """Read and validate an association file.

    Parameters
    ----------
    path : str or os.PathLike
    check_members : bool, optional
        Require every member file to exist.

    Returns
    -------
    Association

    Raises
    ------
    AssociationError
        Bad JSON, missing keys, an empty product, or a missing member file.
    """
    path = pathlib.Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise AssociationError(f"{path}: no such association file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AssociationError(f"{path}: cannot read association ({exc})") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AssociationError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(doc, dict):
        raise AssociationError(f"{path}: an association must be a JSON object")
    for key in ("asn_type", "products"):
        if key not in doc:
            raise AssociationError(f"{path}: missing '{key}'")
    if not isinstance(doc["products"], list) or not doc["products"]:
        raise AssociationError(f"{path}: 'products' must be a non-empty list")
    folder = path.parent
    products = []
    for i, prod in enumerate(doc["products"]):
        if not isinstance(prod, dict) or "members" not in prod or not isinstance(prod["members"], list):
            raise AssociationError(f"{path}: product {i} has no 'members' list")
        members = []
        for j, mem in enumerate(prod["members"]):
            if not isinstance(mem, dict) or "expname" not in mem:
                raise AssociationError(f"{path}: product {i} member {j} has no 'expname'")
            for key in ("expname", "exptype"):
                value = mem.get(key, "science")
                if not isinstance(value, str) or not value.strip():
                    raise AssociationError(
                        f"{path}: product {i} member {j} '{key}' must be a non-empty string, not {value!r}"
                    )
            extra = {k: v for k, v in mem.items() if k not in ("expname", "exptype")}
            member_path = (folder / mem["expname"]).resolve()
            if check_members and not member_path.is_file():
                raise AssociationError(f"{path}: member {mem['expname']!r} not found (looked in {folder})")
            members.append(Member(mem["expname"], mem.get("exptype", "science"), member_path, extra))
        name = prod.get("name", "")
        if not isinstance(name, str):
            raise AssociationError(f"{path}: product {i} 'name' must be a string, not {name!r}")
        _check_product_name(path, i, name)
        products.append(Product(name, members))
    known = {"asn_type", "asn_id", "asn_pool", "asn_rule", "program", "target", "products", "version_id",
             "code_version", "degraded_status", "constraints"}  # fmt: skip
    return Association(
        asn_type=str(doc["asn_type"]), asn_id=str(doc.get("asn_id", "")), products=products,
        asn_pool=str(doc.get("asn_pool", "none")), asn_rule=str(doc.get("asn_rule", "")),
        program=str(doc.get("program", "")), target=str(doc.get("target", "")), path=path,
        extra={k: v for k, v in doc.items() if k not in known},
    )  # fmt: skip


def write_asn(asn, path):
    """Write an association as JSON (atomically); return the path."""
    path = pathlib.Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(asn.to_dict(), indent=4) + "\n")
    return path


def make_image2_asn(science, *, backgrounds=(), asn_id="o001", program="", target="", pool="none"):
    """An image2 association for one science exposure and optional backgrounds.

    Parameters
    ----------
    science : str
        File name of the science ``_rate`` file (relative to where the ASN is written).
    backgrounds : sequence of str
        File names of dedicated background exposures.
    """
    from gpucal.io.naming import exposure_root

    members = [Member(str(science), "science")] + [Member(str(b), "background") for b in backgrounds]
    return Association(
        "image2", asn_id, [Product(exposure_root(science), members)], asn_pool=pool,
        asn_rule="Asn_Lv2Image", program=program, target=target,
    )  # fmt: skip


def make_image3_asn(product_name, science, *, asn_id="a3001", program="", target="", pool="none"):
    """An image3 association combining ``science`` exposures into ``product_name``."""
    members = [Member(str(s), "science") for s in science]
    return Association(
        "image3", asn_id, [Product(product_name, members)], asn_pool=pool,
        asn_rule="Asn_Lv3Image", program=program, target=target,
    )  # fmt: skip
