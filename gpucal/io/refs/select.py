"""Choose the reference file of each type for an exposure.

Order of precedence (first that gives an answer wins):

1. an explicit override, named as jwst names it (``override_flat``, ...), or
   ``"N/A"`` to declare a reftype not applicable;
2. a local reference folder (``ref_dir``, or ``$GPUCAL_REF_DIR``), indexed by
   gpucal in ``gpucal_refindex.json`` (rebuilt for new or changed files);
3. a CRDS cache (``$CRDS_PATH``) through the crds client in offline mode.

Matching in a local folder follows CRDS conventions: each selection keyword
(INSTRUME, DETECTOR, FILTER, PUPIL, EXP_TYPE, SUBARRAY) that a reference
defines, directly or as a ``P_`` pattern (``P_EXP_TY = 'NRC_IMAGE|NRC_TACQ|'``),
must match the exposure (a full-frame reference, SUBARRAY = FULL, serves any
subarray unless it carries a P_SUBARR pattern); the latest USEAFTER not after the observation wins,
then the most specific file. Nothing here touches the network or exits.
"""

import contextlib
import json
import os
import pathlib
import warnings

from gpucal.errors import ReferenceFileError
from gpucal.io.atomic import atomic_path

__all__ = ["INDEX_NAME", "ReferenceSelector", "build_index", "selection_keywords"]

INDEX_NAME = "gpucal_refindex.json"
_KEYWORDS = ("INSTRUME", "DETECTOR", "FILTER", "PUPIL", "EXP_TYPE", "SUBARRAY")
_PATTERNS = {
    "EXP_TYPE": "P_EXP_TY",
    "FILTER": "P_FILTER",
    "PUPIL": "P_PUPIL",
    "SUBARRAY": "P_SUBARR",
    "DETECTOR": "P_DETECT",
}
_WILDCARDS = {"", "ANY", "N/A", "NONE"}


def selection_keywords(meta):
    """The selection keywords of an exposure, from its meta tree.

    Parameters
    ----------
    meta : gpucal.io.meta.Node

    Returns
    -------
    dict
        ``INSTRUME, DETECTOR, FILTER, PUPIL, EXP_TYPE, SUBARRAY, DATE-OBS`` (upper-case strings; missing -> "").
    """
    values = {
        "INSTRUME": meta.instrument.name,
        "DETECTOR": meta.instrument.detector,
        "FILTER": meta.instrument.filter,
        "PUPIL": meta.instrument.pupil,
        "EXP_TYPE": meta.exposure.type,
        "SUBARRAY": meta.subarray.name,
    }
    out = {k: ("" if v is None else str(v).strip().upper()) for k, v in values.items()}
    date, time = meta.observation.date, meta.observation.time
    out["DATE-OBS"] = f"{date or '2100-01-01'}T{str(time or '00:00:00')[:8]}"
    return out


def _normalize_useafter(text):
    """USEAFTER in any CRDS spelling ('Jan 01 2015 00:00:00', '2015-01-01T00:00:00') -> sortable ISO string."""
    import datetime

    if not text:
        return "1900-01-01T00:00:00"
    text = str(text).strip().replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%b %d %Y %H:%M:%S", "%b %d %Y"):
        with contextlib.suppress(ValueError):
            return datetime.datetime.strptime(text, fmt).strftime("%Y-%m-%dT%H:%M:%S")
    return "1900-01-01T00:00:00"


def _fits_keywords(path):
    from astropy.io import fits

    header = fits.getheader(path, 0)
    keys = {k: str(header[k]).strip().upper() for k in (*_KEYWORDS, *_PATTERNS.values(), "REFTYPE") if k in header}
    keys["USEAFTER"] = _normalize_useafter(header.get("USEAFTER"))
    return keys


def _asdf_keywords(path):
    import asdf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with asdf.open(path, lazy_load=True, memmap=False, lazy_tree=True) as af:
            meta = af.tree.get("meta", {}) or {}
            inst = meta.get("instrument", {}) or {}
            expo = meta.get("exposure", {}) or {}
            sub = meta.get("subarray", {}) or {}
            pairs = {
                "REFTYPE": meta.get("reftype"), "INSTRUME": inst.get("name"), "DETECTOR": inst.get("detector"),
                "FILTER": inst.get("filter"), "PUPIL": inst.get("pupil"), "EXP_TYPE": expo.get("type"),
                "P_EXP_TY": expo.get("p_exptype"), "SUBARRAY": sub.get("name"), "P_SUBARR": sub.get("p_subarray"),
            }  # fmt: skip
            useafter = meta.get("useafter")
    keys = {k: str(v).strip().upper() for k, v in pairs.items() if v is not None}
    keys["USEAFTER"] = _normalize_useafter(useafter)
    return keys


def _describe(path):
    path = pathlib.Path(path)
    if path.suffix.lower() == ".asdf":
        return _asdf_keywords(path)
    return _fits_keywords(path)


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
        ``{file name: {"mtime", "size", "keywords"}}``.
    """
    ref_dir = pathlib.Path(ref_dir)
    index_path = ref_dir / INDEX_NAME
    old = {}
    if index_path.is_file():
        with contextlib.suppress(OSError, ValueError):
            old = json.loads(index_path.read_text()).get("files", {})
    files = {}
    changed = False
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
            keywords = _describe(path)
        except Exception as exc:  # an unreadable file is not a reference; note why
            keywords = {"ERROR": f"{exc.__class__.__name__}: {exc}"}
        files[path.name] = {"mtime": st.st_mtime_ns, "size": st.st_size, "keywords": keywords}
    if set(old) - set(files):
        changed = True
    if write and changed:
        with contextlib.suppress(OSError), atomic_path(index_path) as tmp:
            tmp.write_text(json.dumps({"version": 1, "files": files}, indent=1) + "\n")
    return files


def _matches(ref_keys, exposure_keys):
    """Specificity score if the reference matches the exposure, else None."""
    score = 0
    for key in _KEYWORDS:
        wanted = exposure_keys.get(key, "")
        pattern = ref_keys.get(_PATTERNS.get(key, ""), "")
        if pattern:
            allowed = {p.strip() for p in pattern.split("|") if p.strip()}
            if allowed and wanted not in allowed and not (allowed & _WILDCARDS):
                return None
            score += 1
            continue
        value = ref_keys.get(key, "")
        if value in _WILDCARDS:
            continue
        if key == "SUBARRAY" and value in ("FULL", "GENERIC"):
            # A full-frame reference serves every subarray (the step cuts it out);
            # only a P_SUBARR pattern makes the subarray a selection criterion.
            continue
        if value != wanted:
            return None
        score += 2
    return score


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
    """

    def __init__(self, overrides=None, *, ref_dir=None, use_crds=None):
        self.overrides = {k: v for k, v in (overrides or {}).items() if v not in (None, "")}
        ref_dir = ref_dir if ref_dir is not None else os.environ.get("GPUCAL_REF_DIR")
        self.ref_dir = pathlib.Path(ref_dir) if ref_dir else None
        self.use_crds = bool(os.environ.get("CRDS_PATH")) if use_crds is None else use_crds
        self._index = None

    def _local(self, reftype, keys):
        if self.ref_dir is None or not self.ref_dir.is_dir():
            return None
        if self._index is None:
            self._index = build_index(self.ref_dir)
        best = None
        for name, entry in self._index.items():
            ref_keys = entry.get("keywords", {})
            if ref_keys.get("REFTYPE", "").lower() != reftype:
                continue
            score = _matches(ref_keys, keys)
            if score is None or ref_keys.get("USEAFTER", "") > keys["DATE-OBS"]:
                continue
            rank = (ref_keys.get("USEAFTER", ""), score, name)
            if best is None or rank > best[0]:
                best = (rank, name)
        return None if best is None else str(self.ref_dir / best[1])

    def _crds(self, reftype, meta):
        from gpucal.io.refs.crds_cache import crds_best_reference

        return crds_best_reference(reftype, meta)

    def select(self, reftype, meta):
        """Path of the ``reftype`` reference for an exposure, or ``"N/A"`` if declared not applicable.

        Parameters
        ----------
        reftype : str
            ``"flat"``, ``"photom"``, ``"area"``, ``"distortion"``, ``"filteroffset"``, ...
        meta : gpucal.io.meta.Node
            The exposure's meta.

        Raises
        ------
        ReferenceFileError
            No reference found anywhere; the message names the reftype, the
            keywords searched and the places looked in.
        """
        reftype = reftype.lower()
        if reftype in self.overrides:
            value = str(self.overrides[reftype])
            if value.upper() == "N/A":
                return "N/A"
            if not pathlib.Path(value).is_file():
                raise ReferenceFileError(f"override_{reftype}: {value}: no such file")
            return value
        keys = selection_keywords(meta)
        found = self._local(reftype, keys)
        if found is None and self.use_crds:
            found = self._crds(reftype, meta)
        if found is not None:
            return found
        searched = ", ".join(f"{k}={v}" for k, v in keys.items() if v)
        places = []
        places.append(
            f"local folder {self.ref_dir}" if self.ref_dir else "no local folder (set GPUCAL_REF_DIR or --ref-dir)"
        )
        places.append(
            f"CRDS cache {os.environ.get('CRDS_PATH')}" if self.use_crds else "no CRDS cache (CRDS_PATH unset)"
        )
        raise ReferenceFileError(
            f"no {reftype} reference for {searched}; looked in {'; '.join(places)}; or give override_{reftype}"
        )
