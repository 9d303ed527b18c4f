"""Atomic output files and product sets.

A single file is written to a temporary name beside its target and renamed
(:func:`atomic_path`): a crash, a full disk or a bad array half way through
never leaves a truncated product under the final name, and an existing product
of that name stays intact until the new one is complete.

A *set* of products (an exposure's ``_cal``, ``_bsub`` and ``_i2d``; an image3
run's ``_crf`` files and mosaic) is written under the final names into private
scratch folders inside the target folders (:class:`StagedProducts`), then
renamed into place together (:func:`commit_renames`): if any rename fails, the
ones already made are undone, so the folder holds either the complete new set
or the earlier products, byte for byte.

Temporaries are locked (``flock``) while their process uses them. A process
killed outright (SIGKILL, a node failure) leaves them behind; the next run over
the same products removes the ones no live process holds
(:func:`remove_stale_temporaries`).
"""

import contextlib
import os
import pathlib
import re
import secrets
import shutil
import tempfile
import time

from gpucal.errors import OutputError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no locks, stale temporaries judged by age
    fcntl = None

__all__ = [
    "ScratchFolder",
    "StagedProducts",
    "atomic_path",
    "check_writable_dir",
    "commit_renames",
    "refuse_overwriting_inputs",
    "remove_stale_temporaries",
]

#: Scratch folders are ``<SCRATCH_PREFIX><tag>-<8 random characters>``.
SCRATCH_PREFIX = ".gpucal-"
#: The file in a scratch folder that its process keeps locked.
LOCK_NAME = ".lock"
#: Where locks cannot be taken (some network file systems), a temporary is stale after this many seconds.
UNLOCKABLE_STALE_AGE = 3600.0
#: An unlocked scratch folder without a lock file (made by an older gpucal) is stale after this many seconds.
LOCKLESS_STALE_AGE = 10.0
#: ``tempfile``'s random part: 8 characters of ``[a-z0-9_]``.
_RANDOM = re.compile(r"[a-z0-9_]{8}")


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


def _try_lock(fd):
    """Take an exclusive lock on ``fd`` without waiting: True, False (held elsewhere), None (unsupported)."""
    if fcntl is None:  # pragma: no cover
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return None
    return True


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path in the target's folder; rename it to ``path`` on success.

    The temporary (``.<name>.<random>.part``) is locked while the block runs, so
    that :func:`remove_stale_temporaries` in another process leaves it alone.

    Parameters
    ----------
    path : str or os.PathLike
        Final name of the file.

    Yields
    ------
    pathlib.Path
        Where to write. Removed if the block raises (an interrupt included).
    """
    path = pathlib.Path(path)
    folder = check_writable_dir(path.parent if str(path.parent) else ".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise OutputError(f"{path}: cannot create a file in {folder} ({exc.strerror or exc})") from exc
    tmp = pathlib.Path(tmp)
    try:
        _try_lock(fd)
        yield tmp
        os.chmod(tmp, 0o644)
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise OutputError(f"{path}: cannot be renamed into place ({exc.strerror or exc})") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    finally:
        os.close(fd)


class ScratchFolder:
    """A private working folder ``.gpucal-<tag>-XXXXXXXX`` inside ``parent``, locked while in use.

    Parameters
    ----------
    parent : os.PathLike or None
        The folder to make it in (the output folder, so that committing is a
        rename on one file system); None for the system's temporary folder.
    tag : str
        Names the run's products (e.g. ``image2-<product>``), so that a later
        run over the same products can recognise a stale folder as its own.
    """

    def __init__(self, parent, tag):
        if parent is not None:
            parent = check_writable_dir(parent)
        try:
            self.path = pathlib.Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{tag}-", dir=parent))
        except OSError as exc:
            raise OutputError(f"{parent}: cannot create a scratch folder ({exc.strerror or exc})") from exc
        self._fd = None
        try:
            self._fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
            _try_lock(self._fd)
        except BaseException:
            self.remove()
            raise

    def __repr__(self):
        return f"<ScratchFolder {self.path}>"

    def remove(self):
        """Delete the folder and everything in it (the lock is released first)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        shutil.rmtree(self.path, ignore_errors=True)


def _same_file(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_overwriting_inputs(outputs, inputs):
    """Raise :class:`OutputError` when an output would replace one of the run's input files.

    Parameters
    ----------
    outputs : iterable of os.PathLike
        Every file the run may write.
    inputs : mapping of os.PathLike to str
        The run's input files, each with what it is (``"the science exposure"``).
        Paths are compared as files (symbolic links, ``..`` and hard links resolved).
    """
    existing = [(pathlib.Path(p), role) for p, role in inputs.items() if os.path.exists(p)]
    for output in outputs:
        if not os.path.exists(output):
            continue
        for path, role in existing:
            if _same_file(output, path):
                raise OutputError(
                    f"{output}: this output would overwrite {role} of the run ({path}); "
                    "choose another output folder or output name"
                )


def _backup_name(target):
    """A free ``.<name>.<8 hex digits>.part`` beside ``target`` (a stale one is cleaned as any temporary)."""
    return target.parent / f".{target.name}.{secrets.token_hex(4)}.part"


def commit_renames(pairs, *, protect=()):
    """Rename every staged file onto its target: all of them, or none.

    Parameters
    ----------
    pairs : sequence of (os.PathLike, os.PathLike)
        ``(staged file, target)``; each staged file on the target's file system.
    protect : iterable of os.PathLike
        Files no target may replace (the run's inputs).

    Returns
    -------
    list of pathlib.Path
        The targets, in order.

    Raises
    ------
    OutputError
        Naming the target that could not be renamed into place; every target
        then holds what it held before (or does not exist, as before).
    """
    pairs = [(pathlib.Path(s), pathlib.Path(t)) for s, t in pairs]
    refuse_overwriting_inputs([t for _, t in pairs], {p: "an input" for p in protect})
    backups, done = [], []  # (backup, target) of replaced products; targets renamed in
    try:
        for source, target in pairs:
            if os.path.lexists(target):
                backup = _backup_name(target)
                try:
                    os.link(target, backup, follow_symlinks=False)
                except OSError:
                    os.replace(target, backup)  # no hard links here: move the old product aside
                backups.append((backup, target))
            try:
                os.replace(source, target)
            except OSError as exc:
                raise OutputError(f"{target}: cannot be renamed into place ({exc.strerror or exc})") from exc
            done.append(target)
    except BaseException:
        restored = {t for _, t in backups}
        for backup, target in reversed(backups):
            with contextlib.suppress(OSError):
                os.replace(backup, target)
            with contextlib.suppress(OSError):  # a hard link to a target never replaced: renaming it was a no-op
                os.unlink(backup)
        for target in done:
            if target not in restored:
                with contextlib.suppress(OSError):
                    target.unlink()
        raise
    for backup, _ in backups:
        with contextlib.suppress(OSError):
            backup.unlink()
    return [t for _, t in pairs]


class StagedProducts:
    """Products written under their final names in scratch folders, then committed together.

    Parameters
    ----------
    tag : str
        Names the scratch folders (:class:`ScratchFolder`), e.g. ``image2-<product>``.

    Examples
    --------
    >>> with StagedProducts("image2-x") as staged:          # doctest: +SKIP
    ...     write_exposure(cal, staged.stage(out / "x_cal.fits"))
    ...     write_exposure(i2d, staged.stage(out / "x_i2d.fits"))
    ...     staged.commit()
    """

    def __init__(self, tag):
        self.tag = tag
        self._folders = {}
        self._staged = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.discard()

    def stage(self, target):
        """Where to write ``target`` now: a file of the same name in this set's scratch folder beside it."""
        target = pathlib.Path(target)
        if any(t == target for _, t in self._staged):
            raise OutputError(f"{target}: written twice in one product set")
        parent = target.parent.resolve()
        if parent not in self._folders:
            self._folders[parent] = ScratchFolder(parent, self.tag)
        path = self._folders[parent].path / target.name
        self._staged.append((path, target))
        return path

    @property
    def targets(self):
        """The final paths staged so far."""
        return [t for _, t in self._staged]

    def commit(self, *, protect=()):
        """Rename every staged product into place (:func:`commit_renames`); returns the targets."""
        written = commit_renames(self._staged, protect=protect)
        self.discard()
        return written

    def discard(self):
        """Remove the scratch folders and whatever is still in them."""
        for folder in self._folders.values():
            folder.remove()
        self._folders.clear()
        self._staged.clear()


def _unlocked(path, locked_file):
    """Whether the temporary ``path`` is stale: True when ``locked_file``'s lock is free (its process is gone),
    False when a live process holds it, None when ``locked_file`` does not exist."""
    try:
        fd = os.open(locked_file, os.O_RDWR)
    except FileNotFoundError:
        return None
    except OSError:
        fd = None
    try:
        state = None if fd is None else _try_lock(fd)
    finally:
        if fd is not None:
            os.close(fd)
    if state is None:  # no locks on this file system: fall back on the age
        with contextlib.suppress(OSError):
            return time.time() - os.lstat(path).st_mtime > UNLOCKABLE_STALE_AGE
        return False
    return state


def remove_stale_temporaries(folder, names, tags=()):
    """Remove temporaries that killed runs left for these products; returns what was removed.

    Only temporaries of the given product names and scratch tags are touched
    (another product's, or one a live process holds, are left alone):
    ``.<name>.XXXXXXXX.part`` files (:func:`atomic_path`, rename backups) and
    ``.gpucal-<tag>-XXXXXXXX`` scratch folders (:class:`ScratchFolder`).

    Parameters
    ----------
    folder : os.PathLike
        An output folder (absent: nothing to do).
    names : iterable of str
        Final file names of the run's products in ``folder``.
    tags : iterable of str
        The run's scratch tags.
    """
    folder = pathlib.Path(folder)
    names, tags = set(names), set(tags)
    removed = []
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(".")]
    except OSError:
        return removed
    for entry in entries:
        if _stale_part_file(entry, names):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(pathlib.Path(entry.path))
        elif _stale_scratch_folder(entry, tags):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(pathlib.Path(entry.path))
    return removed


def _stale_part_file(entry, names):
    """``.<name>.XXXXXXXX.part`` of one of ``names``, a plain file no live process holds."""
    if not entry.name.endswith(".part"):
        return False
    owner, _, random = entry.name[1 : -len(".part")].rpartition(".")
    if owner not in names or not _RANDOM.fullmatch(random) or not entry.is_file(follow_symlinks=False):
        return False
    return bool(_unlocked(entry.path, entry.path))


def _stale_scratch_folder(entry, tags):
    """``.gpucal-<tag>-XXXXXXXX`` of one of ``tags``, a folder no live process holds."""
    if not entry.name.startswith(SCRATCH_PREFIX):
        return False
    tag, _, random = entry.name[len(SCRATCH_PREFIX) :].rpartition("-")
    if tag not in tags or not _RANDOM.fullmatch(random) or not entry.is_dir(follow_symlinks=False):
        return False
    state = _unlocked(entry.path, os.path.join(entry.path, LOCK_NAME))
    if state is None:  # an older gpucal's folder, without a lock file: judged by its age
        try:
            state = time.time() - os.lstat(entry.path).st_mtime > LOCKLESS_STALE_AGE
        except OSError:
            state = False
    return bool(state)
