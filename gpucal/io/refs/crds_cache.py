"""Best references from a local CRDS cache, through the crds client, offline.

The crds client is optional (it comes with the ``parity`` extra). It is run
with ``CRDS_MODE=local`` so it never contacts a server, and its habit of
calling ``sys.exit`` when it cannot find its configuration is turned into a
:class:`~gpucal.errors.ReferenceFileError`.
"""

import contextlib
import os

from gpucal.errors import ReferenceFileError

__all__ = ["crds_best_reference", "crds_parameters"]


def crds_parameters(meta):
    """Flatten an exposure's meta into CRDS dataset parameters (``META.INSTRUMENT.NAME`` ...)."""
    out = {}

    def walk(node, prefix):
        for key, value in node.items():
            if key == "wcs":
                continue
            name = f"{prefix}.{key}".upper()
            if isinstance(value, dict):
                walk(value, name)
            elif isinstance(value, (str, int, float, bool)):
                out[name] = value

    walk(meta.to_dict(), "META")
    return out


@contextlib.contextmanager
def _offline_env():
    saved = {k: os.environ.get(k) for k in ("CRDS_MODE", "CRDS_SERVER_URL")}
    os.environ["CRDS_MODE"] = "local"
    os.environ.setdefault("CRDS_SERVER_URL", "https://crds-offline.invalid")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def crds_best_reference(reftype, meta):
    """Path of the best ``reftype`` reference in the CRDS cache, or None if CRDS has none.

    Raises
    ------
    ReferenceFileError
        If the crds client is missing, the cache is unusable, or the chosen
        file is not in the cache.
    """
    cache = os.environ.get("CRDS_PATH")
    if not cache:
        return None
    try:
        import crds
    except ImportError:
        raise ReferenceFileError("CRDS_PATH is set but the crds client is not installed (pip install crds)") from None
    params = crds_parameters(meta)
    context = os.environ.get("CRDS_CONTEXT") or None
    try:
        with _offline_env():
            refs = crds.getreferences(params, reftypes=[reftype], context=context, observatory="jwst")
    except SystemExit as exc:
        raise ReferenceFileError(
            f"CRDS cache {cache}: the crds client gave up (exit {exc.code}); is the cache configured for offline use?"
        ) from None
    except Exception as exc:
        text = str(exc)
        if "NOT FOUND" in text.upper() or "N/A" in text.upper():
            return None
        raise ReferenceFileError(
            f"CRDS cache {cache}: {reftype} lookup failed ({exc.__class__.__name__}: {exc})"
        ) from exc
    path = refs.get(reftype)
    if path is None or str(path).upper().startswith("NOT FOUND"):
        return None
    if str(path).upper() == "N/A":
        return "N/A"
    if not os.path.isfile(path):
        raise ReferenceFileError(f"CRDS cache {cache}: {reftype} reference {path} is not in the cache")
    return str(path)
