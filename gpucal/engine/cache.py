"""Where numba keeps compiled kernels between processes.

A reprocessing farm starts thousands of short processes; each must find the
kernels compiled by the first one instead of compiling again (seconds per
kernel). numba's default cache sits next to the source, which fails for a
read-only install, so gpucal points ``NUMBA_CACHE_DIR`` at a per-user cache
folder unless the user already set it: ``$GPUCAL_CACHE_DIR``, else
``$XDG_CACHE_HOME/gpucal``, else ``~/.cache/gpucal``. This must run before
numba is imported, so every module that imports numba imports this one first
(through :mod:`gpucal.engine.jit`).
"""

import os
import pathlib
import sys
import tempfile

__all__ = ["cache_root", "configure_numba_cache"]


def cache_root():
    """The gpucal cache folder (created if needed; a temp folder if not writable)."""
    explicit = os.environ.get("GPUCAL_CACHE_DIR")
    if explicit:
        root = pathlib.Path(explicit)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = pathlib.Path(base) / "gpucal"
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        root = pathlib.Path(tempfile.gettempdir()) / f"gpucal-cache-{os.getuid() if hasattr(os, 'getuid') else 'user'}"
        root.mkdir(parents=True, exist_ok=True)
    return root


def configure_numba_cache():
    """Point numba's disk cache at the gpucal cache folder unless the user chose one.

    Returns the cache folder in use. Works whether or not numba is already
    imported (numba reads ``NUMBA_CACHE_DIR`` at import; afterwards its
    ``config.CACHE_DIR`` is what the cache locator consults).
    """
    if "NUMBA_CACHE_DIR" not in os.environ:
        os.environ["NUMBA_CACHE_DIR"] = str(cache_root() / "numba")
        numba = sys.modules.get("numba")
        if numba is not None and not getattr(numba.config, "CACHE_DIR", ""):
            numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]
    return os.environ["NUMBA_CACHE_DIR"]
