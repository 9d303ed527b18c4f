"""Is a product complete? Checked by reading it, for ``gpucal farm --resume``.

A file with the right name is not enough: a worker killed while copying, a
full disk or a hand-edited file leave a product that exists but is not whole.
A FITS product is complete when astropy opens it, every HDU's header parses,
the file is exactly as long as its headers say (so it is not truncated and has
nothing appended), the extensions its suffix requires are there and its image
extensions agree in shape with SCI. Catalogs (``.ecsv``) must parse as tables.
"""

import os
import pathlib
import warnings

__all__ = ["REQUIRED_EXTENSIONS", "product_problem"]

_EXPOSURE = ("SCI", "ERR", "DQ", "ASDF")
#: Extensions a product must carry, by suffix (from jwst 3.0's datamodels as gpucal writes them).
REQUIRED_EXTENSIONS = {
    "cal": _EXPOSURE, "calints": _EXPOSURE, "bsub": _EXPOSURE, "bsubints": _EXPOSURE, "crf": _EXPOSURE,
    "crfints": _EXPOSURE, "i2d": ("SCI", "ERR", "CON", "WHT", "ASDF"), "segm": ("SCI", "ASDF"),
}  # fmt: skip
#: Extensions that must have SCI's shape (CON has one more, leading, axis).
_SAME_SHAPE = ("ERR", "DQ", "WHT", "VAR_POISSON", "VAR_RNOISE", "VAR_FLAT")


def product_problem(path):
    """Why the product at ``path`` is not complete, or None when it is.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    str or None
        A short reason ("missing", "truncated: ...", "no DQ extension", ...).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        return "missing"
    if path.stat().st_size == 0:
        return "empty"
    if path.suffix.lower() == ".fits":
        return _fits_problem(path)
    if path.suffix.lower() == ".ecsv":
        return _table_problem(path)
    return None


def _suffix(path):
    return path.stem.rsplit("_", 1)[-1].lower()


def _fits_problem(path):
    from astropy.io import fits

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # astropy warns about truncation; the size check below says it
            with fits.open(path, memmap=False, lazy_load_hdus=False) as hdul:
                last = hdul.fileinfo(len(hdul) - 1)
                expected_size = last["datLoc"] + last["datSpan"]
                shapes = {hdu.name: _shape(hdu.header) for hdu in hdul}
    except Exception as exc:  # astropy raises many kinds of errors for a damaged file
        return f"unreadable ({exc.__class__.__name__}: {' '.join(str(exc).split())})"
    actual = os.path.getsize(path)
    if actual < expected_size:
        return f"truncated ({actual} bytes, headers describe {expected_size})"
    if actual > expected_size:
        # Trailing bytes: something appended, or a last extension cut inside its header (astropy drops it).
        return f"damaged ({actual - expected_size} bytes after the last complete extension)"
    for name in REQUIRED_EXTENSIONS.get(_suffix(path), ()):
        if name not in shapes:
            return f"no {name} extension"
    science = shapes.get("SCI")
    if science is not None:
        for name in _SAME_SHAPE:
            if name in shapes and shapes[name] != science:
                return f"{name} shape {shapes[name]} differs from SCI {science}"
        if "CON" in shapes and shapes["CON"][-2:] != science[-2:]:
            return f"CON shape {shapes['CON']} does not match SCI {science}"
    return None


def _shape(header):
    """The array shape a header declares (numpy order), without reading the data."""
    return tuple(int(header.get(f"NAXIS{k}", 0)) for k in range(int(header.get("NAXIS", 0)), 0, -1))


def _table_problem(path):
    from astropy.table import Table

    try:
        Table.read(path, format="ascii.ecsv")
    except Exception as exc:
        return f"unreadable table ({exc.__class__.__name__}: {' '.join(str(exc).split())})"
    return None
