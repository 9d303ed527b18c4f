"""Distributed runs on Dask: many exposures, many processes, many GPUs.

See :func:`gpucal.farm.image2.run_image2_many`.
"""

from gpucal.farm.cluster import connect
from gpucal.farm.image2 import Image2Task, run_image2_many

__all__ = ["Image2Task", "connect", "run_image2_many"]
