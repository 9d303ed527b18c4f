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
    """Serialize a tree to ASDF bytes (gwcs and astropy models included)."""
    import asdf

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
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
