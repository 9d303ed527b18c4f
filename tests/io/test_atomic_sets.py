"""Product sets renamed into place all or none, inputs never overwritten, stale temporaries removed (issue 9)."""

import fcntl
import os
import pathlib

import pytest

from gpucal.errors import OutputError
from gpucal.io import atomic
from gpucal.io.atomic import (
    ScratchFolder,
    StagedProducts,
    atomic_path,
    refuse_overwriting_inputs,
    remove_stale_temporaries,
)


def _hidden(folder):
    return sorted(p.name for p in pathlib.Path(folder).iterdir() if p.name.startswith("."))


def test_commit_is_all_or_none_when_a_rename_fails(tmp_path, monkeypatch):
    """Item 5: a failed rename undoes the renames made before it (old products byte-identical, new ones gone)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "x_i2d.fits").write_bytes(b"old i2d")
    (out / "x_cal.fits").write_bytes(b"old cal")
    staged = StagedProducts("image2-x")
    for name in ("x_i2d.fits", "x_bsub.fits", "x_cal.fits"):
        staged.stage(out / name).write_bytes(b"new " + name.encode())
    real = os.replace

    def failing(src, dst, *args, **kwargs):
        if pathlib.Path(dst) == out / "x_cal.fits" and "gpucal" in str(src):
            raise OSError(28, "No space left on device")
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "replace", failing)
    with pytest.raises(OutputError, match=r"x_cal.fits: cannot be renamed into place \(No space left on device\)"):
        staged.commit()
    monkeypatch.undo()
    staged.discard()
    assert (out / "x_i2d.fits").read_bytes() == b"old i2d"
    assert (out / "x_cal.fits").read_bytes() == b"old cal"
    assert not (out / "x_bsub.fits").exists()
    assert _hidden(out) == []


def test_commit_of_a_staged_set(tmp_path):
    out = tmp_path / "out"
    with StagedProducts("image2-x") as staged:
        for name in ("x_cal.fits", "x_i2d.fits"):
            path = staged.stage(out / name)
            assert path.name == name and path.parent.parent == out  # same name, in a scratch folder beside it
            path.write_bytes(name.encode())
        assert staged.commit() == [out / "x_cal.fits", out / "x_i2d.fits"]
    assert (out / "x_cal.fits").read_bytes() == b"x_cal.fits"
    assert _hidden(out) == []
    with StagedProducts("image2-x") as staged:
        staged.stage(out / "x_cal.fits").write_bytes(b"dropped")
    assert (out / "x_cal.fits").read_bytes() == b"x_cal.fits" and _hidden(out) == []  # discarded, not committed


def test_outputs_never_replace_inputs(tmp_path):
    """Item 3: the same file under another spelling (.., a symbolic link) is refused, naming it."""
    cal = tmp_path / "data" / "x_cal.fits"
    cal.parent.mkdir()
    cal.write_bytes(b"input")
    link = tmp_path / "link"
    link.symlink_to(cal.parent)
    with pytest.raises(OutputError, match=r"x_cal.fits: this output would overwrite the science exposure"):
        refuse_overwriting_inputs(
            [link / "x_cal.fits"], {tmp_path / "data" / ".." / "data" / "x_cal.fits": "the science exposure"}
        )
    refuse_overwriting_inputs([tmp_path / "x_cal.fits"], {cal: "the science exposure"})  # another file: fine
    staged = StagedProducts("image2-x")
    staged.stage(cal).write_bytes(b"output")
    with pytest.raises(OutputError, match="would overwrite an input"):
        staged.commit(protect=[cal])
    staged.discard()
    assert cal.read_bytes() == b"input"


def test_atomic_path_names_a_failed_rename(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic.os, "replace", lambda *a, **k: (_ for _ in ()).throw(OSError(13, "Permission denied")))
    message = r"x.fits: cannot be renamed into place \(Permission denied\)"
    with pytest.raises(OutputError, match=message), atomic_path(tmp_path / "x.fits") as tmp:
        tmp.write_bytes(b"data")
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_of_own_products_only(tmp_path):
    """Item 6: a rerun removes what killed runs left for its products, nothing of others', nothing held."""
    out = tmp_path
    ours = out / ".x_cal.fits.abcd_123.part"
    ours.write_bytes(b"partial")
    backup = out / ".x_i2d.fits.0123abcd.part"
    backup.write_bytes(b"old i2d")
    others = out / ".y_cal.fits.abcd_123.part"
    others.write_bytes(b"partial")
    not_ours = out / ".x_cal.fits.notrandom!.part"
    not_ours.write_bytes(b"?")
    stale_folder = ScratchFolder(out, "image2-x")
    (stale_folder.path / "x_cal.fits").write_bytes(b"staged")
    os.close(stale_folder._fd)  # the process that made it is gone: the lock is free
    stale_folder._fd = None
    other_folder = ScratchFolder(out, "image2-x-other")
    os.close(other_folder._fd)
    other_folder._fd = None
    live_folder = ScratchFolder(out, "image2-x")  # a run in progress holds its lock
    held = out / ".x_i2d.fits.held_123.part"
    held.write_bytes(b"being written")
    fd = os.open(held, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        removed = remove_stale_temporaries(out, {"x_cal.fits", "x_i2d.fits"}, {"image2-x"})
    finally:
        os.close(fd)
    assert sorted(removed) == sorted([ours, backup, stale_folder.path])
    for path in (others, not_ours, other_folder.path, live_folder.path, held):
        assert path.exists(), path
    live_folder.remove()
    assert not live_folder.path.exists()


def test_lockless_scratch_of_an_older_run_is_removed_once_old(tmp_path):
    folder = tmp_path / ".gpucal-image3-prod-abcdefgh"
    folder.mkdir()
    assert remove_stale_temporaries(tmp_path, set(), {"image3-prod"}) == []  # could be being made right now
    old = os.stat(folder).st_mtime - 3600
    os.utime(folder, (old, old))
    assert remove_stale_temporaries(tmp_path, set(), {"image3-prod"}) == [folder]
