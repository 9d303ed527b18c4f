"""Does a reference file fit a science exposure? The keyword checks CRDS's rmaps make.

CRDS chooses a reference by matching a few header keywords of the science
exposure (its *selectors*, which depend on the reference type and the
instrument) against the same keywords of each reference, then takes the
latest USEAFTER not after the observation. gpucal applies the same rules to
the references it picks from a local folder and to the ones a user names
(``override_<reftype>``), so that a ``_rate`` file given as a flat, or the
F150W flat given for an F200W exposure, is refused with one line naming the
reference, the science file and the keyword, instead of calibrating wrongly.

Matching, per selector keyword, as CRDS does:

* a reference value of ``N/A``, ``ANY`` (also ``GENERIC`` for SUBARRAY), or no
  keyword at all, matches every exposure (so does ``MULTIPLE`` without its pattern);
* a pattern keyword (``P_EXP_TY = 'NRC_IMAGE|NRC_TSIMAGE|'``) lists the values
  the reference serves, and replaces the plain keyword;
* otherwise the values must be equal.

REFTYPE must be present and name the type asked for, INSTRUME must be that of
the science. The selectors per type are those of jwst's documentation
("Reference Selection Keywords", from the CRDS rmaps); see :data:`SELECTORS`.
"""

import contextlib
import datetime
import functools
import os
import pathlib
import warnings

from gpucal.errors import InputFileError, ReferenceFileError

__all__ = [
    "KEYWORDS",
    "SELECTORS",
    "exposure_keywords",
    "match_reference",
    "reference_keywords",
    "selectors_for",
    "with_article",
]

#: Selector keyword -> (its pattern keyword in FITS, the meta path, the pattern's meta path).
#: The meta path is the same in the science exposure and in an ASDF reference.
KEYWORDS = {
    "INSTRUME": (None, "instrument.name", None),
    "DETECTOR": ("P_DETECT", "instrument.detector", "instrument.p_detector"),
    "FILTER": ("P_FILTER", "instrument.filter", "instrument.p_filter"),
    "PUPIL": ("P_PUPIL", "instrument.pupil", "instrument.p_pupil"),
    "GRATING": ("P_GRATIN", "instrument.grating", "instrument.p_grating"),
    "CHANNEL": ("P_CHANNE", "instrument.channel", "instrument.p_channel"),
    "MODULE": (None, "instrument.module", None),
    "BAND": ("P_BAND", "instrument.band", "instrument.p_band"),
    "EXP_TYPE": ("P_EXP_TY", "exposure.type", "exposure.p_exptype"),
    "READPATT": ("P_READPA", "exposure.readpatt", "exposure.p_readpatt"),
    "SUBARRAY": ("P_SUBARR", "subarray.name", "subarray.p_subarray"),
}
_SUBARRAY_KEYS = ("SUBSTRT1", "SUBSTRT2", "SUBSIZE1", "SUBSIZE2")
_SUBARRAY_PATHS = ("subarray.xstart", "subarray.ystart", "subarray.xsize", "subarray.ysize")
_WILDCARDS = frozenset({"", "N/A", "ANY"})
_SUBARRAY_WILDCARDS = _WILDCARDS | {"GENERIC"}

#: CRDS selector keywords (besides INSTRUME and the USEAFTER date) by reference type and instrument,
#: from jwst's "Reference Selection Keywords" tables. NIRCam photom also selects on EXP_TYPE: the
#: imaging and WFSS photom files of a long-wave detector differ only there (they carry P_EXP_TY).
SELECTORS = {
    "flat": {
        "NIRCAM": ("DETECTOR", "FILTER", "PUPIL"),
        "MIRI": ("DETECTOR", "FILTER", "BAND", "READPATT", "SUBARRAY"),
        "NIRISS": ("DETECTOR", "FILTER", "PUPIL"),
        "FGS": ("DETECTOR", "EXP_TYPE"),
        "NIRSPEC": ("DETECTOR", "FILTER", "EXP_TYPE"),
    },
    "photom": {
        "NIRCAM": ("DETECTOR", "EXP_TYPE"),
        "MIRI": ("DETECTOR", "BAND"),
        "NIRISS": ("DETECTOR",),
        "FGS": ("DETECTOR",),
    },
    "area": {
        "NIRCAM": ("DETECTOR", "FILTER", "PUPIL", "EXP_TYPE"),
        "MIRI": ("DETECTOR", "FILTER", "EXP_TYPE"),
        "NIRISS": ("DETECTOR", "FILTER", "PUPIL", "EXP_TYPE"),
        "FGS": ("DETECTOR",),
    },
    "distortion": {
        "NIRCAM": ("DETECTOR", "EXP_TYPE", "CHANNEL", "FILTER"),
        "MIRI": ("DETECTOR", "EXP_TYPE", "CHANNEL", "BAND"),
        "NIRISS": ("EXP_TYPE", "PUPIL"),
        "FGS": ("DETECTOR", "EXP_TYPE"),
    },
    "filteroffset": {
        "NIRCAM": ("CHANNEL", "MODULE"),
        "MIRI": ("DETECTOR", "EXP_TYPE"),
        "NIRISS": ("EXP_TYPE",),
    },
    # NIRSpec's optical model (the imaging-mode WCS): one reference per element, by EXP_TYPE, the
    # disperser also by GRATING and the FORE optics by FILTER.
    **{reftype: {"NIRSPEC": ("EXP_TYPE",)} for reftype in ("camera", "collimator", "fpa", "ote", "wavelengthrange")},
    "disperser": {"NIRSPEC": ("EXP_TYPE", "GRATING")},
    "fore": {"NIRSPEC": ("EXP_TYPE", "FILTER")},
    "apcorr": {"NIRCAM": ("EXP_TYPE",), "MIRI": ("EXP_TYPE",), "NIRISS": ("EXP_TYPE",), "FGS": ("EXP_TYPE",)},
    "abvegaoffset": {"NIRCAM": ("EXP_TYPE",), "MIRI": ("EXP_TYPE",), "NIRISS": ("EXP_TYPE",), "FGS": ("EXP_TYPE",)},
}
#: For a type or instrument the table does not know: every keyword a reference commonly carries.
_FALLBACK = ("DETECTOR", "FILTER", "PUPIL", "EXP_TYPE", "SUBARRAY")


def selectors_for(reftype, instrument):
    """The CRDS selector keywords of ``reftype`` for an instrument (INSTRUME and USEAFTER aside)."""
    return SELECTORS.get(reftype.lower(), {}).get(str(instrument or "").upper(), _FALLBACK)


def with_article(word):
    """``word`` with its indefinite article ("a flat", "an apcorr")."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def _text(value):
    return "" if value is None else str(value).strip().upper()


def _dig(tree, dotted):
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def normalize_useafter(text):
    """USEAFTER in any CRDS spelling ('Jan 01 2015 00:00:00', '2015-01-01T00:00:00') -> sortable ISO string."""
    if not text:
        return "1900-01-01T00:00:00"
    text = str(text).strip().replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%b %d %Y %H:%M:%S", "%b %d %Y"):
        with contextlib.suppress(ValueError):
            return datetime.datetime.strptime(text, fmt).strftime("%Y-%m-%dT%H:%M:%S")
    return "1900-01-01T00:00:00"


def exposure_keywords(meta):
    """The selector keywords of a science exposure, from its meta tree.

    Returns
    -------
    dict
        Every keyword of :data:`KEYWORDS` (upper-case strings; missing -> ""),
        ``DATE-OBS`` (``DATE-OBS`` T ``TIME-OBS``, for USEAFTER) and, where the
        exposure records them, ``SUBSTRT1/2`` and ``SUBSIZE1/2`` (ints).
    """
    tree = meta.to_dict() if hasattr(meta, "to_dict") else dict(meta)
    out = {key: _text(_dig(tree, path)) for key, (_, path, _) in KEYWORDS.items()}
    date, time = _dig(tree, "observation.date"), _dig(tree, "observation.time")
    out["DATE-OBS"] = f"{date or '2100-01-01'}T{str(time or '00:00:00')[:8]}"
    for key, path in zip(_SUBARRAY_KEYS, _SUBARRAY_PATHS, strict=True):
        value = _dig(tree, path)
        if value is not None:
            with contextlib.suppress(TypeError, ValueError):
                out[key] = int(value)
    return out


class _Unreadable(Exception):
    """A reference that cannot be read; the message starts with its path."""


def _fits_keywords(path):
    from gpucal.io import fitsraw

    try:
        hdus = fitsraw.read_hdus(path, names=set(), skip_tables=True)  # headers only; checks the file is whole
    except InputFileError as exc:
        raise _Unreadable(str(exc)) from None
    header = hdus[0].header
    keys = {"REFTYPE": _text(header.get("REFTYPE"))} if "REFTYPE" in header else {}
    for key, (pattern, _, _) in KEYWORDS.items():
        if key in header:
            keys[key] = _text(header[key])
        if pattern and pattern in header:
            keys[pattern] = str(header[pattern]).strip().upper()
    keys["USEAFTER"] = normalize_useafter(header.get("USEAFTER"))
    sci = next((h.header for h in hdus if h.name == "SCI"), None)
    for key in _SUBARRAY_KEYS:
        source = header if key in header else sci
        if source is not None and key in source:
            with contextlib.suppress(TypeError, ValueError):
                keys[key] = int(source[key])
    return keys


def _asdf_keywords(path):
    import asdf

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with asdf.open(path, lazy_load=True, memmap=False, lazy_tree=True) as af:
                meta = af.tree.get("meta")
                meta = dict(meta) if meta is not None else {}
                tree = {
                    "reftype": meta.get("reftype"),
                    "useafter": meta.get("useafter"),
                    **{part: dict(meta.get(part) or {}) for part in ("instrument", "exposure", "subarray")},
                }
    except Exception as exc:  # truncated YAML, not ASDF at all, ...
        raise _Unreadable(f"{path}: unreadable ASDF file ({exc.__class__.__name__}: {exc})") from None
    keys = {"REFTYPE": _text(tree["reftype"])} if tree["reftype"] is not None else {}
    for key, (pattern, meta_path, pattern_path) in KEYWORDS.items():
        value = _dig(tree, meta_path)
        if value is not None:
            keys[key] = _text(value)
        value = _dig(tree, pattern_path) if pattern_path else None
        if value is not None:
            keys[pattern] = str(value).strip().upper()
    keys["USEAFTER"] = normalize_useafter(tree["useafter"])
    for key, meta_path in zip(_SUBARRAY_KEYS, _SUBARRAY_PATHS, strict=True):
        value = _dig(tree, meta_path)
        if value is not None:
            with contextlib.suppress(TypeError, ValueError):
                keys[key] = int(value)
    return keys


@functools.lru_cache(maxsize=256)
def _cached_keywords(path, mtime_ns, size):
    if pathlib.Path(path).suffix.lower() == ".asdf":
        return _asdf_keywords(path)
    return _fits_keywords(path)


def reference_keywords(path, reftype=None):
    """The CRDS keywords of a reference file: REFTYPE, the selectors, their patterns, USEAFTER, SUBSTRT/SUBSIZE.

    FITS references are read from their primary header (SUBSTRT/SUBSIZE also
    from the SCI header), ASDF ones from their ``meta`` tree; both come back
    under the FITS keyword names, upper-case. Cached by path and modification time.
    ``reftype`` only names the file in messages (``photom reference <path>: ...``).

    Raises
    ------
    ReferenceFileError
        The file is missing, truncated or neither FITS nor ASDF (one line, no
        astropy or asdf warnings printed).
    """
    path = os.fspath(path)
    what = f"{reftype} reference" if reftype else "reference"
    try:
        st = os.stat(path)
        return dict(_cached_keywords(path, st.st_mtime_ns, st.st_size))
    except OSError:
        raise ReferenceFileError(f"{what} {path}: no such file") from None
    except _Unreadable as exc:
        raise ReferenceFileError(f"{what} {exc}") from None


def _compare(key, ref_keys, wanted):
    """``(points, None)`` when the reference serves ``wanted`` for ``key``, else ``(0, description)``.

    Points: 2 for an equal value, 1 for a pattern that lists it, 0 for a wildcard.
    """
    pattern_key = KEYWORDS[key][0]
    wildcards = _SUBARRAY_WILDCARDS if key == "SUBARRAY" else _WILDCARDS
    pattern = ref_keys.get(pattern_key, "") if pattern_key else ""
    if pattern:
        allowed = {p.strip() for p in pattern.split("|") if p.strip()}
        if not allowed or allowed & wildcards:
            return 0, None
        if wanted in allowed:
            return 1, None
        return 0, f"{pattern_key}={pattern} does not list {key}={wanted or '(missing)'}"
    value = ref_keys.get(key, "")
    if value in wildcards or value == "MULTIPLE":
        return 0, None
    if value == wanted:
        return 2, None
    return 0, f"{key}={value}, the science has {key}={wanted or '(missing)'}"


def match_reference(reftype, ref_keys, exposure_keys):
    """Check a reference's keywords against an exposure's, as CRDS's selectors would.

    Parameters
    ----------
    reftype : str
    ref_keys : dict
        From :func:`reference_keywords`.
    exposure_keys : dict
        From :func:`exposure_keywords`.

    Returns
    -------
    (int, str or None)
        The specificity (2 per selector equal, 1 per selector matched by a
        pattern) and None when the reference fits; else ``(0, what differs)``.
    """
    reftype = reftype.lower()
    found = ref_keys.get("REFTYPE", "")
    if not found:
        return 0, f"no REFTYPE keyword: not a reference file ({with_article(reftype)} reference was expected)"
    if found.lower() != reftype:
        return 0, f"REFTYPE={found}, not {with_article(reftype)} reference"
    instrument = exposure_keys.get("INSTRUME", "")
    ref_instrument = ref_keys.get("INSTRUME", "")
    if not ref_instrument:
        return 0, "no INSTRUME keyword"
    if ref_instrument != instrument:
        return 0, f"INSTRUME={ref_instrument}, the science has INSTRUME={instrument or '(missing)'}"
    score = 0
    for key in selectors_for(reftype, instrument):
        points, problem = _compare(key, ref_keys, exposure_keys.get(key, ""))
        if problem:
            return 0, problem
        score += points
    return score, None


def covers_subarray(ref_keys, exposure_keys):
    """Whether a reference's SUBSTRT/SUBSIZE region contains the exposure's (True when either is unknown)."""
    ref = [ref_keys.get(k) for k in _SUBARRAY_KEYS]
    sci = [exposure_keys.get(k) for k in _SUBARRAY_KEYS]
    if None in ref or None in sci:
        return True
    (rx, ry, rw, rh), (sx, sy, sw, sh) = ref, sci
    return rx <= sx and ry <= sy and sx + sw <= rx + rw and sy + sh <= ry + rh
