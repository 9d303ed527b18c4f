"""tweakreg: source catalogs, relative/absolute alignment with tweakwcs, and the WCS update (jwst 3.0)."""

from gpucal.tweakreg import align as _align
from gpucal.tweakreg import catalog as _catalog
from gpucal.tweakreg import files as _files
from gpucal.tweakreg import update as _update
from gpucal.tweakreg.align import *  # noqa: F403
from gpucal.tweakreg.catalog import *  # noqa: F403
from gpucal.tweakreg.files import *  # noqa: F403
from gpucal.tweakreg.update import *  # noqa: F403

__all__ = [*_align.__all__, *_catalog.__all__, *_files.__all__, *_update.__all__]
