"""Atomic output files: write to a temporary name beside the target, then rename.

A crash, a full disk or a bad array half way through a write never leaves a
truncated product under the final name, and an existing product of that name
stays intact until the new one is complete.
"""

import contextlib
import os
import pathlib
import tempfile

from gpucal.errors import OutputError

__all__ = ["atomic_path", "check_writable_dir"]


def check_writable_dir(folder):
    """Raise :class:`OutputError` unless ``folder`` exists (or can be made) and is writable."""
    folder = pathlib.Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create output folder ({exc.strerror or exc})") from exc
    if not folder.is_dir():
        raise OutputError(f"{folder}: output folder is not a directory")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: output folder is not writable")
    return folder


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path in the target's folder; rename it to ``path`` on success.

    Parameters
    ----------
    path : str or os.PathLike
        Final name of the file.

    Yields
    ------
    pathlib.Path
        Where to write. Removed if the block raises.
    """
    path = pathlib.Path(path)
    folder = check_writable_dir(path.parent if str(path.parent) else ".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise OutputError(f"{path}: cannot create a file in {folder} ({exc.strerror or exc})") from exc
    os.close(fd)
    tmp = pathlib.Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
