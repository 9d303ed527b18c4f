"""Choose the reference file of each type for an exposure.

Order of precedence (first that gives an answer wins):

1. an explicit override, named as jwst names it (``override_flat``, ...), or
   ``"N/A"`` to declare a reftype not applicable; unlike jwst, gpucal checks
   that the file is a reference of that type for this exposure (REFTYPE,
   INSTRUME and the type's CRDS selector keywords, see :mod:`.match`);
2. a local reference folder (``ref_dir``, or ``$GPUCAL_REF_DIR``), indexed by
   gpucal in ``gpucal_refindex.json`` (rebuilt for new or changed files);
3. a CRDS cache (``$CRDS_PATH``) through the crds client in offline mode
   (CRDS's own choice, not checked again).

A local folder is searched as a CRDS rmap is: among the references of the
type whose selector keywords match the exposure (:func:`.match.match_reference`)
and whose SUBSTRT/SUBSIZE region, where recorded, contains the exposure's,
the most specific wins (2 points per keyword equal, 1 per keyword matched by a
``P_`` pattern, 0 for ``N/A``/``ANY``), then the latest USEAFTER not after
the observation's DATE-OBS/TIME-OBS, then the file name. Nothing here touches
the network or exits.
"""

import contextlib
import json
import logging
import os
import pathlib

from gpucal.errors import ReferenceFileError
from gpucal.io.atomic import atomic_path
from gpucal.io.refs.match import (
    covers_subarray,
    exposure_keywords,
    match_reference,
    reference_keywords,
    selectors_for,
)

__all__ = [
    "INDEX_NAME",
    "ReferenceSelector",
    "build_index",
    "check_reference",
    "reference_folder",
    "selection_keywords",
]

log = logging.getLogger("gpucal")

INDEX_NAME = "gpucal_refindex.json"
_INDEX_VERSION = 2  # version 2: every CRDS selector keyword and pattern, SUBSTRT/SUBSIZE


def selection_keywords(meta):
    """The selection keywords of an exposure (see :func:`gpucal.io.refs.match.exposure_keywords`)."""
    return exposure_keywords(meta)


def reference_folder(ref_dir=None):
    """The local reference folder to use: ``ref_dir``, else ``$GPUCAL_REF_DIR``, else None.

    Returns
    -------
    str or None
        The folder as an absolute path.

    Raises
    ------
    ReferenceFileError
        The folder named does not exist or is not a folder (naming it and where it came from).
    """
    origin = "--ref-dir"
    if ref_dir is None or str(ref_dir) == "":
        ref_dir, origin = os.environ.get("GPUCAL_REF_DIR") or None, "GPUCAL_REF_DIR"
    if ref_dir is None:
        return None
    path = pathlib.Path(ref_dir).expanduser()
    if not path.exists():
        raise ReferenceFileError(f"reference folder {path} ({origin}) does not exist")
    if not path.is_dir():
        raise ReferenceFileError(f"reference folder {path} ({origin}) is not a folder")
    return str(path.resolve())


def build_index(ref_dir, *, write=True):
    """Index the reference files of a folder (re-using entries of unchanged files).

    Parameters
    ----------
    ref_dir : str or os.PathLike
    write : bool, optional
        Save the index as ``gpucal_refindex.json`` in the folder (skipped
        silently when the folder is read-only).

    Returns
    -------
    dict
        ``{file name: {"mtime", "size", "keywords"}}``; an unreadable file has
        ``{"ERROR": why}`` as its keywords.
    """
    ref_dir = pathlib.Path(ref_dir)
    index_path = ref_dir / INDEX_NAME
    old = {}
    if index_path.is_file():
        with contextlib.suppress(OSError, ValueError, AttributeError):
            saved = json.loads(index_path.read_text())
            if saved.get("version") == _INDEX_VERSION:
                old = saved.get("files", {})
    files = {}
    changed = not index_path.is_file() or not old
    for path in sorted(ref_dir.iterdir()):
        if path.name == INDEX_NAME or path.suffix.lower() not in (".fits", ".asdf") or not path.is_file():
            continue
        st = path.stat()
        entry = old.get(path.name)
        if entry and entry.get("mtime") == st.st_mtime_ns and entry.get("size") == st.st_size:
            files[path.name] = entry
            continue
        changed = True
        try:
            keywords = reference_keywords(path)
        except ReferenceFileError as exc:  # an unreadable file is not a reference; note why
            keywords = {"ERROR": str(exc)}
        files[path.name] = {"mtime": st.st_mtime_ns, "size": st.st_size, "keywords": keywords}
    if set(old) - set(files):
        changed = True
    if write and changed and files:
        with contextlib.suppress(OSError), atomic_path(index_path) as tmp:
            tmp.write_text(json.dumps({"version": _INDEX_VERSION, "files": files}, indent=1) + "\n")
    return files


def _science_name(meta, source):
    if source is not None:
        return os.fspath(source)
    return str(meta.filename) if getattr(meta, "filename", None) else "the science exposure"


def check_reference(reftype, path, meta, *, source=None, label=None):
    """Refuse a reference that CRDS would not select for this exposure (REFTYPE, INSTRUME, selectors).

    Parameters
    ----------
    reftype : str
    path : str or os.PathLike
    meta : gpucal.io.meta.Node
        The science exposure's meta.
    source : str or os.PathLike, optional
        The science file, for the message (default: ``meta.filename``).
    label : str, optional
        How the reference was given, for the message (default ``override_<reftype>``).

    Raises
    ------
    ReferenceFileError
        One line naming the reference, the science file and the keyword that differs.
    """
    label = label or f"override_{reftype}"
    _, problem = match_reference(reftype, reference_keywords(path, reftype), exposure_keywords(meta))
    if problem:
        raise ReferenceFileError(f"{label}={os.fspath(path)} does not fit {_science_name(meta, source)}: {problem}")


class ReferenceSelector:
    """Find reference files for exposures.

    Parameters
    ----------
    overrides : dict, optional
        ``{reftype: path or "N/A"}`` (from ``override_<reftype>`` step parameters).
    ref_dir : str or os.PathLike, optional
        Local reference folder; defaults to ``$GPUCAL_REF_DIR``.
    use_crds : bool, optional
        Consult a CRDS cache at ``$CRDS_PATH`` (default True when it is set).

    Raises
    ------
    ReferenceFileError
        The reference folder does not exist.
    """

    def __init__(self, overrides=None, *, ref_dir=None, use_crds=None):
        self.overrides = {k: v for k, v in (overrides or {}).items() if v not in (None, "")}
        folder = reference_folder(ref_dir)
        self.ref_dir = pathlib.Path(folder) if folder else None
        self.use_crds = bool(os.environ.get("CRDS_PATH")) if use_crds is None else use_crds
        self._index = None

    def _local(self, reftype, keys):
        """``(path or None, notes)``: the best local reference, and why the near misses were refused."""
        if self.ref_dir is None:
            return None, []
        if self._index is None:
            self._index = build_index(self.ref_dir)
        best, misses, unreadable = None, [], []
        for name, entry in sorted(self._index.items()):
            ref_keys = entry.get("keywords", {})
            if "ERROR" in ref_keys:
                unreadable.append(name)
                continue
            if ref_keys.get("REFTYPE", "").lower() != reftype:
                continue
            score, problem = match_reference(reftype, ref_keys, keys)
            if problem is None and ref_keys.get("USEAFTER", "") > keys["DATE-OBS"]:
                problem = f"USEAFTER {ref_keys['USEAFTER']} is after the observation ({keys['DATE-OBS']})"
            if problem is None and not covers_subarray(ref_keys, keys):
                problem = "its SUBSTRT/SUBSIZE region does not contain the science subarray"
            if problem is not None:
                misses.append(f"{name}: {problem}")
                continue
            rank = (score, ref_keys.get("USEAFTER", ""), name)
            if best is None or rank > best:
                best = rank
        notes = misses[:2]
        if unreadable:
            notes.append(f"unreadable: {', '.join(unreadable[:3])}{' ...' if len(unreadable) > 3 else ''}")
        return (None if best is None else str(self.ref_dir / best[2])), notes

    def _crds(self, reftype, meta):
        from gpucal.io.refs.crds_cache import crds_best_reference

        return crds_best_reference(reftype, meta)

    def select(self, reftype, meta, *, source=None):
        """Path of the ``reftype`` reference for an exposure, or ``"N/A"`` if declared not applicable.

        Parameters
        ----------
        reftype : str
            ``"flat"``, ``"photom"``, ``"area"``, ``"distortion"``, ``"filteroffset"``, ...
        meta : gpucal.io.meta.Node
            The exposure's meta.
        source : str or os.PathLike, optional
            The science file, named in messages (default: ``meta.filename``).

        Raises
        ------
        ReferenceFileError
            An override that is missing or does not fit the exposure, or no
            reference found anywhere; the message names the science file, the
            reftype, the keywords searched and the places looked in.
        """
        reftype = reftype.lower()
        if reftype in self.overrides:
            value = str(self.overrides[reftype])
            if value.upper() == "N/A":
                return "N/A"
            if not pathlib.Path(value).is_file():
                raise ReferenceFileError(f"override_{reftype}: {value}: no such file")
            check_reference(reftype, value, meta, source=source)
            return value
        keys = exposure_keywords(meta)
        found, notes = self._local(reftype, keys)
        if found is None and self.use_crds:
            found = self._crds(reftype, meta)
        if found is not None:
            return found
        wanted = ("INSTRUME", *selectors_for(reftype, keys["INSTRUME"]), "DATE-OBS")
        searched = ", ".join(f"{k}={keys[k] or '(missing)'}" for k in wanted)
        places = [
            f"local folder {self.ref_dir}" + (f" ({'; '.join(notes)})" if notes else "")
            if self.ref_dir
            else "no local folder (set GPUCAL_REF_DIR or --ref-dir)",
            f"CRDS cache {os.environ.get('CRDS_PATH')}" if self.use_crds else "no CRDS cache (CRDS_PATH unset)",
        ]
        raise ReferenceFileError(
            f"{_science_name(meta, source)}: no {reftype} reference for {searched}; looked in {'; '.join(places)}; "
            f"or give override_{reftype}"
        )
