"""tweakreg's catalog files: custom input catalogs (``catfile``, the association) and saved catalogs.

* ``catfile``: one line per exposure, ``<exposure file> [<catalog file>]``
  (``#`` comments); catalog paths are relative to the catfile's folder; an
  exposure listed without a catalog gets its sources detected.
* Without a catfile, an image3 association may give a member's catalog in its
  ``tweakreg_catalog`` key (relative to the association's folder); failing
  that, an exposure's ``TCATFILE`` keyword (``meta.tweakreg_catalog``) names it.
* Saved catalogs are named as jwst names them: the exposure's file name with
  ``.fits`` replaced by ``_cat.ecsv`` (or ``_cat.fits``).
"""

import logging
import pathlib

from gpucal.errors import InputFileError, OutputError

__all__ = ["custom_catalogs", "parse_catfile", "read_catalog", "write_catalog"]

log = logging.getLogger("gpucal")


def parse_catfile(catfile):
    """``{exposure file name: catalog path or None}`` from a catfile.

    Raises
    ------
    InputFileError
        Missing file, or a line with more than two columns.
    """
    path = pathlib.Path(catfile)
    if not path.is_file():
        raise InputFileError(f"{path}: tweakreg.catfile: no such file")
    entries = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        exposure, *rest = text.split()
        if len(rest) > 1:
            raise InputFileError(
                f"{path}:{number}: tweakreg.catfile lines have at most two columns, found {len(rest) + 1}"
            )
        entries[exposure] = str(path.parent / rest[0]) if rest else None
    return entries


def _asn_catalogs(library):
    """Catalogs named by the association's members (``tweakreg_catalog``), or None without an association."""
    from gpucal.io.asn import read_asn

    if not library.asn_table or not len(library):
        return None
    asn_path = library[0].source.parent / library.asn_table
    if not asn_path.is_file():
        return None
    asn = read_asn(asn_path, check_members=False)
    entries = {}
    for member in asn.products[0].members:
        if "tweakreg_catalog" in member.extra:
            value = member.extra["tweakreg_catalog"]
            entries[member.expname] = str(asn_path.parent / value) if value and str(value).strip() else None
    return entries


def custom_catalogs(library, catfile):
    """The custom catalogs of ``use_custom_catalogs``, by exposure file name; None to detect sources everywhere.

    As jwst: a catfile wins; an empty catfile turns custom catalogs off (logged); without a catfile the
    association's ``tweakreg_catalog`` entries are used, then each exposure's ``TCATFILE``.
    """
    if catfile and catfile.strip():
        entries = parse_catfile(catfile.strip())
        if not entries:
            log.warning("tweakreg: use_custom_catalogs is set but %s lists no catalogs; detecting sources", catfile)
            return None
        return entries
    return _asn_catalogs(library) or {}


def read_catalog(path):
    """A custom catalog (any format ``astropy.table.Table.read`` knows)."""
    from astropy.table import Table

    file = pathlib.Path(path)
    if not file.is_file():
        raise InputFileError(f"{file}: tweakreg custom catalog: no such file")
    try:
        return Table.read(file)
    except Exception as exc:  # astropy raises many types for unreadable tables
        raise InputFileError(f"{file}: tweakreg custom catalog: cannot read it ({exc})") from exc


def write_catalog(catalog, exposure_name, output_dir, catalog_format):
    """Write a source catalog as ``<exposure stem>_cat.<format>`` in ``output_dir``; returns the file name.

    Parameters
    ----------
    catalog : astropy.table.Table
    exposure_name : str
        The exposure's file name (``meta.filename``).
    output_dir : pathlib.Path
    catalog_format : {"ecsv", "fits"}
    """
    name = str(exposure_name).replace(".fits", f"_cat.{catalog_format}")
    fmt = {"ecsv": "ascii.ecsv", "fits": "fits"}[catalog_format]
    target = pathlib.Path(output_dir) / name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        catalog.write(target, format=fmt, overwrite=True)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write the tweakreg catalog ({exc})") from exc
    log.info("tweakreg: wrote source catalog %s", target)
    return name
