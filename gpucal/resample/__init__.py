"""Resampling (drizzle) of exposures onto an output grid (jwst's resample step).

For now this package provides the output grid: :func:`grid_from_exposures`
(the grid jwst derives from the inputs), :func:`grid_from_file` (a custom
``output_wcs``), :class:`OutputGrid` and :func:`combined_s_region`.
"""

from gpucal.resample.grid import (
    DEFAULT_MAX_OUTPUT_PIXELS,
    MAX_PIXELS_ENV,
    OutputGrid,
    combined_s_region,
    grid_from_exposures,
    grid_from_file,
    max_output_pixels,
)

__all__ = [
    "DEFAULT_MAX_OUTPUT_PIXELS",
    "MAX_PIXELS_ENV",
    "OutputGrid",
    "combined_s_region",
    "grid_from_exposures",
    "grid_from_file",
    "max_output_pixels",
]
