"""skymatch for image3: sky statistics, footprints and overlaps, the solver, and a memory-flat driver.

See :func:`gpucal.skymatch.driver.match_sky` for the step's entry point.
"""

from gpucal.skymatch.driver import SKYMETHODS, SkyMatchParams, SkyMatchResult, match_sky, read_skylist, subtract_sky
from gpucal.skymatch.statistics import SKYSTATS, SkyStats, SkyStatsUndefined

__all__ = [
    "SKYMETHODS",
    "SKYSTATS",
    "SkyMatchParams",
    "SkyMatchResult",
    "SkyStats",
    "SkyStatsUndefined",
    "match_sky",
    "read_skylist",
    "subtract_sky",
]
