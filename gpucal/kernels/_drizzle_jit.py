"""Disk caching of the drizzle kernels that stays correct when their helpers change.

numba's on-disk cache checks only the source file of the function it
compiles; the drizzle drivers inline math from sibling modules, so editing
those would silently reuse stale machine code. :func:`keyed_cache` points
numba's cache folder, while the drivers are decorated, at a subfolder named
after a hash of every module the drivers depend on: any edit gives a fresh
folder and a recompile.
"""

import contextlib
import hashlib
import importlib
import os
import sys

__all__ = ["keyed_cache"]


def _digest(module_names):
    digest = hashlib.sha256()
    for name in module_names:
        path = importlib.import_module(name).__file__
        with open(path, "rb") as fh:
            digest.update(fh.read())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def keyed_cache(*module_names):
    """Within this block, ``cache=True`` numba functions (CPU and CUDA) cache under a per-source-hash folder.

    Parameters
    ----------
    *module_names : str
        Modules whose source the functions decorated in the block depend on
        (including the module doing the decorating).
    """
    import numba

    configs = [numba.config]
    cuda_config = sys.modules.get("numba.cuda.core.config")
    if cuda_config is not None:
        configs.append(cuda_config)
    saved = [getattr(cfg, "CACHE_DIR", "") for cfg in configs]
    sub = f"drizzle-{_digest(module_names)}"
    try:
        for cfg, old in zip(configs, saved, strict=True):
            if old:
                cfg.CACHE_DIR = os.path.join(old, sub)
        yield
    finally:
        for cfg, old in zip(configs, saved, strict=True):
            cfg.CACHE_DIR = old
