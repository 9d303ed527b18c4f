"""The ASDF extension of JWST FITS products (the ``ASDF`` binary table).

jwst stores the whole data-model tree (meta, the gwcs WCS, and references to
the FITS arrays such as ``fits:SCI,1``) as an ASDF file inside a one-row
binary table column ``ASDF_METADATA``. The tree also records ``_fits_hash``,
a hash of all FITS headers; a reader whose hash matches may trust the tree
instead of re-reading keywords.
"""

import io
import warnings

import numpy as np

from gpucal.errors import InputFileError

__all__ = ["FITS_ARRAY_TAG", "array_reference", "asdf_bytes", "asdf_table_header", "read_asdf_tree"]

FITS_ARRAY_TAG = "tag:stsci.edu:asdf/core/ndarray-1.1.0"


def read_asdf_tree(data, path):
    """Parse the ASDF bytes of an ``ASDF`` extension into a plain tree.

    Arrays that point at FITS extensions are dropped (the caller has the
    arrays); everything else, the gwcs WCS included, is returned.

    Raises
    ------
    InputFileError
        If the bytes are not a readable ASDF file.
    """
    import asdf
    from asdf.tags.core import NDArrayType

    _prepare_asdf()
    try:
        with warnings.catch_warnings(), asdf.config_context() as config:
            warnings.simplefilter("ignore")
            # Schema validation costs more than the whole data read; stdatamodels
            # validates on its own read, and gpucal needs only the objects.
            config.validate_on_read = False
            with asdf.open(
                io.BytesIO(bytes(data)),
                ignore_unrecognized_tag=True,
                ignore_missing_extensions=True,
                lazy_load=True,
                memmap=False,
            ) as af:
                tree = _strip_arrays(af.tree, NDArrayType)
    except Exception as exc:
        raise InputFileError(f"{path}: unreadable ASDF extension ({exc.__class__.__name__}: {exc})") from exc
    return tree


def _prepare_asdf():
    """Load asdf's extensions once per process, parsing their manifests with libyaml.

    The first ASDF read or write of a process makes asdf load every installed
    extension, parsing about fifty manifest documents with PyYAML's pure-Python
    ``safe_load``: 0.8 s of a 1.4 s discovery on a 2-core VM, more than reading
    the tree itself. The C ``CSafeLoader`` builds the same plain objects from
    these documents (the manifests hold only strings, lists and mappings). Only
    asdf's manifest loader is redirected, and only when libyaml is available
    and asdf still loads manifests through its module-level ``yaml``;
    otherwise nothing changes.
    """
    global _MANIFESTS_FAST
    if _MANIFESTS_FAST:
        return
    _MANIFESTS_FAST = True
    try:
        import yaml
        from asdf.extension import _manifest
    except ImportError:  # pragma: no cover - asdf is a dependency
        return
    if getattr(yaml, "__with_libyaml__", False) and getattr(_manifest, "yaml", None) is yaml:
        _manifest.yaml = _LibyamlSafeLoad(yaml)
    # Discover once, on the global configuration: ``asdf.config_context()`` copies the configuration
    # it starts from, so a discovery made inside a context (as every read here) is thrown away with it
    # and the next read would pay it again (about 1 s per file read on a 2-core VM).
    import asdf

    config = asdf.get_config()
    config.resource_manager  # noqa: B018 - loads and keeps the resource mappings
    config.extensions  # noqa: B018 - loads and keeps the extensions


class _LibyamlSafeLoad:
    """The ``yaml`` module as asdf's manifest loader sees it, with ``safe_load`` on libyaml."""

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        return getattr(self._module, name)

    def safe_load(self, stream):
        return self._module.load(stream, Loader=self._module.CSafeLoader)


_MANIFESTS_FAST = False


def _strip_arrays(node, ndarray_type):
    if isinstance(node, dict):
        return {k: _strip_arrays(v, ndarray_type) for k, v in node.items() if not isinstance(v, ndarray_type)}
    if isinstance(node, list):
        return [_strip_arrays(v, ndarray_type) for v in node]
    return node


def array_reference(extname, array):
    """The tagged ndarray node jwst writes for an array stored in a FITS extension."""
    from asdf.tagged import TaggedDict

    dtype = np.dtype(array.dtype)
    names = {
        "f4": "float32",
        "f8": "float64",
        "u1": "uint8",
        "i2": "int16",
        "u2": "uint16",
        "i4": "int32",
        "u4": "uint32",
        "i8": "int64",
        "u8": "uint64",
    }
    datatype = names[dtype.kind + str(dtype.itemsize)]
    return TaggedDict(
        data={"source": f"fits:{extname},1", "shape": list(array.shape), "datatype": datatype, "byteorder": "big"},
        tag=FITS_ARRAY_TAG,
    )


def asdf_bytes(tree):
    """Serialize a tree to ASDF bytes (gwcs and astropy models included).

    Schema validation on write is off: it took three quarters of the time
    (0.4 s of 0.6 s for a ``_cal`` with its gwcs on a 2-core VM) and changes
    no byte; gpucal's trees are checked by reading its products with
    stdatamodels in the tests, as validation on read is off for the same cost.
    """
    import asdf

    _prepare_asdf()
    buffer = io.BytesIO()
    with warnings.catch_warnings(), asdf.config_context() as config:
        warnings.simplefilter("ignore")
        config.validate_on_write = False
        asdf.AsdfFile(tree).write_to(buffer)
    return buffer.getvalue()


def asdf_table_header(nbytes):
    """Header of the one-row ``ASDF`` binary table holding ``nbytes`` of ASDF."""
    from astropy.io import fits

    header = fits.Header()
    header.append(("XTENSION", "BINTABLE", "binary table extension"))
    header.append(("BITPIX", 8, "array data type"))
    header.append(("NAXIS", 2, "number of array dimensions"))
    header.append(("NAXIS1", nbytes, "length of dimension 1"))
    header.append(("NAXIS2", 1, "length of dimension 2"))
    header.append(("PCOUNT", 0, "number of group parameters"))
    header.append(("GCOUNT", 1, "number of groups"))
    header.append(("TFIELDS", 1, "number of table fields"))
    header.append(("TTYPE1", "ASDF_METADATA"))
    header.append(("TFORM1", f"{nbytes}B"))
    header.append(("EXTNAME", "ASDF", "extension name"))
    return header
