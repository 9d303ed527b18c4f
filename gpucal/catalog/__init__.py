"""The mosaic's source catalog (jwst ``source_catalog``): detection, photometry, products.

* :mod:`.reference`: APCORR apertures and the ABVEGAOFFSET offset for a mosaic;
* :mod:`.detection`: background, segmentation with deblending, segment measurements (photutils);
* :mod:`.photometry`: aperture photometry, magnitudes, concentration, DAOFind statistics, neighbours;
* :mod:`.core`: :func:`make_catalog`, all of it for one mosaic;
* :mod:`.products`: the ``_cat.ecsv`` and ``_segm.fits`` files.
"""

from gpucal.catalog.core import CatalogResult, empty_catalog, make_catalog
from gpucal.catalog.products import write_catalog, write_segmentation
from gpucal.catalog.reference import abvega_offset, aperture_params

__all__ = [
    "CatalogResult",
    "abvega_offset",
    "aperture_params",
    "empty_catalog",
    "make_catalog",
    "write_catalog",
    "write_segmentation",
]
