"""Writing the catalog (``_cat.ecsv``) and segmentation map (``_segm.fits``) as jwst writes them, atomically."""

import copy
import logging
import pathlib

from gpucal.io.atomic import atomic_path

__all__ = ["write_catalog", "write_segmentation"]

log = logging.getLogger("gpucal")

#: Meta branches of the _i2d that live outside the PRIMARY header; jwst copies only PRIMARY ones (and wcsinfo).
_NOT_PRIMARY = ("photometry", "wcs", "bunit_data", "bunit_err")


def write_catalog(table, path):
    """Write the catalog as ECSV (``astropy`` ``ascii.ecsv``, as jwst does); returns the path."""
    path = pathlib.Path(path)
    with atomic_path(path) as tmp:
        table.write(tmp, format="ascii.ecsv", overwrite=True)
    log.info("wrote %s", path)
    return path


def write_segmentation(segmentation, mosaic, path):
    """Write a ``SegmentationMapModel`` (SCI uint32) with the mosaic's primary keywords, WCSINFO and gwcs.

    Parameters
    ----------
    segmentation : ndarray of uint32
    mosaic : gpucal.io.exposure.Exposure
        The ``_i2d`` whose metadata the map carries.
    path : str or os.PathLike

    Returns
    -------
    pathlib.Path
    """
    from gpucal.io.exposure import Exposure, write_exposure

    meta = {k: copy.deepcopy(v) for k, v in mosaic.meta_tree.items() if k not in _NOT_PRIMARY}
    product = Exposure({"data": segmentation}, meta, model_type="SegmentationMapModel")
    product.wcs = mosaic.wcs
    path = write_exposure(product, pathlib.Path(path))
    log.info("wrote %s", path)
    return path
