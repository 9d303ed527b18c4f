"""The inputs of a Stage 3 run: metadata always in memory, pixels only while an exposure is worked on.

jwst keeps the N ``_cal`` models of an association in a ``ModelLibrary``
(in memory by default), which is why its Stage 3 memory grows with N. Here an
:class:`ExposureLibrary` holds, per input, only what every step needs at any
time: the meta tree (keywords and the gwcs), the array shape and the group id.
A step reads an exposure's pixels with :meth:`LibraryMember.load`, works on
them, and either drops them or hands a modified exposure back with
:meth:`LibraryMember.store`, which writes it to the run's scratch folder; the
next :meth:`~LibraryMember.load` reads that copy. Peak memory is then a few
exposures plus whatever grids the steps keep, whatever N is.

Meta changes made by a step on a loaded exposure (``BKGLEVEL``, status
keywords) go straight into the member's meta tree, because a loaded exposure
shares that tree.
"""

import logging
import os
import pathlib
import shutil

import numpy as np

from gpucal.errors import AssociationError, InputFileError
from gpucal.io.asn import read_asn
from gpucal.io.atomic import ScratchFolder
from gpucal.io.exposure import Exposure, read_exposure, read_metadata, write_exposure
from gpucal.io.grouping import group_id as _group_id
from gpucal.io.naming import exposure_root, stage3_exposure_path

__all__ = ["ExposureLibrary", "LibraryMember"]

log = logging.getLogger("gpucal")


class LibraryMember:
    """One input exposure of a Stage 3 run.

    Parameters
    ----------
    source : pathlib.Path
        The input ``_cal`` file (never written to).
    index : int
        Position in the association (jwst's member order).
    scratch : pathlib.Path
        Folder for this run's working copies.

    Attributes
    ----------
    meta_exposure : Exposure
        The exposure with no arrays: ``meta``, ``wcs``, ``extra_fits``...
    shape : tuple of int
        Shape of SCI.
    group_id : str
        jwst's group id (``exposureNNNN`` when the keywords to build it are missing).
    path : pathlib.Path
        Where :meth:`load` reads the pixels from (the source, or the working copy).
    product_name : str
        File name of this exposure's Stage 3 product (``<root>_<asn_id>_crf.fits``): a working copy is
        written under it (in the scratch folder), so that committing it is a rename.
    """

    def __init__(self, source, index, scratch, product_name=None):
        self.source = pathlib.Path(source)
        self.index = index
        self._scratch = pathlib.Path(scratch)
        self.product_name = product_name or self.source.name
        self.meta_exposure, self.shape = read_metadata(self.source)
        self.group_id = _group_id(self.meta_exposure.meta) or f"exposure{index + 1:04d}"
        self.path = self.source
        if not self.meta_exposure.meta.filename:
            self.meta_exposure.meta.filename = self.source.name

    def __repr__(self):
        return f"<LibraryMember {self.index} {self.name} group={self.group_id}>"

    @property
    def name(self):
        """The exposure's file name (``meta.filename``)."""
        return self.meta_exposure.meta.filename

    @property
    def meta(self):
        return self.meta_exposure.meta

    @property
    def wcs(self):
        return self.meta_exposure.wcs

    def load(self, *, allocator=np.empty):
        """Read the pixels; the returned exposure shares this member's meta tree.

        Parameters
        ----------
        allocator : callable, optional
            ``allocator(shape, dtype)`` for the arrays (pinned memory for a GPU).
        """
        pixels = read_exposure(self.path, tree=False, allocator=allocator)
        if pixels.shape != self.shape:
            raise InputFileError(f"{self.path}: SCI shape {pixels.shape} changed from {self.shape} during the run")
        m = self.meta_exposure
        return Exposure(
            pixels.arrays, m.meta_tree, model_type=m.model_type, extra_fits=m.extra_fits, tables=m.tables,
            history=m.history, path=str(self.source),
        )  # fmt: skip

    def store(self, exposure):
        """Keep a modified exposure (host arrays) as this member's working copy."""
        product = exposure if all(isinstance(a, np.ndarray) for a in exposure.arrays.values()) else exposure.host_copy()
        folder = self._scratch / f"{self.index:05d}"
        folder.mkdir(exist_ok=True)
        target = folder / self.product_name
        write_exposure(product, target)
        self.path = target
        if product.meta_tree is not self.meta_exposure.meta_tree:
            self.meta_exposure.meta_tree.clear()
            self.meta_exposure.meta_tree.update(product.meta_tree)

    @property
    def stored(self):
        """True once a working copy exists."""
        return self.path != self.source


class ExposureLibrary:
    """The science exposures of a level-3 association (or a list of ``_cal`` files).

    Parameters
    ----------
    members : list of LibraryMember
    product_name : str
        Root of the combined products (the association's product name).
    asn_id : str or None
        Association id, part of the per-exposure product names (``_<asn_id>_crf``).
    asn_table, asn_pool : str
        Recorded in ``meta.asn``.
    scratch : pathlib.Path
        The run's working folder (removed by :meth:`close`).
    """

    def __init__(self, members, product_name, asn_id, asn_table, asn_pool, scratch):
        self.members = list(members)
        self.product_name = product_name
        self.asn_id = asn_id or None
        self.asn_table = asn_table
        self.asn_pool = asn_pool
        self.scratch = pathlib.Path(scratch)
        self.scratch_folder = None  # the locked ScratchFolder behind ``scratch`` when open() made it

    @classmethod
    def open(cls, input, output_dir):
        """Read the metadata of every science member of ``input``.

        Parameters
        ----------
        input : str, os.PathLike or sequence of them
            An image3 association (``.json``), one ``_cal`` file or a list of them.
        output_dir : os.PathLike
            The scratch folder is made inside it (same file system, so the
            final products are renamed into place, never copied).
        """
        paths, product, asn_id, table, pool = _resolve_input(input)
        folder = ScratchFolder(output_dir, f"image3-{product}")  # locked: no other run takes it for stale
        scratch = folder.path
        try:
            members = [
                LibraryMember(p, k, scratch, stage3_exposure_path(".", p.name, asn_id, "crf").name)
                for k, p in enumerate(paths)
            ]
        except Exception:
            folder.remove()
            raise
        library = cls(members, product, asn_id, table, pool, scratch)
        library.scratch_folder = folder
        for m in members:
            # What jwst's ModelLibrary records on every member it loads (``_assign_member_to_model``):
            # the member's exposure type in the association and its group id.
            m.meta.asn.exptype = "science"
            m.meta.group_id = m.group_id
            if pool is not None:
                m.meta.asn.pool_name = pool
                m.meta.asn.table_name = table
        return library

    def __len__(self):
        return len(self.members)

    def __iter__(self):
        return iter(self.members)

    def __getitem__(self, index):
        return self.members[index]

    @property
    def group_names(self):
        """Group ids in first-seen order."""
        return list(self.groups())

    def groups(self):
        """``{group_id: [members]}`` in first-seen order."""
        out = {}
        for m in self.members:
            out.setdefault(m.group_id, []).append(m)
        return out

    def crf_path(self, member, output_dir):
        """``<output_dir>/<exposure root>_<asn_id>_crf.fits`` (jwst's name for the flagged exposure)."""
        return pathlib.Path(output_dir) / member.product_name

    def close(self):
        """Remove the scratch folder (working copies and temporaries)."""
        if self.scratch_folder is not None:
            self.scratch_folder.remove()
        else:
            shutil.rmtree(self.scratch, ignore_errors=True)


def _resolve_input(input):
    """(member paths, product name, asn id, table name, pool name) of an image3 input."""
    if isinstance(input, (str, os.PathLike)):
        path = pathlib.Path(input)
        if path.suffix.lower() == ".json":
            asn = read_asn(path)
            if asn.asn_type.lower() not in ("image3", ""):
                log.warning("%s: asn_type is %r; treating it as an image3 association", path, asn.asn_type)
            if len(asn.products) > 1:
                log.warning("%s: %d products; image3 processes the first only, as jwst", path, len(asn.products))
            product = asn.products[0]
            science = product.members_of("science")
            if not science:
                raise AssociationError(f"{path}: product {product.name!r} has no science member")
            name = product.name or exposure_root(science[0].path)
            return [m.path for m in science], name, asn.asn_id, path.name, asn.asn_pool
        input = [path]
    paths = [pathlib.Path(p) for p in input]
    if not paths:
        raise InputFileError("image3: no input exposures")
    for p in paths:
        if p.suffix.lower() == ".json":
            raise InputFileError(f"{p}: give one association or a list of _cal files, not a list of associations")
        if not p.is_file():
            raise InputFileError(f"{p}: no such file")
    return paths, exposure_root(paths[0].name), None, None, None
