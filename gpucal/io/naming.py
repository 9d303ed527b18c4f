"""Output file names, following jwst's rules (``stpipe`` suffix handling).

An exposure's *root* is its file name without the processing suffix and the
extension (``jw01345001001_02101_00001_nrca1_rate.fits`` ->
``jw01345001001_02101_00001_nrca1``). Stage 2 products are ``<root>_cal``,
``<root>_calints``, ``<root>_bsub``, ``<root>_i2d``; Stage 3 products are
``<product>_i2d.fits``, ``<product>_cat.ecsv``, ``<product>_segm.fits``, and
per input ``<root>_<asn_id>_crf.fits``.
"""

import pathlib
import re

__all__ = ["KNOWN_SUFFIXES", "exposure_root", "product_path", "stage3_exposure_path"]

#: Processing suffixes stripped from an input name to find its root.
KNOWN_SUFFIXES = (
    "uncal", "rate", "rateints", "cal", "calints", "bsub", "bsubints", "i2d", "crf", "crfints", "s2d", "x1d",
    "ramp", "trapsfilled", "outlier_i2d", "median", "blot", "combinedbackground", "cat", "segm",
)  # fmt: skip
_ASN_ID = re.compile(r"^(o\d{3}|c\d{4}|a\d{4})$")


def exposure_root(name):
    """The root of a product or exposure name (directory, extension and suffix removed)."""
    stem = pathlib.Path(str(name)).name
    for ext in (".fits.gz", ".fits", ".asdf", ".json", ".ecsv"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
            break
    removed = None
    for suffix in sorted(KNOWN_SUFFIXES, key=len, reverse=True):
        if stem.endswith("_" + suffix):
            stem, removed = stem[: -len(suffix) - 1], suffix
            break
    # Stage 3 per-exposure products carry the association id: <root>_<asn_id>_crf
    parts = stem.rsplit("_", 1)
    if removed in ("crf", "crfints") and len(parts) == 2 and _ASN_ID.match(parts[1]):
        stem = parts[0]
    return stem


def product_path(output_dir, root, suffix, ext=".fits"):
    """``<output_dir>/<root>_<suffix><ext>``."""
    return pathlib.Path(output_dir) / f"{root}_{suffix}{ext}"


def stage3_exposure_path(output_dir, exposure_name, asn_id, suffix="crf"):
    """``<output_dir>/<root>_<asn_id>_<suffix>.fits`` for a Stage 3 per-exposure product."""
    root = exposure_root(exposure_name)
    middle = f"_{asn_id}" if asn_id else ""
    return pathlib.Path(output_dir) / f"{root}{middle}_{suffix}.fits"
